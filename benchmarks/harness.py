"""What several benchmarks share: the machine's name, and an experiment's compiled training
step on a batch of random data (the trainer's own state, optimizer and step, no loader)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return f"{names[0]} ({len(names)} cores)"
    except OSError:
        return platform.processor() or "unknown CPU"


def machine() -> str:
    device = jax.devices()[0]
    return f"{cpu_name()}; jax {jax.__version__} on {device.platform} ({device.device_kind} x {jax.device_count()})"


def random_batch(task, batch_size: int, seed: int = 0) -> dict:
    """A batch of the task's example spec: noise at -20 dBFS for audio, random labels and
    tokens, full lengths, every row valid."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, spec in task.example_spec(batch_size).items():
        if key == "mask":
            out[key] = np.ones(spec.shape, bool)
        elif key == "length":
            out[key] = np.full(spec.shape, task.example_spec(1)["audio"].shape[-1], spec.dtype)
        elif jnp.issubdtype(spec.dtype, jnp.floating):
            out[key] = (0.1 * rng.standard_normal(spec.shape)).astype(spec.dtype)
        else:
            high = max(2, len(getattr(task, "labels", ())) or 2)
            out[key] = rng.integers(1, high, spec.shape).astype(spec.dtype)
    return out


class ExperimentStep:
    """An experiment config's training step, compiled for ``config.parallel`` over every
    device, with its state: ``run(batch)`` steps once (async); ``cost(batch)`` the FLOPs of a
    step from XLA's cost analysis (None where the backend gives none)."""

    def __init__(self, config, labels, cache=None):
        from audiojax.tasks import task_class
        from audiojax.train.loop import initial_state, optimizer_for
        from audiojax.train.parallel import DataParallel
        from audiojax.train.step import make_train_step

        self.config = config
        self.task = task_class(config.task)(config, labels)
        self.parallel = DataParallel(config.parallel)
        tx, schedule = optimizer_for(config, steps_per_epoch=1000)
        local = self.parallel.check_batch_size(config.batch_size)
        self.state = self.parallel.put_state(initial_state(config, self.task, tx, local))
        step = make_train_step(self.task, tx, schedule)
        self.step = self.parallel.compile_train_step(step, cache=cache)
        self.compile_seconds = None
        self._jit_step = step

    def put(self, batch: dict):
        from audiojax.data.pipeline import numeric

        return self.parallel.put_batch(numeric(batch))

    def run(self, placed_batch):
        start = time.perf_counter()
        self.state, metrics = self.step(self.state, placed_batch)
        if self.compile_seconds is None:
            jax.block_until_ready(metrics)
            self.compile_seconds = time.perf_counter() - start
        return metrics

    def cost(self, placed_batch) -> float | None:
        """FLOPs of one step (jit mode), from the compiled executable's cost analysis."""
        if self.config.parallel != "jit":
            return None
        fn = jax.jit(lambda s, b: self._jit_step(s, b, None))
        try:
            analysis = fn.lower(self.state, placed_batch).compile().cost_analysis()
        except Exception:  # noqa: BLE001 (a backend without cost analysis)
            return None
        if isinstance(analysis, list):
            analysis = analysis[0] if analysis else {}
        flops = (analysis or {}).get("flops")
        return float(flops) if flops and flops > 0 else None

    def time_steps(self, placed_batch, steps: int) -> float:
        """Seconds per step over ``steps`` steps on one placed batch (after a first one)."""
        jax.block_until_ready(self.run(placed_batch))
        start = time.perf_counter()
        for _ in range(steps):
            metrics = self.run(placed_batch)
        jax.block_until_ready(metrics)
        return (time.perf_counter() - start) / steps
