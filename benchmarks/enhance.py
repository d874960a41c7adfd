"""Real-time factor of `audiojax enhance` / `separate` at batch 1 on this machine, for each
enhancement and separation experiment's model, non-causal and causal (randomly initialized:
speed does not depend on the weights), beside the same input's STFT and inverse STFT by
librosa (the fixed cost of any STFT-domain enhancer on the host). The input is ``--seconds``
of noise run through the command's own processor (causal models streamed in 1 s chunks with
their state carried; the others whole up to ``enhance.segment_seconds``, in cross-faded
segments beyond); medians of ``--repeats`` calls after compilation.

Also, for the causal models: the algorithmic latency (one window: ``step``'s output lags its
input by a window less a hop, and a sample waits up to a hop for its chunk) and the time of
one ``step`` call on one hop of input, what a live stream pays per hop (median of 200 calls).

    python benchmarks/enhance.py [--seconds 20] [--repeats 5] [--variants small full]
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
import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.config import load_config  # noqa: E402
from audiojax.tasks import get_task  # noqa: E402
from audiojax.tasks.enhancement.enhance import processor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("enhance_mask_gru", "enhance_convtasnet", "separate_mask_gru", "separate_convtasnet")


class _Run:
    """What :func:`processor` reads of a restored run."""

    def __init__(self, config):
        self.config = config
        self.task = get_task(config, [])
        example = {k: jnp.zeros(v.shape, v.dtype) for k, v in self.task.example_spec(1).items()}
        self.variables = self.task.init(jax.random.PRNGKey(0), example)


def hop_step_seconds(run, calls: int = 200) -> float:
    """Median seconds of one compiled ``step`` on one hop of input (state carried)."""
    model = run.task.model
    step = jax.jit(lambda v, c, s: model.apply(v, c, s, method=type(model).step))
    chunk = jnp.zeros((1, model.hop_length), jnp.float32)
    state = model.initial_state(1)
    times = []
    for _ in range(calls + 5):
        start = time.perf_counter()
        out, state = step(run.variables, chunk, state)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - start)
    return statistics.median(times[5:])


def median_time(fn, repeats: int) -> float:
    fn()  # compile (each segment length once)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=["small"])
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax "
          f"{jax.__version__} on {jax.devices()[0].platform}; {args.seconds:g} s input, batch 1")
    print(f"{'experiment':<20} {'variant':<7} {'causal':<6} {'params':>9} {'x real time':>11} "
          f"{'librosa STFT+iSTFT x':>21} {'ratio':>6} {'latency ms':>10} {'ms per hop':>10}")
    rng = np.random.default_rng(0)
    for variant in args.variants:
        for name in EXPERIMENTS:
            for causal in (False, True):
                spec = str(ROOT / "experiments" / f"{name}.py") + ("" if variant == "full" else f":{variant}")
                config = load_config(spec, [f"model.causal={causal}"])
                run = _Run(config)
                params = sum(x.size for x in jax.tree.leaves(run.variables["params"]))
                sr = config.data.sample_rate
                y = (0.1 * rng.standard_normal(int(args.seconds * sr))).astype(np.float32)
                process = processor(run)
                model_t = median_time(lambda: process(y), args.repeats)
                n_fft = 512 * sr // 16000

                def reference():
                    X = librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4)
                    return librosa.istft(X, hop_length=n_fft // 4, length=y.size)

                ref_t = median_time(reference, args.repeats)
                model = run.task.model
                # Worst case: a sample waits for its hop to fill, then for the step's delay.
                window = model.stream_delay + model.hop_length
                latency = f"{1000 * window / sr:.1f}" if causal else "-"
                per_hop = f"{1000 * hop_step_seconds(run):.3f}" if causal else "-"
                print(f"{name:<20} {variant:<7} {str(causal):<6} {params:>9,} "
                      f"{args.seconds / model_t:>11.1f} {args.seconds / ref_t:>21.1f} "
                      f"{model_t / ref_t:>6.1f} {latency:>10} {per_hop:>10}")


if __name__ == "__main__":
    main()
