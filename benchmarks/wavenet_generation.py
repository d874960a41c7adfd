"""WaveNet sampling speed: the cached (queue) sampler vs the naive one, side by side.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/wavenet_generation.py [--quick] [--rounds N]

Model: 2 stacks x 10 layers (dilations 1..512, kernel 2: receptive field 2048 samples),
64 residual/gate channels, 128 skip channels, 256-way categorical output, unconditional.
Both samplers are one jitted ``lax.scan`` each, compiled before timing; every round times each
sampler once (rounds interleaved, so machine load hits both alike) and the median is reported.
The naive sampler draws fewer samples per call (it is slow); rates are samples per second
over all streams. The last line is the cached-over-naive speedup (the smaller of the batches).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np

from audiojax.tasks.generation.samplers import cached_sampler, initial_state, naive_sampler
from audiojax.models.wavenet import WaveNet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cpu_name  # noqa: E402


def _timed(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def bench_batch(model, variables, batch: int, cached_n: int, naive_n: int, rounds: int) -> dict:
    key = jax.random.PRNGKey(0)
    cached = cached_sampler(model, cached_n)
    naive = naive_sampler(model, naive_n, batch)
    state = initial_state(model, variables, batch)
    run_cached = lambda: cached(variables, key, state, None, None, 1.0)[1]  # noqa: E731
    run_naive = lambda: naive(variables, key, None, None, 1.0)  # noqa: E731
    compile_s = {"cached": _timed(run_cached), "naive": _timed(run_naive)}  # first call compiles
    times = {"cached": [], "naive": []}
    for _ in range(rounds):
        times["cached"].append(_timed(run_cached))
        times["naive"].append(_timed(run_naive))
    rate = {"cached": batch * cached_n / np.median(times["cached"]),
            "naive": batch * naive_n / np.median(times["naive"])}
    return {"rate": rate, "compile_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few samples and one round (< 1 min)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3, quick 1)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    cached_n, naive_n = (1024, 16) if args.quick else (8000, 96)

    model = WaveNet(layers_per_stack=10, num_stacks=2, residual_channels=64, gate_channels=64,
                    skip_channels=128)
    variables = model.init(jax.random.PRNGKey(0), np.zeros((1, 64), np.int32))
    print(f"{cpu_name()}, jax {jax.__version__} on {jax.devices()[0].platform}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"WaveNet 2 x 10 layers, receptive field {model.receptive_field} samples; cached draws "
          f"{cached_n} samples per stream, naive {naive_n}; median of {rounds} round(s)")
    print(f"{'batch':>5}  {'sampler':<7} {'samples/s':>10}  {'compile s':>9}")
    speedups = {}
    for batch in (1, 16):
        result = bench_batch(model, variables, batch, cached_n, naive_n, rounds)
        for name in ("cached", "naive"):
            print(f"{batch:>5}  {name:<7} {result['rate'][name]:>10.1f}  {result['compile_s'][name]:>9.2f}")
        speedups[batch] = result["rate"]["cached"] / result["rate"]["naive"]
    print("speedup cached/naive: " + ", ".join(f"batch {b} {s:.0f}x" for b, s in speedups.items())
          + f"; minimum {min(speedups.values()):.0f}x")


if __name__ == "__main__":
    main()
