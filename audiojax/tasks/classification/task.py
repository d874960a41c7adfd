"""Clip classification (keyword spotting, events, genres): cross-entropy, accuracy, confusion.

A clip classifier is a linen module with a ``num_classes`` field, called as
``model(audio (B, samples), lengths (B,), *, train, augment_keys=None) -> logits (B, classes)``
(``augment_keys``: one PRNG key per example for feature-level augmentation in training).

Evaluation and ``predict`` score a clip by its class probabilities: the softmax of the logits,
averaged over ``config.shifts.count`` time shifts of the clip (test-time shift averaging) and,
for an ensemble of runs or checkpoints, over its members (:meth:`Classification.ensemble_step`).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax import plots
from audiojax.data.augment import time_shift
from audiojax.masking import masked_mean
from audiojax.tasks.augment import augment_batch, augment_defaults, check_augment
from audiojax.tasks.classification.detect import BACKGROUND
from audiojax.tasks.classification.metrics import mean_average_precision
from audiojax.tasks.base import (Task, accuracy_per_group, bootstrap_interval, combine_hits,
                                 gather_outputs)


class Classification(Task):
    """Batches ``{"audio" (B, samples) f32, "length" (B,) i32, "label" (B,) i32, "mask" (B,) bool}``;
    rows with ``mask == False`` (padding, skipped bad examples) count for nothing."""

    provides = ("num_classes",)
    offers = ("background_class",)
    # Test-time centring is an ablation of a run trained without it (and back).
    inference_keys = Task.inference_keys + ("data.center", "shifts")

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.label_smoothing = 0.0
        c.mixup = 0.0                 # > 0: mixup's Beta(alpha, alpha) (waveforms and targets)
        c.augment = augment_defaults()
        c.shifts = ml_collections.ConfigDict()
        c.shifts.count = 1            # > 1: evaluators and predict average the probabilities
        c.shifts.max_seconds = 0.1    # over that many time shifts in [-max_seconds, max_seconds]
        return c

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        check_augment(config)
        if config.mixup < 0:
            raise ValueError(f"config.mixup={config.mixup}: must not be negative (0: no mixup)")
        if config.shifts.count < 1:
            raise ValueError(f"config.shifts.count={config.shifts.count}: must be at least 1")
        if config.shifts.max_seconds < 0:
            raise ValueError(f"config.shifts.max_seconds={config.shifts.max_seconds}: must not "
                             f"be negative")

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        super().__init__(config, labels)
        self.label_to_id = {name: i for i, name in enumerate(self.labels)}  # for the loader
        # A detector's clip of nothing must hold its class at every frame (streaming models).
        background = self.labels.index(BACKGROUND) if BACKGROUND in self.labels else -1
        self.model = self.build_model(num_classes=len(self.labels),
                                      offered={"background_class": background})

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return {**self.audio_spec(batch_size),
                "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32)}

    def init(self, rng: jax.Array, batch: dict) -> dict:
        # Outside pmap there is no device axis for BatchNorm to average over.
        model = self.model.clone(axis_name=None) if hasattr(self.model, "axis_name") else self.model
        return model.init(rng, batch["audio"], batch["length"], train=False)

    def loss(self, params, batch_stats, batch, rng, axis_name):
        if self.config.mixup > 0:  # its own key; without mixup the augmentation keys as before
            rng, mix_rng = jax.random.split(rng)
        audio, lengths, keys = augment_batch(self.config, rng, batch["audio"], batch["length"],
                                             axis_name)
        targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], len(self.labels)),
                                      self.config.label_smoothing)
        mask = batch["mask"]
        if self.config.mixup > 0:
            audio, lengths, targets = mixup(mix_rng, audio, lengths, targets, mask,
                                            self.config.mixup)
        logits, updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats}, audio, lengths,
            train=True, mutable=["batch_stats"], augment_keys=keys)
        loss = masked_mean(optax.softmax_cross_entropy(logits, targets), mask, axis_name=axis_name)
        hits = (logits.argmax(-1) == batch["label"]).astype(jnp.float32)
        accuracy = masked_mean(hits, mask, axis_name=axis_name)
        return loss, (updates.get("batch_stats", {}), {"loss": loss, "accuracy": accuracy})

    def logits(self, variables, batch):
        """``(B, classes)`` logits of a batch in evaluation mode."""
        return self.model.apply(variables, batch["audio"], batch["length"], train=False)

    def shift_offsets(self) -> np.ndarray:
        """The time shifts of shift averaging, in samples ``(shifts.count,)``: evenly spread
        over ``[-max_seconds, +max_seconds]`` (rounded to samples); ``[0]`` for one."""
        count = self.config.shifts.count
        if count == 1:
            return np.zeros(1, np.int32)
        seconds = np.linspace(-1.0, 1.0, count) * self.config.shifts.max_seconds
        return np.rint(seconds * self.config.data.sample_rate).astype(np.int32)

    def log_probabilities(self, variables, batch):
        """``(B, classes)`` log class probabilities of a batch in evaluation mode: the
        log-softmax of the logits, or, for ``shifts.count`` > 1, the log of the softmax
        probabilities averaged over the audio delayed by each of :meth:`shift_offsets`
        (advanced when negative) within its true length (zeros shifted in, nothing wrapped
        around: :func:`~audiojax.data.augment.time_shift`), all shifts in one model call."""
        offsets = self.shift_offsets()
        if len(offsets) == 1:
            return jax.nn.log_softmax(self.logits(variables, batch))
        audio, lengths = batch["audio"], batch["length"]
        (batch_size, samples), count = audio.shape, len(offsets)
        shifts = jnp.broadcast_to(jnp.asarray(offsets)[:, None], (count, batch_size))
        moved = jax.vmap(time_shift, in_axes=(None, None, 0))(audio, lengths, shifts)  # (S, B, T)
        logits = self.logits(variables, {"audio": moved.reshape(count * batch_size, samples),
                                         "length": jnp.tile(lengths, count)})
        return mean_of_probabilities(jax.nn.log_softmax(logits).reshape(count, batch_size, -1))

    def eval_step(self, variables, batch, axis_name):
        return self._scores(self.log_probabilities(variables, batch), batch, axis_name)

    def ensemble_step(self, members):
        """The eval step of ``members`` (this task first, then Classification tasks of runs
        with the same labels) as one model, taking a tuple of their variables: their class
        probabilities (:meth:`log_probabilities`, each with its own config) averaged."""
        def step(variables, batch, axis_name):
            return self._scores(ensemble_log_probabilities(members, variables, batch), batch,
                                axis_name)
        return step

    def _scores(self, log_probs, batch, axis_name):
        """:meth:`eval_step`'s outputs from the batch's ``(B, classes)`` log probabilities."""
        valid = batch["mask"].astype(jnp.float32)
        n = len(self.labels)
        losses = -jnp.take_along_axis(log_probs, batch["label"][:, None], axis=-1)[:, 0]
        guesses = log_probs.argmax(-1)
        confusion = jnp.einsum("b,bi,bj->ij", valid, jax.nn.one_hot(batch["label"], n),
                               jax.nn.one_hot(guesses, n))
        sums = {"loss": (losses * valid).sum(), "count": valid.sum(), "confusion": confusion}
        rows = {"hits": guesses == batch["label"], "mask": batch["mask"],
                "probs": jnp.exp(log_probs), "label": batch["label"]}
        return gather_outputs(sums, rows, axis_name)

    def combine(self, collected: dict | None, out: dict) -> dict:
        """Adds a batch's ``eval_step`` sums; keeps its rows' hits, class probabilities and
        labels (``mask`` rows only) in order."""
        out = dict(jax.device_get(out))
        keep = np.asarray(out["mask"]).reshape(-1)
        probs = np.asarray(out.pop("probs")).reshape(keep.size, -1)[keep]
        labels = np.asarray(out.pop("label")).reshape(-1)[keep]
        merged = combine_hits(collected, out)
        merged["probs"] = (collected["probs"] if collected else []) + [probs]
        merged["labels"] = (collected["labels"] if collected else []) + [labels]
        return merged

    def per_group(self, collected: dict, groups: list[str]) -> dict:
        """``{group: {"accuracy", "count"}}``."""
        return accuracy_per_group(collected, groups)

    def check_source(self, source, where: str) -> None:
        """Refuses a source (e.g. a manifest to evaluate on) holding labels the model lacks."""
        unknown = sorted(set(source.unique_labels()) - set(self.labels))
        if unknown:
            raise ValueError(f"{where}: labels unknown to the model: {', '.join(unknown)} (it knows "
                             f"{len(self.labels)}: {', '.join(self.labels[:10])}"
                             f"{' ...' if len(self.labels) > 10 else ''})")

    def headline(self, metrics: dict) -> str:
        if "det_curve" in metrics:  # the events evaluator's: detection on long recordings
            return detection_headline(metrics)
        low, high = metrics.get("accuracy_ci95", (float("nan"),) * 2)
        return (f"accuracy {metrics['accuracy']:.4f} (95% CI {low:.4f}-{high:.4f}), macro F1 "
                f"{metrics['macro_f1']:.4f}, mAP {metrics['mean_average_precision']:.4f}, "
                f"loss {metrics['loss']:.4f}")

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """The confusion matrix (detection on recordings: the DET-style curve) as a PNG beside
        the metrics file ``output``."""
        if "det_curve" in metrics:
            png = output.with_suffix(".det.png")
            curve = metrics["det_curve"]
            marks = {f"tuned for {rate} FA/h": (m["false_alarms_per_hour"], m["miss_rate"])
                     for rate, m in metrics.get("at_rate", {}).items()}
            plots.detection_curve_png(png, curve["false_alarms_per_hour"], curve["miss_rate"],
                                      marks, title=title)
            return [png]
        png = output.with_suffix(".confusion.png")
        plots.confusion_matrix_png(png, np.array(metrics["confusion_matrix"]), self.labels,
                                   title=f"{title}: accuracy {metrics['accuracy']:.4f}")
        return [png]

    def summarize(self, collected: dict) -> dict:
        """Loss, accuracy with its 95% bootstrap interval over clips, per-class accuracy, macro
        F1, mean average precision (macro, one class against the rest) and the confusion matrix
        (rows: truth)."""
        confusion = np.asarray(collected["confusion"], np.float64)
        count = float(collected["count"])
        true_per_class = confusion.sum(1)
        predicted_per_class = confusion.sum(0)
        hits = np.diag(confusion)
        # sklearn's convention: macro F1 over classes that occur in the truth or the predictions,
        # an undefined precision or recall counting as 0.
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(true_per_class > 0, hits / true_per_class, 0.0)
            precision = np.where(predicted_per_class > 0, hits / predicted_per_class, 0.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        occurs = (true_per_class > 0) | (predicted_per_class > 0)
        mean_ap, per_class_ap = mean_average_precision(
            np.concatenate(collected["probs"]), np.concatenate(collected["labels"]), len(self.labels))
        return {
            "loss": float(collected["loss"]) / max(count, 1.0),
            "accuracy": float(hits.sum()) / max(count, 1.0),
            "accuracy_ci95": list(bootstrap_interval(np.concatenate(collected["hits"]))),
            "macro_f1": float(np.mean(f1[occurs])) if occurs.any() else float("nan"),
            "mean_average_precision": mean_ap,
            "per_class_average_precision": {self.labels[c]: ap for c, ap in per_class_ap.items()},
            "count": int(round(count)),
            "per_class_accuracy": {label: float(r) for label, r, n in
                                   zip(self.labels, recall, true_per_class) if n > 0},
            "confusion_matrix": confusion.astype(int).tolist(),
        }


def detection_headline(metrics: dict) -> str:
    """The events evaluator's metrics in a line: the miss rate at each tuned false-alarm rate
    (or at the fixed threshold), false alarms reached, latency, hours of background."""
    parts = []
    for rate, m in metrics.get("at_rate", {}).items():
        low, high = m["miss_rate_ci95"]
        parts.append(f"miss {100 * m['miss_rate']:.1f}% (95% CI {100 * low:.1f}-{100 * high:.1f}) "
                     f"tuned for {rate} FA/h ({m['false_alarms_per_hour']:.2f} FA/h here, latency "
                     f"median {1000 * m['latency_median_s']:.0f} ms)")
    if not parts:
        parts.append(f"miss {100 * metrics['miss_rate']:.1f}% at threshold {metrics['threshold']:g} "
                     f"({metrics['false_alarms_per_hour']:.2f} FA/h, no tuning events)")
    return "; ".join(parts) + f"; {metrics['background_hours']:.2f} h of background"


def mixup(rng, audio, lengths, targets, mask, alpha: float):
    """Mixup (Zhang et al. 2018) within a batch: example b heard with its neighbour b+1 (the
    batch rolled by one), ``lam * x_b + (1 - lam) * x_b+1`` with ``lam ~ Beta(alpha, alpha)`` per
    example, its targets mixed alike and its length the longer one. A padding neighbour
    (``mask`` False) is not mixed in. ``audio (B, samples)``, ``lengths (B,)``, ``targets
    (B, classes)``, ``mask (B,)`` -> the mixed ``audio, lengths, targets``."""
    lam = jax.random.beta(rng, alpha, alpha, (audio.shape[0],))
    lam = jnp.where(jnp.roll(mask, -1), jnp.maximum(lam, 1.0 - lam), 1.0)  # b's own sound leads
    other = lambda x: jnp.roll(x, -1, axis=0)  # noqa: E731
    mixed = lam[:, None] * audio + (1.0 - lam[:, None]) * other(audio)
    mixed_lengths = jnp.where(lam < 1.0, jnp.maximum(lengths, other(lengths)), lengths)
    return (mixed.astype(audio.dtype), mixed_lengths,
            lam[:, None] * targets + (1.0 - lam[:, None]) * other(targets))


def mean_of_probabilities(log_probs):
    """``(K, B, classes)`` log probabilities -> ``(B, classes)``: the log of their mean over the
    first axis (computed in the log domain)."""
    return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(log_probs.shape[0])


def ensemble_log_probabilities(tasks, variables, batch):
    """``(B, classes)`` log of the class probabilities of a batch averaged over ``tasks``
    (Classification tasks of runs with the same labels), ``variables`` holding each one's;
    a single task's own :meth:`Classification.log_probabilities`."""
    if len(tasks) == 1:
        return tasks[0].log_probabilities(variables[0], batch)
    return mean_of_probabilities(jnp.stack([t.log_probabilities(v, batch)
                                            for t, v in zip(tasks, variables)]))
