"""A task, a model, a source and a command that live outside audiojax, named by dotted path.

What a researcher writes to try a new task with audiojax's unchanged trainer and CLI: pitch
classes of synthetic tones (no speech synthesizer needed), a tiny linen model over log-power
spectra, an in-memory source (``python:toy_task:source``) and one inference command, ``toyscore``,
offered through the entry-point group ``audiojax.commands`` (tests write its ``dist-info``).
"""

from __future__ import annotations

import argparse

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax.masking import masked_mean
from audiojax.tasks.base import Task
from audiojax.tasks.commands import Command, add_run_arguments, overrides_from

RATE = 8000
CLASSES = ("low", "mid", "high")
HZ = {"low": 300.0, "mid": 900.0, "high": 2000.0}


class ToneSource:
    """``count`` seeded tones per split: a random class's frequency (+- 5%), random phase and
    level, noise, 0.15-0.25 s at 8 kHz, in memory."""

    labels = list(CLASSES)
    sample_rate = RATE
    signals: dict = {}

    def __init__(self, split: str, count: int = 24):
        self.split = split
        rng = np.random.default_rng({"train": 0, "validation": 1, "test": 2}[split])
        self.records = []
        for i in range(count):
            label = CLASSES[i % len(CLASSES)]
            n = int(rng.integers(int(0.15 * RATE), int(0.25 * RATE)))
            f = HZ[label] * rng.uniform(0.95, 1.05)
            t = np.arange(n) / RATE
            y = rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
            y = (y + 0.02 * rng.standard_normal(n)).astype(np.float32)
            self.records.append({"audio": y, "sample_rate": RATE, "label": label,
                                 "speaker": f"s{i % 2}", "id": f"{split}/{i}",
                                 "origin": f"toy:{split}[{i}]"})

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        return self.records[int(index)]

    def unique_labels(self):
        return sorted({r["label"] for r in self.records})

    def __repr__(self):
        return f"ToneSource({self.split!r}, n={len(self)})"


def source(split: str) -> ToneSource:
    return ToneSource(split)


class TinyNet(nn.Module):
    """Log-power spectra of 32 ms frames, masked mean over frames, two dense layers."""

    num_classes: int
    hidden: int = 16
    frame: int = 256

    @nn.compact
    def __call__(self, audio, lengths):
        frames = audio[:, : audio.shape[1] // self.frame * self.frame].reshape(
            audio.shape[0], -1, self.frame)
        power = jnp.log(jnp.abs(jnp.fft.rfft(frames, axis=-1)) ** 2 + 1e-6)
        valid = jnp.arange(frames.shape[1])[None] < jnp.maximum(lengths // self.frame, 1)[:, None]
        pooled = masked_mean(power, valid, axis=1)
        return nn.Dense(self.num_classes)(nn.relu(nn.Dense(self.hidden)(pooled)))


class ToyTask(Task):
    """Cross-entropy on the tone classes; metrics: loss, accuracy, count."""

    provides = ("num_classes",)

    @classmethod
    def config_defaults(cls):
        c = ml_collections.ConfigDict()
        c.toy_margin = 0.0   # a key of the task's own, to show it is declared like any other
        return c

    def __init__(self, config, labels):
        super().__init__(config, labels)
        self.label_to_id = {name: i for i, name in enumerate(self.labels)}
        self.model = self.build_model(num_classes=len(self.labels))

    def example_spec(self, batch_size):
        return {**self.audio_spec(batch_size), "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32)}

    def init(self, rng, batch):
        return self.model.init(rng, batch["audio"], batch["length"])

    def logits(self, variables, batch):
        return self.model.apply({"params": variables["params"]}, batch["audio"], batch["length"])

    def log_probabilities(self, variables, batch):  # what `predict` scores clips by
        return jax.nn.log_softmax(self.logits(variables, batch))

    def loss(self, params, batch_stats, batch, rng, axis_name):
        logits = self.model.apply({"params": params}, batch["audio"], batch["length"])
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        loss = masked_mean(losses + self.config.toy_margin, batch["mask"], axis_name=axis_name)
        accuracy = masked_mean((logits.argmax(-1) == batch["label"]).astype(jnp.float32),
                               batch["mask"], axis_name=axis_name)
        return loss, (batch_stats, {"loss": loss, "accuracy": accuracy})

    def eval_step(self, variables, batch, axis_name):
        logits = self.logits(variables, batch)
        valid = batch["mask"].astype(jnp.float32)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        sums = {"loss": (losses * valid).sum(), "hits": ((logits.argmax(-1) == batch["label"]) * valid).sum(),
                "count": valid.sum()}
        return jax.lax.psum(sums, axis_name) if axis_name else sums

    def summarize(self, collected):
        count = float(collected["count"])
        return {"loss": float(collected["loss"]) / count, "accuracy": float(collected["hits"]) / count,
                "count": int(count)}


# -- the command, offered through an entry point ------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--split", default="test")


def run(args, runs) -> int:
    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, ()))
    data = ToneSource(args.split)
    window = int(trained.config.data.max_seconds * RATE)
    audio = np.zeros((len(data), window), np.float32)
    lengths = np.zeros(len(data), np.int32)
    for i, record in enumerate(data.records):
        n = min(window, len(record["audio"]))
        audio[i, :n], lengths[i] = record["audio"][:n], n
    guesses = np.asarray(trained.task.logits(trained.variables, {"audio": audio, "length": lengths})).argmax(-1)
    hits = sum(trained.labels[g] == r["label"] for g, r in zip(guesses, data.records))
    print(f"toyscore {hits}/{len(data)}")
    return 0


COMMANDS = (Command("toyscore", "accuracy of a toy run on its tones", "toy_task", task="toy_task:ToyTask"),)


def get_config(variant=None):
    """The toy experiment (``audiojax train --config tests/toy_task.py --workdir W``)."""
    from audiojax.train.defaults import base_config

    c = base_config("toy_task:ToyTask", "toy_task:TinyNet")
    c.data.source = "python:toy_task:source"
    c.data.sample_rate = RATE
    c.data.max_seconds = 0.25
    c.data.num_workers = 0
    c.batch_size = 8
    c.learning_rate = 0.01
    c.num_train_steps = 12
    c.log_every_steps = 2
    c.checkpoint_every_steps = 3
    c.evals.validation.every_steps = 3
    return c
