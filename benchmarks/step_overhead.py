"""What the trainer's step adds to a bare optax step: the same task loss, gradient and Adam
update, with and without audiojax's bookkeeping (gradient, parameter and update norms, the
learning rate, the finiteness checks of loss, gradients, parameters and optimizer state, the
guard that keeps the old state on a non-finite step; optionally the parameter average and
gradient accumulation). Both compiled (compile times and their ratio), run in turn
(interleaved), medians and their ratio.

    python benchmarks/step_overhead.py [--model waveform_cnn|logmel_cnn|gru_classifier|bc_resnet]
        [--batch 64] [--repeats 15] [--ema 0.999] [--accumulate 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.tasks.classification.task import Classification  # noqa: E402
from audiojax.train.defaults import base_config  # noqa: E402
from audiojax.train.state import TrainState  # noqa: E402
from audiojax.train.step import make_train_step  # noqa: E402

CLASSES, SAMPLES = 35, 16000


def bare_step(task, tx):
    """The reference: loss, gradient, update; nothing else."""

    def step(state, batch):
        rng, step_rng = jax.random.split(state.rng)
        (_, (batch_stats, _)), grads = jax.value_and_grad(
            lambda p: task.loss(p, state.batch_stats, batch, step_rng, None), has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                             batch_stats=batch_stats, opt_state=opt_state, rng=rng)

    return jax.jit(step, donate_argnums=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="waveform_cnn")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--ema", type=float, default=0.0)
    parser.add_argument("--accumulate", type=int, default=1)
    args = parser.parse_args()

    config = base_config("classification", args.model)
    config.data.max_seconds = SAMPLES / 16000
    task = Classification(config, [str(i) for i in range(CLASSES)])
    schedule = optax.constant_schedule(1e-3)
    tx = optax.adam(schedule)
    rng = np.random.default_rng(0)
    batch = {"audio": jnp.asarray(0.1 * rng.standard_normal((args.batch, SAMPLES)), jnp.float32),
             "length": jnp.full((args.batch,), SAMPLES, jnp.int32),
             "label": jnp.asarray(rng.integers(0, CLASSES, args.batch), jnp.int32),
             "mask": jnp.ones((args.batch,), bool)}
    variables = jax.jit(task.init)(jax.random.PRNGKey(0), batch)
    ours = make_train_step(task, tx, schedule, accumulate=args.accumulate, ema_decay=args.ema)
    steps = {"bare optax step": bare_step(task, tx),
             "audiojax step": jax.jit(lambda s, b: ours(s, b, None)[0], donate_argnums=0)}
    # Each its own copy: a step donates (frees) the state it is given.
    states = {name: TrainState.create(jax.tree.map(jnp.copy, variables), tx, jax.random.PRNGKey(1),
                                      ema=args.ema > 0 and name == "audiojax step")
              for name in steps}
    times: dict[str, list[float]] = {name: [] for name in steps}
    compile_s = {}
    for name, fn in list(steps.items()):
        start = time.perf_counter()
        steps[name] = fn.lower(states[name], batch).compile()
        compile_s[name] = time.perf_counter() - start
        states[name] = jax.block_until_ready(steps[name](states[name], batch))  # warm up
    for name, t in compile_s.items():
        print(f"{name:16s} compile {t:8.1f} s")
    print(f"compile ratio audiojax/bare: {compile_s['audiojax step'] / compile_s['bare optax step']:.3f}x")
    for _ in range(args.repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            states[name] = jax.block_until_ready(fn(states[name], batch))
            times[name].append(time.perf_counter() - start)
    print(f"jax {jax.__version__} ({jax.devices()[0].device_kind}), "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.model}, "
          f"batch {args.batch} x 1 s, Adam; ema {args.ema}, accumulate {args.accumulate}")
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, t in med.items():
        print(f"{name:16s} median {t * 1e3:8.1f} ms")
    print(f"ratio audiojax/bare: {med['audiojax step'] / med['bare optax step']:.3f}x")


if __name__ == "__main__":
    main()
