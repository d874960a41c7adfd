"""Time per 20 ms chunk of the streaming keyword model at batch 1, on one CPU core, beside the
naive way of listening with a clip classifier: recomputing the same model over the last 1 s
window at every 20 ms hop (its whole-sequence mode on 16,000 samples), in the same run.

Both give the same scores at each hop (the step mode carries the state the naive way
recomputes); the step mode's real-time factor is its time per chunk over the chunk's 20 ms.
Randomly initialized models (speed does not depend on the weights), the `experiments/
kws_streaming.py` model at its full size and the `tiny` one; medians of ``--repeats`` runs of
``--chunks`` consecutive steps after compilation.

    taskset -c 0 python benchmarks/streaming.py [--chunks 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.config import load_config  # noqa: E402
from audiojax.models import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHUNK, WINDOW = 320, 16000


def model_of(variant):
    config = load_config(str(ROOT / "experiments/kws_streaming.py") + (f":{variant}" if variant
                                                                      else ""))
    model = build_model(dict(config.model), {"num_classes": 35})
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, WINDOW)), jnp.array([WINDOW]))
    return model, variables


def seconds_per_call(fn, calls: int, repeats: int) -> float:
    fn(1)  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(calls)
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(CHUNK * (args.chunks + WINDOW // CHUNK))).astype(np.float32)
    print(f"# {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"{os.cpu_count()} CPUs visible, chunk {CHUNK} samples (20 ms), batch 1")
    print(f"{'model':<22} {'params':>8} {'step ms/chunk':>14} {'RTF':>7} "
          f"{'naive ms/hop':>13} {'naive/step':>11}")
    for variant in (None, "tiny"):
        model, variables = model_of(variant)
        params = sum(x.size for x in jax.tree_util.tree_leaves(variables))
        step = jax.jit(lambda c, s: model.apply(variables, c, s, method=model.step))
        whole = jax.jit(lambda a: model.apply(variables, a, jnp.array([WINDOW]),
                                              method=model.frames)[0][:, -1])
        chunks = [jnp.asarray(audio[None, i * CHUNK:(i + 1) * CHUNK]) for i in range(args.chunks)]
        windows = [jnp.asarray(audio[None, i * CHUNK:i * CHUNK + WINDOW])
                   for i in range(args.chunks)]

        def stream(calls):
            state = model.initial_state(1)
            for chunk in chunks[:calls]:
                scores, _, state = step(chunk, state)
            scores.block_until_ready()

        def naive(calls):
            for window in windows[:calls]:
                last = whole(window)
            last.block_until_ready()

        t_step = seconds_per_call(stream, args.chunks, args.repeats)
        t_naive = seconds_per_call(naive, args.chunks, args.repeats)
        name = f"kws_streaming{':' + variant if variant else ''}"
        print(f"{name:<22} {params:>8,} {1e3 * t_step:>14.3f} {t_step / 0.02:>7.4f} "
              f"{1e3 * t_naive:>13.3f} {t_naive / t_step:>10.1f}x")


if __name__ == "__main__":
    main()
