"""Clip classification (keyword spotting, events, genres): cross-entropy, accuracy, confusion."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax import plots
from audiojax.data.augment import augment_waveforms
from audiojax.models import get_model
from audiojax.train.parallel import example_index


def masked_mean(values, mask, axis_name):
    """Mean of ``values`` over rows with ``mask`` across the global batch. Under pmap the
    per-device results average (``pmean``) to the global mean, whatever each device holds."""
    count = mask.sum()
    if axis_name is not None:
        count = jax.lax.pmean(count, axis_name)
    return (values * mask).sum() / jnp.maximum(count, 1.0)


def augment_batch(config, rng, audio, lengths, axis_name):
    """``config.augment``'s waveform augmentation of a batch; returns ``(audio, lengths, keys)``
    with one PRNG key per example (for feature-level augmentation drawn from the same keys)."""
    cfg = config.augment
    # One key per global example index, so a device split gives the same augmentation.
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(example_index(audio.shape[0], axis_name))
    speed = tuple(cfg.speed)
    if not (cfg.gain_db or cfg.max_shift_seconds or cfg.noise_prob or speed != (1.0, 1.0)):
        return audio, lengths, keys
    audio, lengths = augment_waveforms(
        keys, audio, lengths, gain_db=cfg.gain_db,
        max_shift=int(cfg.max_shift_seconds * config.data.sample_rate),
        noise_prob=cfg.noise_prob, snr_db=tuple(cfg.snr_db),
        speed=None if speed == (1.0, 1.0) else speed)
    return audio, lengths, keys


class Classification:
    """Batches ``{"audio" (B, samples) f32, "length" (B,) i32, "label" (B,) i32, "mask" (B,) bool}``;
    rows with ``mask == False`` (padding, skipped bad examples) count for nothing."""

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        self.config = config
        self.labels = list(labels)
        self.label_to_id = {name: i for i, name in enumerate(self.labels)}  # for the loader
        kwargs = dict(config.model.to_dict())
        name = kwargs.pop("name")
        if config.get("compute_dtype", "float32") == "bfloat16":
            kwargs["dtype"] = jnp.bfloat16
        if config.parallel == "pmap":
            kwargs["axis_name"] = "data"  # BatchNorm statistics over the global batch
        self.model = get_model(name, num_classes=len(self.labels), **kwargs)

    def init(self, rng: jax.Array, batch: dict) -> dict:
        model = self.model.clone(axis_name=None) if hasattr(self.model, "axis_name") else self.model
        return model.init(rng, batch["audio"], batch["length"], train=False)

    def loss(self, params, batch_stats, batch, rng, axis_name):
        audio, lengths, keys = augment_batch(self.config, rng, batch["audio"], batch["length"],
                                             axis_name)
        # Models with feature-level augmentation (SpecAugment) draw it from the same keys.
        extra = {"augment_keys": keys} if getattr(self.model, "feature_augment", False) else {}
        logits, updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats}, audio, lengths,
            train=True, mutable=["batch_stats"], **extra)
        targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], len(self.labels)),
                                      self.config.get("label_smoothing", 0.0))
        mask = batch["mask"].astype(jnp.float32)
        loss = masked_mean(optax.softmax_cross_entropy(logits, targets), mask, axis_name)
        accuracy = masked_mean((logits.argmax(-1) == batch["label"]).astype(jnp.float32), mask, axis_name)
        return loss, (updates.get("batch_stats", {}), {"loss": loss, "accuracy": accuracy})

    def logits(self, variables, batch):
        return self.model.apply(variables, batch["audio"], batch["length"], train=False)

    def eval_step(self, variables, batch, axis_name):
        logits = self.logits(variables, batch)
        valid = batch["mask"].astype(jnp.float32)
        n = len(self.labels)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        confusion = jnp.einsum("b,bi,bj->ij", valid, jax.nn.one_hot(batch["label"], n),
                               jax.nn.one_hot(logits.argmax(-1), n))
        sums = {"loss": (losses * valid).sum(), "count": valid.sum(), "confusion": confusion}
        rows = {"hits": logits.argmax(-1) == batch["label"], "mask": batch["mask"]}
        if axis_name is not None:
            sums = jax.lax.psum(sums, axis_name)
            rows = jax.lax.all_gather(rows, axis_name, tiled=True)  # the whole batch's rows
        return {**sums, **rows}

    def combine(self, sums: dict | None, out: dict) -> dict:
        """Adds a batch's ``eval_step`` sums; keeps its rows' hits (``mask`` rows only) in order."""
        out = jax.device_get(out)
        hits = np.asarray(out.pop("hits")).reshape(-1)[np.asarray(out.pop("mask")).reshape(-1)]
        if sums is None:
            return {**out, "hits": [hits]}
        return {**{k: sums[k] + out[k] for k in out}, "hits": sums["hits"] + [hits]}

    def per_group(self, sums: dict, groups: list[str]) -> dict:
        """``{group: {"accuracy", "count"}}``, ``groups`` naming each evaluated row's (in order):
        its speaker, its recording condition."""
        hits = np.concatenate(sums["hits"])
        members: dict[str, list[int]] = {}
        for i, group in enumerate(groups):
            members.setdefault(group, []).append(i)
        return {g: {"accuracy": float(hits[idx].mean()), "count": len(idx)}
                for g, idx in sorted(members.items())}

    def check_source(self, source, where: str) -> None:
        """Refuses a source (e.g. a manifest to evaluate on) holding labels the model lacks."""
        unknown = sorted(set(source.unique_labels()) - set(self.labels))
        if unknown:
            raise ValueError(f"{where}: labels unknown to the model: {', '.join(unknown)} (it knows "
                             f"{len(self.labels)}: {', '.join(self.labels[:10])}"
                             f"{' ...' if len(self.labels) > 10 else ''})")

    def headline(self, metrics: dict) -> str:
        return (f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}, "
                f"loss {metrics['loss']:.4f}")

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """The confusion matrix as a PNG beside the metrics file ``output``."""
        png = output.with_suffix(".confusion.png")
        plots.confusion_matrix_png(png, np.array(metrics["confusion_matrix"]), self.labels,
                                   title=f"{title}: accuracy {metrics['accuracy']:.4f}")
        return [png]

    def summarize(self, sums: dict) -> dict:
        """Loss, accuracy, per-class accuracy, macro F1 and the confusion matrix (rows: truth)."""
        confusion = np.asarray(sums["confusion"], np.float64)
        count = float(sums["count"])
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
        return {
            "loss": float(sums["loss"]) / max(count, 1.0),
            "accuracy": float(hits.sum()) / max(count, 1.0),
            "macro_f1": float(np.mean(f1[occurs])) if occurs.any() else float("nan"),
            "count": int(round(count)),
            "per_class_accuracy": {label: float(r) for label, r, n in
                                   zip(self.labels, recall, true_per_class) if n > 0},
            "confusion_matrix": confusion.astype(int).tolist(),
        }
