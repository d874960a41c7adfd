"""Sound event detection: which classes sound when in a recording (classes may overlap).

A detector is a linen module with a ``num_classes`` field and a ``frame_hop`` (samples per
output frame), called as ``model(audio (B, samples), lengths (B,), *, train,
augment_keys=None) -> (logits (B, frames', classes), valid frames' (B,))``
(:class:`~audiojax.models.crnn.CRNN`). Data are events files
(:mod:`audiojax.data.events`): a batch's ``roll (B, frames, classes)`` marks every 10 ms
frame that an event of a class overlaps; a target frame is active where any of its roll
frames is. Training minimizes the binary cross-entropy of every valid frame and class, its
active terms weighted by ``sed.positive_weight``.

Evaluation: the frame probabilities (sigmoid) of each recording, median-filtered over
``sed.median_seconds`` and thresholded at ``sed.threshold``, become events, scored against
the events that the events file lists (:mod:`~audiojax.tasks.sed.metrics`; a run over several
processes, whose rows are not all on one host, scores the events of the gathered rolls, in
which overlapping events of a class are one): event-based F1 with a 200 ms
onset collar and an offset collar of max(200 ms, 20% of the event's length), segment-based
F1 over 1 s segments, both micro and macro with 95% bootstrap intervals over recordings, and
PSDS1 of the filtered frame probabilities.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax import plots
from audiojax.data.events import EVENT_COLUMNS, ROLL_SECONDS
from audiojax.masking import length_mask
from audiojax.tasks.augment import augment_batch, augment_defaults, check_augment
from audiojax.tasks.base import Task, gather_outputs
from audiojax.tasks.sed import metrics as M

PLOTTED_SCENES = 3


class SoundEventDetection(Task):
    """Batches ``{"audio" (B, samples), "length" (B,), "mask" (B,), "roll" (B, frames,
    classes)}`` from events files (``file<TAB>onset_s<TAB>offset_s<TAB>label``)."""

    columns = EVENT_COLUMNS
    provides = ("num_classes",)
    inference_keys = Task.inference_keys + ("sed",)

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.augment = augment_defaults()
        c.sed = ml_collections.ConfigDict()
        c.sed.positive_weight = 1.0   # the cross-entropy's weight on active frames (events are rare)
        c.sed.threshold = 0.5         # a class is detected in frames at or above this probability
        c.sed.median_seconds = 0.3    # median filter over the frame probabilities (0: none)
        c.sed.collar_seconds = 0.2    # event-based F1's onset collar ...
        c.sed.offset_ratio = 0.2      # ... and offset collar: max(collar, ratio * length)
        c.sed.segment_seconds = 1.0   # segment-based F1's segments
        return c

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        check_augment(config)
        # Moving or stretching the audio would move its events off their frames.
        if config.augment.max_shift_seconds or tuple(config.augment.speed) != (1.0, 1.0):
            raise ValueError("config.augment.max_shift_seconds and config.augment.speed: must "
                             "stay 0 and (1, 1) for sed (the event roll would not move with them)")
        if not 0.0 < config.sed.threshold < 1.0:
            raise ValueError(f"config.sed.threshold={config.sed.threshold}: must be in (0, 1)")
        if config.sed.positive_weight <= 0:
            raise ValueError(f"config.sed.positive_weight={config.sed.positive_weight}: must be > 0")
        for key in ("median_seconds", "collar_seconds", "offset_ratio"):
            if config.sed[key] < 0:
                raise ValueError(f"config.sed.{key}={config.sed[key]}: must not be negative")
        if config.sed.segment_seconds <= 0:
            raise ValueError(f"config.sed.segment_seconds={config.sed.segment_seconds}: must be > 0")

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        super().__init__(config, labels)
        self.model = self.build_model(num_classes=len(self.labels))
        rate = config.data.sample_rate
        self.roll_hop = int(round(ROLL_SECONDS * rate))
        hop = getattr(self.model, "frame_hop", None)
        if hop is None or hop % self.roll_hop:
            raise ValueError(f"config.model: a sed model needs a frame_hop (samples per output "
                             f"frame) that is a multiple of {self.roll_hop} (10 ms at {rate} Hz); "
                             f"{config.model.name!r} has {hop}")
        self.pool = hop // self.roll_hop
        self.frame_seconds = hop / rate
        self.median_frames = max(1, int(round(config.sed.median_seconds / self.frame_seconds)))

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        spec = self.audio_spec(batch_size)
        frames = -(-spec["audio"].shape[1] // self.roll_hop)
        return {**spec, "roll": jax.ShapeDtypeStruct((batch_size, frames, len(self.labels)),
                                                     jnp.float32)}

    def init(self, rng: jax.Array, batch: dict) -> dict:
        model = self.model.clone(axis_name=None) if hasattr(self.model, "axis_name") else self.model
        return model.init(rng, batch["audio"], batch["length"], train=False)

    def targets(self, roll: jax.Array, frames: int) -> jax.Array:
        """``roll (B, R, classes)`` at 10 ms -> ``(B, frames, classes)`` at the model's frame:
        the max over each output frame's roll frames (zeros past the roll)."""
        need = frames * self.pool
        roll = roll[:, :need]
        roll = jnp.pad(roll, ((0, 0), (0, need - roll.shape[1]), (0, 0)))
        return roll.reshape(roll.shape[0], frames, self.pool, -1).max(axis=2)

    def _frame_losses(self, logits, valid, batch):
        """Per-example mean binary cross-entropy over valid frames and classes ``(B,)``, and
        the targets."""
        targets = self.targets(batch["roll"], logits.shape[1])
        frame_ok = length_mask(valid, logits.shape[1]).astype(jnp.float32)
        weight = self.config.sed.positive_weight
        bce = -(weight * targets * jax.nn.log_sigmoid(logits)
                + (1.0 - targets) * jax.nn.log_sigmoid(-logits)).mean(-1)
        return (bce * frame_ok).sum(1) / jnp.maximum(frame_ok.sum(1), 1.0), targets

    def loss(self, params, batch_stats, batch, rng, axis_name):
        audio, lengths, keys = augment_batch(self.config, rng, batch["audio"], batch["length"],
                                             axis_name)
        (logits, valid), updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats}, audio, lengths, train=True,
            mutable=["batch_stats"], augment_keys=keys, rngs={"dropout": rng})
        losses, _ = self._frame_losses(logits, valid, batch)
        weight = batch["mask"].astype(jnp.float32)
        total, count = (losses * weight).sum(), weight.sum()
        if axis_name is not None:
            total, count = jax.lax.psum(total, axis_name), jax.lax.psum(count, axis_name)
        loss = total / jnp.maximum(count, 1.0)
        return loss, (updates.get("batch_stats", {}), {"loss": loss})

    def probabilities(self, variables, audio, lengths):
        """``(probs (B, frames', classes), valid (B,))`` in evaluation mode."""
        logits, valid = self.model.apply(variables, audio, lengths, train=False)
        return jax.nn.sigmoid(logits), valid

    def eval_step(self, variables, batch, axis_name):
        logits, valid = self.model.apply(variables, batch["audio"], batch["length"], train=False)
        losses, _ = self._frame_losses(logits, valid, batch)
        weight = batch["mask"].astype(jnp.float32)
        sums = {"loss": (losses * weight).sum(), "count": weight.sum()}
        # Audio for the plot: a few rows only (gathered, device 0's come first: the global
        # batch's first rows), not the whole batch's waveforms.
        rows = {"probs": jax.nn.sigmoid(logits), "valid": valid, "roll": batch["roll"],
                "length": batch["length"], "mask": batch["mask"],
                "plot_audio": batch["audio"][:PLOTTED_SCENES]}
        return gather_outputs(sums, rows, axis_name)

    def combine(self, collected: dict | None, out: dict) -> dict:
        """Adds the sums; keeps each recording's valid frame probabilities and the events of
        its roll, and the audio of the first few (for the plot)."""
        out = dict(jax.device_get(out))
        mask = np.asarray(out["mask"]).reshape(-1)
        keep = np.flatnonzero(mask)
        rate = self.config.data.sample_rate
        collected = collected or {"loss": 0.0, "count": 0.0, "probs": [], "references": [],
                                  "seconds": [], "audio": []}
        collected["loss"] += float(out["loss"])
        collected["count"] += float(out["count"])
        for j in range(min(PLOTTED_SCENES, len(out["plot_audio"]))):  # global rows 0..k-1
            if mask[j] and len(collected["audio"]) < PLOTTED_SCENES:
                recording = len(collected["probs"]) + int(mask[:j].sum())
                collected["audio"].append((recording, np.asarray(
                    out["plot_audio"][j, :int(out["length"][j])])))
        for b in keep:
            n = int(out["length"][b])
            collected["probs"].append(np.asarray(out["probs"][b, :int(out["valid"][b])]))
            roll = np.asarray(out["roll"][b, :-(-n // self.roll_hop)])
            collected["references"].append(M.roll_events(roll, self.labels, ROLL_SECONDS))
            collected["seconds"].append(n / rate)
        return collected

    def finish(self, collected: dict, source, ids: list[str] | None) -> dict:
        """The references as the events file lists them (each event whole, overlapping
        events of a class apart, cut at the recording's end), in place of the rolls'."""
        if ids is not None:
            collected["references"] = [
                [(a, min(b, seconds), x) for a, b, x in source.events_of(i) if a < seconds]
                for i, seconds in zip(ids, collected["seconds"], strict=True)]
        return collected

    def smooth(self, probs: np.ndarray) -> np.ndarray:
        """Frame probabilities ``(frames, classes)`` median-filtered as ``sed.median_seconds``
        says (what detection thresholds and PSDS scores)."""
        return M.smooth_scores(probs, self.median_frames)

    def detect(self, smoothed: np.ndarray) -> M.Events:
        """Events of one recording's :meth:`smooth` probabilities ``(frames, classes)`` at
        ``sed.threshold``."""
        return M.detect(smoothed, self.labels, self.frame_seconds, self.config.sed.threshold)

    def summarize(self, collected: dict) -> dict:
        """Loss, event-based and segment-based F1 (micro and macro, 95% bootstrap intervals
        over recordings), per-class event F1, PSDS1."""
        cfg = self.config.sed
        # (device_get, which the evaluator applies to what was collected, makes numbers arrays)
        refs = [[(float(a), float(b), str(x)) for a, b, x in r] for r in collected["references"]]
        seconds = [float(s) for s in collected["seconds"]]
        smoothed = [self.smooth(p) for p in collected["probs"]]
        estimates = [self.detect(p) for p in smoothed]
        events = M.event_f1(refs, estimates, self.labels, cfg.collar_seconds, cfg.offset_ratio)
        segments = M.segment_f1(refs, estimates, seconds, self.labels, cfg.segment_seconds)
        count = collected["count"]
        metrics = {"loss": collected["loss"] / max(count, 1.0), "count": int(round(count)),
                   "count_of": "recordings"}
        for name, result in (("event", events), ("segment", segments)):
            intervals = M.f1_intervals(result.pop("counts"))
            for key in ("micro_f1", "macro_f1"):
                metrics[f"{name}_{key}"] = result[key]
                metrics[f"{name}_{key}_ci95"] = list(intervals[key])
            metrics[f"{name}_precision"], metrics[f"{name}_recall"] = result["precision"], result["recall"]
            metrics[f"{name}_per_class_f1"] = result["per_class_f1"]
        metrics["references"], metrics["estimates"] = events["references"], events["estimates"]
        metrics["psds1"] = (M.psds1(smoothed, refs, seconds, self.labels, self.frame_seconds)
                            if events["references"] else float("nan"))
        metrics["plot_data"] = [{"audio": y, "reference": refs[int(k)],
                                 "estimate": estimates[int(k)], "name": f"#{int(k)}"}
                                for k, y in collected["audio"]]
        return metrics

    def headline(self, metrics: dict) -> str:
        low, high = metrics["event_macro_f1_ci95"]
        return (f"event F1 macro {metrics['event_macro_f1']:.4f} (95% CI {low:.4f}-{high:.4f}), "
                f"micro {metrics['event_micro_f1']:.4f}; segment F1 macro "
                f"{metrics['segment_macro_f1']:.4f}, micro {metrics['segment_micro_f1']:.4f}; "
                f"PSDS1 {metrics['psds1']:.4f}; loss {metrics['loss']:.4f}")

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """True and detected events over the spectrograms of the first scenes."""
        if not metrics.get("plot_data"):
            return []
        png = output.with_suffix(".events.png")
        plots.events_png(png, metrics["plot_data"], self.labels, self.config.data.sample_rate,
                         title=title)
        return [png]

    def check_source(self, source, where: str) -> None:
        """Refuses data holding classes the model lacks, a roll in another class order, or
        a recording longer than the window (``data.max_seconds``), which would be cut."""
        unknown = sorted(set(source.unique_labels()) - set(self.labels))
        if unknown:
            raise ValueError(f"{where}: classes unknown to the model: {', '.join(unknown)}")
        window = self.config.data.max_seconds
        longest, file = max(zip(source.durations(), source.files))
        if longest > window + 0.5 / self.config.data.sample_rate:
            raise ValueError(f"{where}: {file} lasts {longest:.2f} s, longer than the run's "
                             f"window (data.max_seconds={window:g}); evaluate it whole with "
                             f"--config.data.max_seconds={math.ceil(longest)} (and a smaller "
                             f"--config.batch_size if memory is short), or use audiojax tag")
        if list(getattr(source, "labels", self.labels)) != self.labels:
            raise ValueError(f"{where}: its classes are in another order than the run's "
                             f"labels.json (open it with them: EventsSource(path, labels))")
