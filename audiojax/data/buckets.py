"""Length bucketing: batches of clips of similar length, padded to their bucket, not the longest.

Speech-recognition utterances run from 1 to 9 s; padding every batch to 9 s spends most of a
recurrent encoder's time on zeros. With ``bucket_lengths`` (samples, ascending), each record
goes to the first bucket at least as long as it (the last bucket is ``max_length``):

* training (:class:`BucketSampler`): every epoch, each bucket's records are shuffled and cut
  into whole *global* batches, and the batches of all buckets are shuffled together. A bucket's
  last partial batch waits for the next epoch's reshuffle (as ``drop_remainder`` does for the
  whole epoch without buckets): at most ``global_batch - 1`` records per bucket per epoch, a
  different draw each epoch. Every record of a global batch is from one bucket, so every
  process's slice of it pads to the same length: multi-process runs stay in step.
* evaluation (:class:`SortedSampler`): one pass in order of length, so that consecutive
  batches are alike.

:class:`TrimBatch` then cuts a batch's ``audio`` to the smallest bucket that holds its longest
clip, and tokenized transcripts to the widest of that bucket (a decoder trained by teacher
forcing then runs over ~50 characters, not 120). A training step compiles once per bucket.
"""

from __future__ import annotations

import math
from typing import Sequence

import grain
import numpy as np

from audiojax import audio as audio_lib
from audiojax.data.sources import BadExampleError

__all__ = ["BucketSampler", "SortedSampler", "TrimBatch", "bucket_of", "label_widths", "record_lengths"]


def record_lengths(view, sample_rate: int, on_bad: str) -> np.ndarray:
    """Samples at ``sample_rate`` of every record of ``view`` (``view.source[view.key(i)]``),
    read from file headers (arrays: their length). Unreadable files are 0 with
    ``on_bad='skip'`` (the loader masks them later) and raise :class:`BadExampleError` else."""
    lengths = np.zeros(len(view), np.int64)
    for i in range(len(view)):
        j = view.key(i)
        if j is None:  # masked padding row
            continue
        record = view.source[j]
        audio = record["audio"]
        try:
            if isinstance(audio, np.ndarray):
                n, rate = audio.shape[0], record["sample_rate"]
            else:
                header = audio_lib.info(audio)
                n, rate = header.frames, header.samplerate
        except audio_lib.AudioError as e:
            if on_bad == "error":
                raise BadExampleError(record["origin"], record["id"], str(e)) from None
            continue
        lengths[i] = math.ceil(n * sample_rate / rate)
    return lengths


def bucket_of(lengths: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    """Index of the first boundary ``>= length`` for each length; longer ones go to the last."""
    return np.minimum(np.searchsorted(np.asarray(boundaries), lengths, side="left"),
                      len(boundaries) - 1)


def _record_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(key=seed + index))  # as grain's IndexSampler


class BucketSampler:
    """Training order over ``num_records`` records bucketed by ``buckets`` (one id per record):
    epochs of whole ``global_batch``-sized runs of one bucket each (see the module docstring).
    Record ``i`` of the stream gets the RNG grain would give it, so random crops and a restored
    iterator behave as with grain's own sampler."""

    def __init__(self, buckets: np.ndarray, global_batch: int, seed: int, num_epochs: int | None):
        self.buckets, self.global_batch = np.asarray(buckets), int(global_batch)
        self.seed, self.num_epochs = int(seed), num_epochs
        counts = np.bincount(self.buckets)
        self.epoch_length = int(sum(c // self.global_batch for c in counts)) * self.global_batch
        if self.epoch_length == 0:
            raise ValueError(f"no bucket holds a whole batch of {self.global_batch} records "
                             f"(bucket sizes {counts.tolist()}): use fewer buckets or a smaller batch")
        self._plan_epoch, self._plan = -1, None

    def __len__(self) -> int:
        return 2**62 if self.num_epochs is None else self.num_epochs * self.epoch_length

    def _order(self, epoch: int) -> np.ndarray:
        if epoch != self._plan_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            batches = []
            for b in range(int(self.buckets.max()) + 1):
                members = rng.permutation(np.flatnonzero(self.buckets == b))
                whole = len(members) // self.global_batch * self.global_batch
                batches += list(members[:whole].reshape(-1, self.global_batch))
            order = rng.permutation(len(batches))
            self._plan = np.concatenate([batches[k] for k in order])
            self._plan_epoch = epoch
        return self._plan

    def __getitem__(self, index: int) -> grain.RecordMetadata:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        epoch, position = divmod(int(index), self.epoch_length)
        key = int(self._order(epoch)[position])
        return grain.RecordMetadata(index=index, record_key=key, rng=_record_rng(self.seed, index))

    def __repr__(self) -> str:
        return (f"BucketSampler({len(self.buckets)} records, {np.bincount(self.buckets).tolist()} "
                f"per bucket, global_batch={self.global_batch}, seed={self.seed})")


class SortedSampler:
    """One pass over the records in order of ``lengths`` (stable: ties keep source order)."""

    def __init__(self, lengths: np.ndarray, seed: int):
        self.order, self.seed = np.argsort(lengths, kind="stable"), int(seed)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> grain.RecordMetadata:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        return grain.RecordMetadata(index=index, record_key=int(self.order[index]),
                                    rng=_record_rng(self.seed, index))

    def __repr__(self) -> str:
        return f"SortedSampler({len(self.order)} records by length)"


def label_widths(view, label_to_id, buckets: np.ndarray, count: int) -> list[int] | None:
    """For tokenized labels (a callable giving 1-D int arrays padded with 0): the widest label
    (last non-zero id + 1) in each bucket or any shorter one, so that a batch's labels can be
    cut with its audio. None for class labels."""
    if not callable(label_to_id) or isinstance(label_to_id, dict):
        return None
    widest = np.zeros(count, np.int64)
    for i in range(len(view)):
        j = view.key(i)
        if j is None:
            continue
        ids = np.asarray(label_to_id(view.source[j]["label"]))
        if ids.ndim != 1:
            return None
        width = int(np.flatnonzero(ids).max(initial=-1)) + 1
        widest[buckets[i]] = max(widest[buckets[i]], width)
    return np.maximum.accumulate(widest).tolist()


class TrimBatch(grain.transforms.Map):
    """Cuts ``audio (batch, max_length)`` to the smallest boundary (samples) that holds the
    batch's longest true ``length``, the extra ``signals`` with it (a frame-rate one to the
    frames that cover the boundary) and, with ``widths`` (one per bucket, see
    :func:`label_widths`), tokenized ``label (batch, max_label_length)`` to that bucket's width
    (never below the batch's own widest label)."""

    def __init__(self, boundaries: Sequence[int], widths: Sequence[int] | None = None,
                 signals=None):
        self.boundaries, self.widths = list(boundaries), widths
        self.signals = dict(signals or {})  # name -> audiojax.data.sources.Signal

    def map(self, batch):
        longest = int(np.max(batch["length"], initial=0))
        bucket = int(bucket_of(np.array([longest]), self.boundaries)[0])
        size = self.boundaries[bucket]
        out = {**batch, "audio": batch["audio"][:, :size]}
        for name, signal in self.signals.items():
            out[name] = batch[name][:, :-(-size // signal.hop_length)]
        if self.widths is not None:
            needed = int(np.flatnonzero(batch["label"].any(axis=0)).max(initial=-1)) + 1
            out["label"] = batch["label"][:, :max(self.widths[bucket], needed, 1)]
        return out
