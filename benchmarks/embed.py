"""Speaker embeddings per second on this machine: 3 s utterances at batch 1 and 64, for each
speaker experiment's embedder (x-vector, ECAPA-TDNN, the article's GRU; full and small widths),
beside the same batches through its log-mel front-end alone (what the network adds to the
features), interleaved, medians of ``--repeats`` calls after compilation.

    python benchmarks/embed.py [--variants full small] [--batches 1 64] [--repeats 10]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.config import load_config  # noqa: E402
from audiojax.models.features import LogMelFeatures  # noqa: E402
from audiojax.tasks import get_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("speaker_xvector", "speaker_ecapa", "speaker_gru")
SECONDS, RATE = 3.0, 16000


def timed(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["full", "small"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}; {SECONDS:g} s utterances")
    print(f"{'model':<16} {'variant':<6} {'params':>9} {'batch':>5} {'embeddings/s':>13} "
          f"{'front-end/s':>12} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for variant in args.variants:
        for name in EXPERIMENTS:
            spec = str(ROOT / "experiments" / f"{name}.py") + ("" if variant == "full" else f":{variant}")
            config = load_config(spec)
            task = get_task(config, [f"s{i}" for i in range(100)])
            example = {k: jnp.zeros(v.shape, v.dtype) for k, v in task.example_spec(1).items()}
            variables = task.init(jax.random.PRNGKey(0), example)
            params = sum(x.size for x in jax.tree.leaves(variables["params"]))
            front = LogMelFeatures(n_mels=config.model.n_mels, hop_length=config.model.hop_length)
            embed = jax.jit(lambda v, b: task.embed(v, b))
            features = jax.jit(lambda a, n: front.apply({}, a, n)[0])
            for batch in args.batches:
                audio = jnp.asarray(0.1 * rng.standard_normal((batch, int(SECONDS * RATE))), jnp.float32)
                lengths = jnp.full((batch,), audio.shape[1], jnp.int32)
                data = {"audio": audio, "length": lengths}
                timed(embed, variables, data), timed(features, audio, lengths)  # compile
                model_t, front_t = [], []
                for _ in range(args.repeats):  # interleaved: load changes hit both alike
                    model_t.append(timed(embed, variables, data))
                    front_t.append(timed(features, audio, lengths))
                m, f = statistics.median(model_t), statistics.median(front_t)
                print(f"{name.removeprefix('speaker_'):<16} {variant:<6} {params:>9,} {batch:>5} "
                      f"{batch / m:>13.1f} {batch / f:>12.1f} {m / f:>6.1f}")


if __name__ == "__main__":
    main()
