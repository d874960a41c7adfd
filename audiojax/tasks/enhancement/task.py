"""Speech enhancement: a model maps a noisy mixture to the clean speech in it, trained on the
negative scale-invariant SDR of its estimate (Le Roux et al. 2019), evaluated by SI-SDR and its
improvement over the mixture (SI-SDRi), SDR, PESQ and STOI.

A model is a linen module called as ``model(mixture (B, samples), lengths (B,), *, train) ->
(B, num_sources, samples)`` (:mod:`audiojax.models.separation`); enhancement takes source 0 as
the speech (``num_sources`` 1). Batches hold ``audio`` (the mixture) and ``clean`` (the target,
sample for sample), read from manifests ``mixture<TAB>clean``. ``targets`` names the reference
signals, so a task with several sources (separation, scored by the best of their orderings,
:func:`~audiojax.tasks.enhancement.metrics.pit_si_sdr`) can build on this one.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax import plots
from audiojax.data.manifest import Column
from audiojax.masking import masked_mean
from audiojax.tasks.base import Task, bootstrap_interval, gather_outputs, per_group_rows
from audiojax.tasks.enhancement import metrics as M


class Enhancement(Task):
    """See the module docstring. ``labels`` is empty: there are no classes."""

    columns = (Column("audio", "audio", title="mixture"), Column("clean", "audio"))
    provides = ("num_sources",)
    # data.max_seconds: evaluation scores a record's centre this long; raised, longer recordings
    # (real ones) are scored whole.
    inference_keys = Task.inference_keys + ("data.max_seconds", "enhance.perceptual_stride",
                                            "enhance.plot_examples", "enhance.segment_seconds")
    targets = ("clean",)  # the batch keys of the reference sources, in the model's order

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.enhance = ml_collections.ConfigDict()
        c.enhance.perceptual_stride = 1      # evaluation: PESQ, STOI, SDR on every k-th example
                                             # (in order of length: all lengths); 0: none
        c.enhance.plot_examples = 3          # evaluation: spectrogram PNGs of this many first
        c.enhance.segment_seconds = 8.0      # inference: longer inputs go in overlapping segments
        return c

    @classmethod
    def labels_for(cls, config: ml_collections.ConfigDict) -> list[str]:
        return []

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        e = config.enhance
        if e.perceptual_stride < 0 or e.plot_examples < 0:
            raise ValueError("config.enhance: perceptual_stride and plot_examples >= 0")
        if e.segment_seconds <= 0:
            raise ValueError(f"config.enhance.segment_seconds={e.segment_seconds}: must be positive")

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        super().__init__(config, labels)
        self.model = self.build_model(num_sources=len(self.targets))

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        spec = self.audio_spec(batch_size)
        return {**spec, **{k: spec["audio"] for k in self.targets}}

    def init(self, rng: jax.Array, batch: dict) -> dict:
        return self.model.init(rng, batch["audio"], batch["length"], train=False)

    def references(self, batch: dict) -> jax.Array:
        """``(B, num_sources, samples)``: the target signals of a batch."""
        return jnp.stack([batch[k] for k in self.targets], axis=1)

    def align(self, estimates: jax.Array, references: jax.Array, lengths: jax.Array
              ) -> tuple[jax.Array, jax.Array]:
        """``(estimates in the references' order (B, S, samples), SI-SDR in dB of each example,
        mean over its sources (B,))``: the model's order (a task of interchangeable sources
        picks the best, :class:`~audiojax.tasks.separation.task.Separation`)."""
        return estimates, M.si_sdr(estimates, references, lengths).mean(axis=1)

    def apply(self, variables, batch, train: bool, **kwargs):
        return self.model.apply(variables, batch["audio"], batch["length"], train=train, **kwargs)

    def training_batch(self, batch: dict, rng: jax.Array) -> dict:
        """The batch a training step learns from: this one (a task may remix it)."""
        return batch

    def loss(self, params, batch_stats, batch, rng, axis_name):
        variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
        batch = self.training_batch(batch, rng)
        estimates, updates = self.apply(variables, batch, train=True, mutable=["batch_stats"])
        _, si_sdr = self.align(estimates, self.references(batch), batch["length"])
        loss = -masked_mean(si_sdr, batch["mask"], axis_name=axis_name)
        return loss, (updates.get("batch_stats", {}), {"loss": loss, "si_sdr": -loss})

    def estimate(self, variables, batch) -> jax.Array:
        """``(B, num_sources, samples)`` estimates in evaluation mode, in the model's order."""
        return self.apply(variables, batch, train=False)

    def eval_step(self, variables, batch, axis_name):
        """Per example: the estimate's and the mixture's SI-SDR, and the waveforms (the host
        computes PESQ, STOI and SDR of every ``enhance.perceptual_stride``-th)."""
        references = self.references(batch)
        lengths = batch["length"]
        estimates, si_sdr = self.align(self.estimate(variables, batch), references, lengths)
        mixture = jnp.broadcast_to(batch["audio"][:, None], references.shape)
        valid = batch["mask"].astype(jnp.float32)
        sums = {"loss": -(si_sdr * valid).sum(), "count": valid.sum()}
        rows = {"si_sdr": si_sdr, "si_sdr_mixture": M.si_sdr(mixture, references, lengths).mean(1),
                "estimate": estimates, "reference": references, "mixture": batch["audio"],
                "length": lengths, "mask": batch["mask"]}
        return gather_outputs(sums, rows, axis_name)

    def combine(self, collected: dict | None, out: dict) -> dict:
        """Sums, each valid row's SI-SDRs, the host metrics of every ``perceptual_stride``-th
        row, the waveforms of the first ``plot_examples`` rows and how many rows filled the
        crop (``data.max_seconds``: longer records are scored on their centre)."""
        out = jax.device_get(out)
        collected = collected or {"loss": 0.0, "count": 0.0, "si_sdr": [], "si_sdr_mixture": [],
                                  "perceptual": [], "examples": [], "at_max_seconds": 0}
        collected["loss"] += float(out["loss"])
        collected["count"] += float(out["count"])
        e, sr = self.config.enhance, self.config.data.sample_rate
        crop = int(round(self.config.data.max_seconds * sr))
        for i in np.flatnonzero(np.asarray(out["mask"]).reshape(-1)):
            n = int(out["length"][i])
            collected["at_max_seconds"] += n >= crop
            collected["si_sdr"].append(float(out["si_sdr"][i]))
            collected["si_sdr_mixture"].append(float(out["si_sdr_mixture"][i]))
            est, ref, mix = out["estimate"][i, :, :n], out["reference"][i, :, :n], out["mixture"][i, :n]
            if e.perceptual_stride and (len(collected["si_sdr"]) - 1) % e.perceptual_stride == 0:
                collected["perceptual"].append(M.sources_metrics(est, ref, mix, sr))
            if len(collected["examples"]) < e.plot_examples:
                collected["examples"].append({"mixture": mix, "estimate": est, "reference": ref})
        return collected

    def summarize(self, collected: dict) -> dict:
        """Means and medians of SI-SDR and SI-SDRi over all examples (95% bootstrap interval of
        the mean SI-SDRi), of SDR(i), PESQ and STOI (and their changes from the mixture) over
        every ``enhance.perceptual_stride``-th example."""
        si_sdr = np.array(collected["si_sdr"])
        si_sdri = si_sdr - np.array(collected["si_sdr_mixture"])
        count = float(collected["count"])
        out = {"loss": float(collected["loss"]) / max(count, 1.0), "count": int(round(count)),
               "si_sdr": float(si_sdr.mean()), "si_sdr_median": float(np.median(si_sdr)),
               "si_sdri": float(si_sdri.mean()), "si_sdri_median": float(np.median(si_sdri)),
               "si_sdri_ci95": list(bootstrap_interval(si_sdri)),
               "at_max_seconds": int(collected["at_max_seconds"])}
        if collected["perceptual"]:
            summary = M.summarize_examples(collected["perceptual"])
            out["perceptual"] = summary
            out.update({k: summary[k]["mean"] for k in ("pesq", "pesq_delta", "stoi",
                                                          "stoi_delta", "sdr", "sdri")
                        if k in summary})
        out["plot_data"] = collected["examples"]
        return out

    def per_group(self, collected: dict, groups: list[str]) -> dict:
        si_sdri = np.array(collected["si_sdr"]) - np.array(collected["si_sdr_mixture"])
        return per_group_rows(groups, lambda idx: {"si_sdri": float(si_sdri[idx].mean()),
                                                   "si_sdri_median": float(np.median(si_sdri[idx]))})

    def headline(self, metrics: dict) -> str:
        low, high = metrics["si_sdri_ci95"]
        text = (f"SI-SDRi {metrics['si_sdri']:.2f} dB (95% CI {low:.2f}-{high:.2f}; median "
                f"{metrics['si_sdri_median']:.2f}), SI-SDR {metrics['si_sdr']:.2f} dB")
        if "pesq" in metrics:
            text += (f", PESQ {metrics['pesq']:.2f} ({metrics['pesq_delta']:+.2f}), STOI "
                     f"{metrics['stoi']:.3f} ({metrics['stoi_delta']:+.3f})")
        if metrics.get("at_max_seconds"):
            text += (f"; {metrics['at_max_seconds']} records reach data.max_seconds="
                     f"{self.config.data.max_seconds:g} s and were scored on their centre that "
                     f"long (--config.data.max_seconds=S scores them whole)")
        return text

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """Spectrograms of mixture, estimate and reference of the first examples."""
        files = []
        for k, ex in enumerate(metrics.get("plot_data") or []):
            path = output.with_name(f"{output.stem}.example{k}.png")
            signals = {"mixture": ex["mixture"]}
            for s, (est, ref) in enumerate(zip(ex["estimate"], ex["reference"])):
                name = self.targets[s]
                signals[f"estimate ({name})"], signals[f"reference ({name})"] = est, ref
            plots.spectrograms_png(path, signals, self.config.data.sample_rate,
                                   title=f"{title}: example {k}")
            files.append(path)
        return files
