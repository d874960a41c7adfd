"""The host-side input pipeline on grain: decode, resample, mono, crop/pad, batch, shard, prefetch.

    loader = make_loader(source, sample_rate=16000, batch_size=64, train=True, seed=0,
                         label_to_id={name: i for i, name in enumerate(labels)})
    it = iter(loader)
    batch = next(it)      # numpy: audio (B, max_length) f32, length (B,) i32, label (B,) i32,
                          #        mask (B,) bool, id (B,) str, speaker (B,) str
    state = it.get_state()                 # bytes: save with the checkpoint
    it2 = iter(loader); it2.set_state(state)   # next(it2) is the batch next(it) would give

Per example (in this order):
  * decode and resample to ``sample_rate``, mixed down to mono (in grain's reader threads);
  * crop to ``max_length`` samples: train, a random window drawn from the record's own RNG
    (seed + position in the sampler, so a restored iterator draws the same crops); eval, the
    centre window, ``offset = (length - max_length) // 2`` as the article does;
  * zero-pad shorter clips at the end; ``length`` keeps the true number of samples;
  * every extra signal the source declares (``source.signals``: a clean target, the sources of
    a mixture, an event roll) is cropped with the same window and padded alike: a waveform
    signal sample for sample (it must have the audio's length), a frame-rate one by the
    frames of the window (crops then start on a frame boundary).

Batches have static shapes (``max_length``, or with ``bucket_lengths`` one per length bucket:
:mod:`audiojax.data.buckets`). Training drops the last partial batch (``drop_remainder``); eval pads
it with ``mask == False`` rows, so an evaluation counts every example exactly once. With several
processes, in training each one reads its slice of every global batch (the batches one process
would read); in evaluation each reads every ``shard_count``-th example, shards made equal in
length by masked padding rows; so all processes run the same number of steps.

Bad examples (missing/corrupt/truncated/empty clip, NaN/Inf, unknown label): with
``on_bad='error'`` (default) the iterator raises :class:`BadExampleError` with the data check's
message (``train.tsv:12: wav/a.wav: truncated: ...``); with ``on_bad='skip'`` the example's row is
masked out (``mask == False``, zero audio) and the iterator records it: ``it.skipped`` maps each
message to how often it was met, ``it.report()`` says how many and which, and the first time each
one is met a warning is logged. Nothing is dropped silently. A trainer must therefore weight its
loss with ``mask`` in training as well as in evaluation.
"""

from __future__ import annotations

import collections
import gc
import json
import logging
import math
from typing import Any, Callable, Iterator, Mapping, Sequence

import grain
import numpy as np

from audiojax.data import placement
from audiojax.data.buckets import (BucketSampler, SortedSampler, TrimBatch, bucket_of, label_widths,
                                   record_lengths)
from audiojax.data.sources import BadExampleError, Signal, Source, decode_record

logger = logging.getLogger(__name__)

__all__ = ["BadExampleError", "DeviceIndex", "Loader", "LoaderIterator", "make_loader", "numeric"]


# Records each reader thread runs ahead, per batch row: more only adds grain's bookkeeping
# (it scans its whole buffer per record: 4 rows made decoded records 1.5x slower).
PREFETCH = 1
LabelMap = Mapping[str, int] | Callable[[str], Any] | None


class _ShardView:
    """Every ``shard_count``-th record of ``source`` from ``shard_index``, decoded.

    Padded to ``ceil(len(source) / shard_count)`` so that every process gets as many: with
    ``pad='wrap'`` by reusing records from the start, with ``pad='mask'`` by placeholder rows.
    Decoding happens here because grain reads a data source from a pool of threads.
    """

    def __init__(self, source: Source, sample_rate: int, shard_index: int, shard_count: int,
                 pad: str, on_bad: str, index: "DeviceIndex | None" = None):
        if not 0 <= shard_index < shard_count:
            raise ValueError(f"shard_index {shard_index} out of range for shard_count {shard_count}")
        if len(source) == 0:
            raise ValueError(f"{source!r} is empty")
        self.source, self.sample_rate = source, sample_rate
        self.shard_index, self.shard_count = shard_index, shard_count
        self.pad, self.on_bad, self.index = pad, on_bad, index
        self._n = len(source)
        self._len = math.ceil(self._n / shard_count)

    def __len__(self) -> int:
        return self._len

    def key(self, index: int) -> int | None:
        """The source index behind ``index``; None for a masked padding row."""
        j = self.shard_index + int(index) * self.shard_count
        if j < self._n:
            return j
        return None if self.pad == "mask" else j % self._n

    def __getitem__(self, index: int) -> dict[str, Any]:
        j = self.key(index)
        if j is None:
            return {"padding": True}
        record = self.source[j]
        example = {k: record[k] for k in ("label", "speaker", "id", "origin")}
        if self.index is not None:  # the audio is on the devices: its place and length only
            error = ""
            if j in self.index.errors:
                bad = BadExampleError(record["origin"], record["id"], self.index.errors[j])
                if self.on_bad == "error":
                    raise bad
                error = str(bad)
            return {**example, "cache_index": j, "error": error}
        try:
            example["audio"] = decode_record(record, self.sample_rate)
            for name, signal in self.signals.items():
                example[name] = _decode_signal(record, name, signal, self.sample_rate,
                                               len(example["audio"]))
            example["error"] = ""
        except BadExampleError as e:
            if self.on_bad == "error":
                raise
            example["audio"], example["error"] = None, str(e)
        return example

    @property
    def signals(self) -> Mapping[str, Signal]:
        return getattr(self.source, "signals", {})

    def __repr__(self) -> str:
        return (f"_ShardView({self.source!r}, sample_rate={self.sample_rate}, "
                f"shard={self.shard_index}/{self.shard_count}, pad={self.pad})")


def _decode_signal(record, name: str, signal: Signal, sample_rate: int, samples: int) -> np.ndarray:
    """A record's extra signal: a waveform at ``sample_rate`` of the audio's ``samples``, or a
    finite frame array covering them (``ceil(samples / hop_length)`` frames, a last partial
    frame allowed to be missing)."""
    if signal.waveform:
        y = decode_record(record, sample_rate, key=name)
        if len(y) != samples:
            raise BadExampleError(record["origin"], record["id"],
                                  f"{name}: {len(y)} samples, the audio has {samples}")
        return y
    frames = np.asarray(record[name], np.float32)
    want = -(-samples // signal.hop_length)
    if frames.ndim < 1 or not want - 1 <= frames.shape[0] <= want:
        raise BadExampleError(record["origin"], record["id"],
                              f"{name}: {frames.shape[0] if frames.ndim else 0} frames, the audio's "
                              f"{samples} samples need {want} of {signal.hop_length}")
    if not np.all(np.isfinite(frames)):
        raise BadExampleError(record["origin"], record["id"], f"{name}: non-finite values")
    return frames


class DeviceIndex:
    """What the host needs of a split whose waveforms are on the devices
    (:mod:`audiojax.data.device_cache`): each record's length in samples, the message of each
    record that did not decode, and (when windows are centred on the speech) each record's
    centred window start for the loader's ``max_length``."""

    def __init__(self, lengths: np.ndarray, errors: Mapping[int, str],
                 centres: np.ndarray | None = None):
        self.lengths, self.errors, self.centres = np.asarray(lengths), dict(errors), centres


class _ProcessSlices:
    """Process ``index`` of ``count``'s share of a training sampler over the whole source: its
    slice ``[b*G + index*L, b*G + (index+1)*L)`` of every global batch ``b`` (``L`` the local
    batch size, ``G = count * L``), each record with the RNG the global stream gives it. So any
    number of processes together read the batches (and crops) that one process would."""

    def __init__(self, sampler, batch_size: int, index: int, count: int):
        self.sampler, self.batch_size, self.index, self.count = sampler, batch_size, index, count
        self._len = len(sampler) // (count * batch_size) * batch_size

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int):
        if not 0 <= i < self._len:
            raise IndexError(f"index {i} out of range for {self._len} records")
        b, k = divmod(int(i), self.batch_size)
        meta = self.sampler[(b * self.count + self.index) * self.batch_size + k]
        return grain.RecordMetadata(index=i, record_key=meta.record_key, rng=meta.rng)

    def __repr__(self) -> str:
        return f"_ProcessSlices({self.sampler!r}, batch_size={self.batch_size}, {self.index}/{self.count})"


class _CropPad(grain.transforms.RandomMap):
    """Crops (train: random, eval: centre; or centred on the speech when ``center_rate``, the
    sample rate, is given) or zero-pads to ``max_length``, the audio and every extra signal
    with one window; maps the label."""

    def __init__(self, max_length: int, train: bool, label_to_id: LabelMap, pad_label, on_bad: str,
                 signals: Mapping[str, Signal], center_rate: int | None = None,
                 index: DeviceIndex | None = None):
        self.max_length, self.train, self.center_rate = max_length, train, center_rate
        self.index = index  # set: the window's place (cache_index, offset), not its samples
        self.label_to_id, self.pad_label, self.on_bad = label_to_id, pad_label, on_bad
        self.signals = dict(signals)
        hops = [s.hop_length for s in self.signals.values() if not s.waveform]
        self.step = math.lcm(*hops) if hops else 1  # crops start where every frame grid does

    def _signal_shape(self, signal: Signal) -> tuple[int, ...]:
        if signal.waveform:
            return (self.max_length,)
        return (-(-self.max_length // signal.hop_length), *signal.frame_shape)

    def _label(self, example):
        label = example["label"]
        if self.label_to_id is None:
            return label
        if isinstance(self.label_to_id, Mapping):
            if label not in self.label_to_id:
                raise BadExampleError(example["origin"], example["id"],
                                      f"unknown label {label!r} (not among the {len(self.label_to_id)} labels)")
            return np.int32(self.label_to_id[label])
        return self.label_to_id(label)

    def _empty(self, example, error: str) -> dict[str, Any]:
        out = {
            "length": np.int32(0),
            "label": self.pad_label,
            "mask": np.bool_(False),
            "id": example.get("id", ""),
            "speaker": example.get("speaker", ""),
            "error": error,
        }
        if self.index is not None:
            return {**out, "cache_index": np.int32(0), "offset": np.int32(0)}
        return {**out, "audio": np.zeros(self.max_length, np.float32),
                **{name: np.zeros(self._signal_shape(s), np.float32) for name, s in self.signals.items()}}

    def _window(self, x: np.ndarray, signal: Signal | None, offset: int) -> np.ndarray:
        """``x`` from sample ``offset`` over ``max_length`` samples (its frames for a frame-rate
        signal), zeros where the window reaches outside ``x``."""
        hop = 1 if signal is None else signal.hop_length
        shape = (self.max_length,) if hop == 1 else self._signal_shape(signal)
        return placement.place(x, offset // hop, shape[0])

    def random_map(self, example, rng: np.random.Generator):
        if example.get("padding"):
            return self._empty({}, "")
        if example["error"]:
            return self._empty(example, example["error"])
        try:
            label = self._label(example)
        except BadExampleError as e:
            if self.on_bad == "error":
                raise
            return self._empty(example, str(e))
        size = self.max_length
        if self.index is not None:
            j = example["cache_index"]
            n = int(self.index.lengths[j])
        else:
            y = example["audio"]
            n = y.shape[0]
        offset = 0
        if self.center_rate:
            offset = (int(self.index.centres[j]) if self.index is not None
                      else placement.centred_offset(y, self.center_rate, size))
        elif n > size:
            offset = int(rng.integers(0, n - size + 1)) if self.train else (n - size) // 2
        offset -= offset % self.step
        out = {
            "length": np.int32(min(n - offset, size)),
            "label": label,
            "mask": np.bool_(True),
            "id": example["id"],
            "speaker": example["speaker"],
            "error": "",
        }
        if self.index is not None:  # the devices cut the same window from their copy
            return {**out, "cache_index": np.int32(j), "offset": np.int32(offset)}
        return {**out, "audio": self._window(y, None, offset),
                **{name: self._window(example[name], s, offset) for name, s in self.signals.items()}}


class _PadBatch(grain.transforms.Map):
    """Pads a short (last) eval batch to ``batch_size`` rows with ``mask == False``."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def map(self, batch):
        b = batch["mask"].shape[0]
        if b == self.batch_size:
            return batch
        out = {}
        for key, value in batch.items():
            value = np.asarray(value)
            pad = np.zeros((self.batch_size - b,) + value.shape[1:], value.dtype)  # "" for strings
            out[key] = np.concatenate([value, pad])
        return out


class LoaderIterator(Iterator[dict[str, np.ndarray]]):
    """Wraps grain's iterator: records skipped bad examples and saves them with the state."""

    def __init__(self, grain_iterator):
        self._it = grain_iterator
        self.skipped: collections.Counter[str] = collections.Counter()

    def __iter__(self):
        return self

    def __enter__(self) -> "LoaderIterator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __next__(self) -> dict[str, np.ndarray]:
        if self._it is None:
            raise RuntimeError("this data iterator was closed")
        try:
            batch = next(self._it)
        except (StopIteration, BadExampleError):
            self.close()  # end of data or a stop: free the workers and their batches now
            raise
        errors = batch.pop("error")
        for message in errors[errors != ""].tolist():
            if message not in self.skipped:
                logger.warning("skipping bad example: %s", message)
            self.skipped[message] += 1
        return batch

    def get_state(self) -> bytes:
        """JSON bytes: grain's iterator state plus the bad examples skipped so far."""
        return json.dumps({"grain": json.loads(self._it.get_state().decode()),
                           "skipped": dict(self.skipped)}).encode()

    def set_state(self, state: bytes) -> None:
        state = json.loads(state.decode() if isinstance(state, bytes) else state)
        self._it.set_state(json.dumps(state["grain"]).encode())
        self.skipped = collections.Counter(state.get("skipped", {}))

    def report(self) -> str:
        """``"no bad examples skipped"`` or the count and each message (with repeats)."""
        if not self.skipped:
            return "no bad examples skipped"
        total = sum(self.skipped.values())
        lines = [f"skipped {total} bad example(s) ({len(self.skipped)} distinct):"]
        lines += [f"  {m}" + (f"  (x{c})" if c > 1 else "") for m, c in sorted(self.skipped.items())]
        return "\n".join(lines)

    def close(self) -> None:
        """Stops worker processes and frees the batches they had prepared (shared memory)."""
        if self._it is None:
            return
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
        self._it = None
        gc.collect()  # unlink prefetched shared-memory batches now, not at interpreter exit


class Loader:
    """An iterable over batches; each ``iter()`` starts a fresh :class:`LoaderIterator`."""

    def __init__(self, data_loader: grain.DataLoader, *, num_examples: int, batch_size: int,
                 shard_length: int):
        self.data_loader = data_loader
        # Set when the waveforms are on the devices (audiojax.data.device_cache.DeviceCache):
        # batches name windows, which the compiled step cuts from the cache's arrays.
        self.device_cache = None
        self.num_examples = num_examples  # in the whole source (all shards)
        self.batch_size = batch_size
        self.shard_length = shard_length  # examples per epoch in this process, padding included

    def __iter__(self) -> LoaderIterator:
        return LoaderIterator(iter(self.data_loader))


def make_loader(
    source: Source,
    *,
    sample_rate: int,
    batch_size: int,
    train: bool,
    max_length: int | None = None,
    seed: int = 0,
    shuffle: bool | None = None,
    num_epochs: int | None = None,
    worker_count: int = 0,
    worker_buffer_size: int = 2,
    read_threads: int | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    label_to_id: LabelMap = None,
    on_bad: str = "error",
    drop_remainder: bool | None = None,
    bucket_lengths: Sequence[int] = (),
    center: bool = False,
    device_index: DeviceIndex | None = None,
) -> Loader:
    """A grain loader of fixed-shape numpy batches from ``source``.

    Args:
      source: a random-access source (:mod:`audiojax.data.sources`).
      sample_rate: rate to resample every clip to, Hz.
      batch_size: examples per batch (per process).
      train: random crops, shuffling, infinite epochs, drop the last partial batch; else centre
        crops, one pass in order, last batch padded with ``mask == False``.
      max_length: samples per example (default ``4 * sample_rate``, the article's 4 s).
      seed: seeds shuffling and random crops (a 32-bit non-negative int).
      shuffle: default ``train``.
      num_epochs: default None (forever) when training, 1 for eval.
      worker_count: grain worker processes (0: in this process). Prefetching: decoding also
        runs ahead in ``read_threads`` reader threads per process. Workers are spawned: the
        program's entry point needs an ``if __name__ == "__main__":`` guard, and absl flags are
        marked parsed (defaults) if they were not (a grain 0.2.18 bug).
      worker_buffer_size: batches each worker prepares ahead.
      read_threads: reader threads per process (default 2; 0, reading in the calling thread,
        for sources held in memory, ``source.in_memory``, and device indices, where a thread
        per record costs more than the read).
      shard_index, shard_count: default ``jax.process_index()``, ``jax.process_count()``.
      label_to_id: dict name -> int (unknown labels are bad examples), a callable (e.g. a
        tokenizer for transcripts; its outputs are stacked; with workers it must be picklable,
        i.e. defined at module level), or None to keep the strings.
      on_bad: ``'error'`` raises :class:`BadExampleError`; ``'skip'`` masks the example out and
        records it (see :meth:`LoaderIterator.report`).
      drop_remainder: default ``train``.
      bucket_lengths: length buckets in samples (:mod:`audiojax.data.buckets`; ``max_length``
        is always the last): training batches come from one bucket each, evaluation runs in
        order of length, and each batch's ``audio`` is cut to the bucket of its longest clip
        (tokenized labels: to the widest label of that bucket).
        Record lengths are read from file headers when the loader is made. Multi-process
        evaluation ignores the buckets (every process must pad alike).
      center: the window (train and eval) centred on each record's speech
        (:func:`audiojax.data.placement.centred_offset`; zeros where it reaches outside the
        record) instead of a random or centre crop; ``length`` then counts from the window's
        start to the record's end.
      device_index: the source's waveforms are on the devices (:mod:`audiojax.data.device_cache`):
        batches say where each window lies instead of holding its samples, drawn exactly as
        they would be drawn from the files (same order, crops and lengths). Not with length
        buckets or frame-rate signals.

    Returns:
      A :class:`Loader`; ``iter(loader)`` yields dicts of numpy arrays: ``audio`` float32
      ``(batch, max_length)``, ``length`` int32 ``(batch,)``, ``label`` (int32 ``(batch,)`` for
      a dict mapping), ``mask`` bool ``(batch,)``, ``id`` and ``speaker`` str ``(batch,)``;
      with ``device_index``, ``cache_index`` and ``offset`` int32 ``(batch,)`` (the record and
      the window's first sample in it) instead of ``audio`` and the waveform signals.
    """
    if on_bad not in ("error", "skip"):
        raise ValueError(f"on_bad must be 'error' or 'skip', got {on_bad!r}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shard_index is None or shard_count is None:
        import jax  # noqa: PLC0415 (not needed by worker processes)

        shard_index = jax.process_index() if shard_index is None else shard_index
        shard_count = jax.process_count() if shard_count is None else shard_count
    max_length = int(max_length if max_length is not None else 4 * sample_rate)
    shuffle = train if shuffle is None else shuffle
    num_epochs = (None if train else 1) if num_epochs is None else num_epochs
    drop_remainder = train if drop_remainder is None else drop_remainder

    if label_to_id is None:
        pad_label = np.str_("")
    elif isinstance(label_to_id, Mapping):
        pad_label = np.int32(0)
        label_to_id = dict(label_to_id)
    else:
        pad_label = np.zeros_like(np.asarray(label_to_id(source[0]["label"])))

    # Training with several processes: each takes its slice of the global batches (so the run
    # equals a one-process run); evaluation: each reads every shard_count-th example, padded.
    slices = train and drop_remainder and shard_count > 1
    view = _ShardView(source, sample_rate, 0 if slices else shard_index, 1 if slices else shard_count,
                      pad="wrap" if train else "mask", on_bad=on_bad, index=device_index)
    boundaries = sorted({int(b) for b in bucket_lengths if 0 < b < max_length} | {max_length})
    if device_index is not None and (len(boundaries) > 1
                                     or any(not s.waveform for s in view.signals.values())):
        raise ValueError("a split on the devices gives fixed-length windows of waveforms: not "
                         "with length buckets or frame-rate signals")
    if center and len(boundaries) > 1:
        raise ValueError("data.center='energy' places each record in the whole window; it does "
                         "not go with length buckets (data.bucket_seconds)")
    if len(boundaries) > 1 and (train or shard_count == 1):
        if train and not drop_remainder:
            raise ValueError("bucket_lengths in training needs drop_remainder=True")
        lengths = record_lengths(view, sample_rate, on_bad)
        widths = label_widths(view, label_to_id, bucket_of(lengths, boundaries), len(boundaries))
        if train:  # whole global batches of one bucket; each process then takes its slice
            global_batch = batch_size * (shard_count if slices else 1)
            sampler = BucketSampler(bucket_of(lengths, boundaries), global_batch, seed, num_epochs)
        else:
            sampler = SortedSampler(lengths, seed)
    else:
        boundaries, widths = [max_length], None
        sampler = grain.samplers.IndexSampler(
            num_records=len(view),
            shard_options=grain.sharding.NoSharding(),  # _ShardView shards (grain's would drop examples)
            shuffle=shuffle,
            num_epochs=num_epochs,
            seed=seed,
        )
    if slices:
        sampler = _ProcessSlices(sampler, batch_size, shard_index, shard_count)
    operations: list = [
        _CropPad(max_length, train, label_to_id, pad_label, on_bad, view.signals,
                 sample_rate if center else None, device_index),
        grain.transforms.Batch(batch_size=batch_size, drop_remainder=drop_remainder),
    ]
    if not drop_remainder:
        operations.append(_PadBatch(batch_size))
    if len(boundaries) > 1:
        operations.append(TrimBatch(boundaries, widths, view.signals))
    if read_threads is None:
        read_threads = 0 if device_index is not None or getattr(source, "in_memory", False) else 2
    if worker_count > 0:
        _parse_absl_flags()
    data_loader = grain.DataLoader(
        data_source=view,
        sampler=sampler,
        operations=operations,
        worker_count=worker_count,
        worker_buffer_size=worker_buffer_size,
        shard_options=grain.sharding.NoSharding(),
        read_options=grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=PREFETCH * batch_size),
    )
    epoch = sampler.epoch_length if isinstance(sampler, BucketSampler) else len(view)
    shard_length = epoch // shard_count if slices else epoch
    return Loader(data_loader, num_examples=len(source), batch_size=batch_size, shard_length=shard_length)


def _parse_absl_flags() -> None:
    """grain 0.2.18 reads an absl flag when it starts worker processes and fails if the program
    did not parse absl flags (google/grain#1355, fixed upstream by #1361/#1362): use defaults."""
    from absl import flags  # noqa: PLC0415

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def numeric(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fields that can go to a device (drops the string ones: ``id``, ``speaker``, ...)."""
    return {k: v for k, v in batch.items() if np.asarray(v).dtype.kind not in ("U", "S", "O")}
