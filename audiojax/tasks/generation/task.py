"""Waveform generation (WaveNet, SampleRNN): next-sample likelihood under teacher forcing.

Targets come from the batch audio on device (mu-law codes, or floats for a mixture output);
the model sees the previous samples; the cross-entropy is averaged over the samples within
each clip's true length. ``config.generation.condition`` says what the model is given:
``none``, ``label`` (the clip's class id: a word-conditioned model) or ``mel`` (the log-mel of
the same audio, computed on device: a vocoder).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.data.sources import labels_of
from audiojax.data.splits import open_split
from audiojax.frontends import LogMel
from audiojax.masking import masked_mean
from audiojax.tasks.base import Task

CONDITIONS = ("none", "label", "mel")


class MelCondition(nn.Module):
    """The vocoder's condition: log-mel ``(batch, samples)`` -> ``(batch, frames, n_mels)``,
    dB relative to each clip's loudest bin, clipped at -80 dB and scaled to [-1, 1]."""

    sample_rate: int = 16000
    n_mels: int = 80
    hop_length: int = 160

    @nn.compact
    def __call__(self, audio: jax.Array) -> jax.Array:
        db = LogMel(sample_rate=self.sample_rate, n_mels=self.n_mels, hop_length=self.hop_length,
                    top_db=80.0)(audio)
        return (db - db.max(axis=(-2, -1), keepdims=True)) / 40.0 + 1.0


def shift_right(targets: jax.Array, start: jax.Array) -> jax.Array:
    """``(batch, samples)`` targets -> the model's inputs: ``start`` ``(batch,)``, then
    ``targets[:, :-1]`` (the input at ``t`` is the sample at ``t - 1``)."""
    return jnp.concatenate([start[:, None].astype(targets.dtype), targets[:, :-1]], axis=1)


class Generation(Task):
    """Batches ``{"audio" (B, samples) f32, "length" (B,) i32, "mask" (B,) bool}`` plus
    ``"label" (B,) i32`` when word-conditioned. Metrics: ``loss`` (nats per sample) and
    ``nll_bits_per_sample``."""

    provides = ("num_global", "local_features")

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.generation = ml_collections.ConfigDict(
            dict(condition="none", n_mels=80, hop_length=160))  # CONDITIONS; the vocoder's mel
        return c

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        if config.generation.condition not in CONDITIONS:
            raise ValueError(f"config.generation.condition: unknown {config.generation.condition!r}; "
                             f"known: {', '.join(CONDITIONS)}")

    @classmethod
    def labels_for(cls, config: ml_collections.ConfigDict) -> list[str]:
        """The class labels a run keeps: the corpus's words for word conditioning, else none
        (a vocoder on `sentences` needs no list of every transcript)."""
        if config.generation.condition != "label":
            return []
        return labels_of(open_split(config, "train", cls.columns))

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        self.check_config(config)
        gen = config.generation
        self.condition = gen.condition
        super().__init__(config, labels if self.condition == "label" else [])
        # Class ids only for word conditioning; otherwise labels (transcripts) stay strings.
        self.label_to_id = {name: i for i, name in enumerate(self.labels)} if self.labels else None
        self.mel = MelCondition(config.data.sample_rate, gen.n_mels, gen.hop_length)
        self.model = self.build_model(
            num_global=len(self.labels) if self.condition == "label" else 0,
            local_features=self.mel.n_mels if self.condition == "mel" else 0)
        if self.condition == "mel" and self.model.hop_length != self.mel.hop_length:
            raise ValueError(f"config.model.upsample_factors multiply to {self.model.hop_length}, "
                             f"but the mel hop_length is {self.mel.hop_length}")
        self.dist = self.model.dist

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        spec = self.audio_spec(batch_size)
        if self.condition == "label":
            spec["label"] = jax.ShapeDtypeStruct((batch_size,), jnp.int32)
        return spec

    def conditions(self, batch: dict) -> dict:
        """The model's condition keywords for a batch (or for generation: ``label`` alone)."""
        if self.condition == "label":
            return {"global_id": batch["label"]}
        if self.condition == "mel":
            return {"local": self.mel.apply({}, batch["audio"])}
        return {}

    def _nll(self, params, batch):
        """``(batch, samples)`` negative log-likelihood (nats) and validity weights."""
        targets = self.dist.targets(batch["audio"])
        inputs = shift_right(targets, self.model.start_input(targets.shape[0]))
        out = self.model.apply({"params": params}, inputs, **self.conditions(batch))
        nll = -self.dist.log_prob(out, targets)
        valid = ((jnp.arange(targets.shape[1])[None, :] < batch["length"][:, None])
                 & batch["mask"][:, None]).astype(jnp.float32)
        return nll, valid

    def init(self, rng: jax.Array, batch: dict) -> dict:
        audio = batch["audio"]
        targets = self.dist.targets(audio)
        return self.model.init(rng, shift_right(targets, self.model.start_input(audio.shape[0])),
                               **self.conditions(batch))

    def loss(self, params, batch_stats, batch, rng, axis_name):
        nll, valid = self._nll(params, batch)
        loss = masked_mean(nll, valid, axis_name=axis_name)
        return loss, (batch_stats, {"loss": loss, "nll_bits_per_sample": loss / np.log(2)})

    def eval_step(self, variables, batch, axis_name):
        nll, valid = self._nll(variables["params"], batch)
        sums = {"nll": (nll * valid).sum(), "samples": valid.sum(),
                "count": batch["mask"].astype(jnp.float32).sum()}
        if axis_name is not None:
            sums = jax.lax.psum(sums, axis_name)
        return sums

    def summarize(self, sums: dict) -> dict:
        loss = float(sums["nll"]) / max(float(sums["samples"]), 1.0)
        return {"loss": loss, "nll_bits_per_sample": loss / np.log(2),
                "samples": int(round(float(sums["samples"]))), "count": int(round(float(sums["count"])))}

    def check_source(self, source, where: str) -> None:
        """A word-conditioned model can only score words it was trained on."""
        if self.condition != "label":
            return
        unknown = sorted(set(source.unique_labels()) - set(self.labels))
        if unknown:
            raise ValueError(f"{where}: labels unknown to the model: {', '.join(unknown)}")

    def headline(self, metrics: dict) -> str:
        return (f"{metrics['nll_bits_per_sample']:.4f} bits/sample (NLL {metrics['loss']:.4f} "
                f"nats, {metrics['samples']} samples)")

