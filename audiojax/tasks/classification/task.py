"""Clip classification (keyword spotting, events, genres): cross-entropy, accuracy, confusion.

A clip classifier is a linen module with a ``num_classes`` field, called as
``model(audio (B, samples), lengths (B,), *, train, augment_keys=None) -> logits (B, classes)``
(``augment_keys``: one PRNG key per example for feature-level augmentation in training).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax import plots
from audiojax.masking import masked_mean
from audiojax.tasks.augment import augment_batch, augment_defaults
from audiojax.tasks.base import Task, bootstrap_interval, per_group_rows


class Classification(Task):
    """Batches ``{"audio" (B, samples) f32, "length" (B,) i32, "label" (B,) i32, "mask" (B,) bool}``;
    rows with ``mask == False`` (padding, skipped bad examples) count for nothing."""

    provides = ("num_classes",)
    # Test-time centring is an ablation of a run trained without it (and back).
    inference_keys = Task.inference_keys + ("data.center",)

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.label_smoothing = 0.0
        c.augment = augment_defaults()
        return c

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        super().__init__(config, labels)
        self.label_to_id = {name: i for i, name in enumerate(self.labels)}  # for the loader
        self.model = self.build_model(num_classes=len(self.labels))

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return {**self.audio_spec(batch_size),
                "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32)}

    def init(self, rng: jax.Array, batch: dict) -> dict:
        # Outside pmap there is no device axis for BatchNorm to average over.
        model = self.model.clone(axis_name=None) if hasattr(self.model, "axis_name") else self.model
        return model.init(rng, batch["audio"], batch["length"], train=False)

    def loss(self, params, batch_stats, batch, rng, axis_name):
        audio, lengths, keys = augment_batch(self.config, rng, batch["audio"], batch["length"],
                                             axis_name)
        logits, updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats}, audio, lengths,
            train=True, mutable=["batch_stats"], augment_keys=keys)
        targets = optax.smooth_labels(jax.nn.one_hot(batch["label"], len(self.labels)),
                                      self.config.label_smoothing)
        mask = batch["mask"]
        loss = masked_mean(optax.softmax_cross_entropy(logits, targets), mask, axis_name=axis_name)
        hits = (logits.argmax(-1) == batch["label"]).astype(jnp.float32)
        accuracy = masked_mean(hits, mask, axis_name=axis_name)
        return loss, (updates.get("batch_stats", {}), {"loss": loss, "accuracy": accuracy})

    def logits(self, variables, batch):
        """``(B, classes)`` logits of a batch in evaluation mode."""
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

    def combine(self, collected: dict | None, out: dict) -> dict:
        """Adds a batch's ``eval_step`` sums; keeps its rows' hits (``mask`` rows only) in order."""
        out = jax.device_get(out)
        hits = np.asarray(out.pop("hits")).reshape(-1)[np.asarray(out.pop("mask")).reshape(-1)]
        if collected is None:
            return {**out, "hits": [hits]}
        return {**{k: collected[k] + out[k] for k in out}, "hits": collected["hits"] + [hits]}

    def per_group(self, collected: dict, groups: list[str]) -> dict:
        """``{group: {"accuracy", "count"}}``."""
        hits = np.concatenate(collected["hits"])
        return per_group_rows(groups, lambda idx: {"accuracy": float(hits[idx].mean())})

    def check_source(self, source, where: str) -> None:
        """Refuses a source (e.g. a manifest to evaluate on) holding labels the model lacks."""
        unknown = sorted(set(source.unique_labels()) - set(self.labels))
        if unknown:
            raise ValueError(f"{where}: labels unknown to the model: {', '.join(unknown)} (it knows "
                             f"{len(self.labels)}: {', '.join(self.labels[:10])}"
                             f"{' ...' if len(self.labels) > 10 else ''})")

    def headline(self, metrics: dict) -> str:
        low, high = metrics.get("accuracy_ci95", (float("nan"),) * 2)
        return (f"accuracy {metrics['accuracy']:.4f} (95% CI {low:.4f}-{high:.4f}), macro F1 "
                f"{metrics['macro_f1']:.4f}, loss {metrics['loss']:.4f}")

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """The confusion matrix as a PNG beside the metrics file ``output``."""
        png = output.with_suffix(".confusion.png")
        plots.confusion_matrix_png(png, np.array(metrics["confusion_matrix"]), self.labels,
                                   title=f"{title}: accuracy {metrics['accuracy']:.4f}")
        return [png]

    def summarize(self, collected: dict) -> dict:
        """Loss, accuracy with its 95% bootstrap interval over clips, per-class accuracy, macro
        F1 and the confusion matrix (rows: truth)."""
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
        return {
            "loss": float(collected["loss"]) / max(count, 1.0),
            "accuracy": float(hits.sum()) / max(count, 1.0),
            "accuracy_ci95": list(bootstrap_interval(np.concatenate(collected["hits"]))),
            "macro_f1": float(np.mean(f1[occurs])) if occurs.any() else float("nan"),
            "count": int(round(count)),
            "per_class_accuracy": {label: float(r) for label, r, n in
                                   zip(self.labels, recall, true_per_class) if n > 0},
            "confusion_matrix": confusion.astype(int).tolist(),
        }
