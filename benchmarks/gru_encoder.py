"""The article's GRU over whole sequences: ``nn.RNN`` over the cell (every step multiplies
``[h, x]``) against ``ArticleGRUCell.sequence`` (the input half of each product hoisted out of
the loop as one matmul over all frames), same parameters, in one run.

Times a jitted forward + backward pass (gradient of the summed outputs with respect to the
parameters and the inputs) of a stacked bidirectional encoder at the shapes of the experiments:
``asr`` (experiments/asr_attention.py: batch 32, 125 frames of 640 features from the
convolutions, 3 layers of 192) and ``kws`` (experiments/kws_gru.py: batch 64, 50 frames of 80,
2 layers of 128). Prints milliseconds per pass, the speed-up and the largest difference
between the two outputs.

    python benchmarks/gru_encoder.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.masking import length_mask  # noqa: E402
from audiojax.models.rnn import ArticleGRUCell, RNNEncoder  # noqa: E402

SHAPES = {"asr": dict(batch=32, frames=125, features=640, hidden=192, layers=3),
          "kws": dict(batch=64, frames=50, features=80, hidden=128, layers=2)}


class StepwiseEncoder(nn.Module):
    """The reference: ``nn.Bidirectional(nn.RNN(cell))`` per layer, as ``RNNEncoder`` ran it
    before ``sequence`` (the same parameter names, so the two share one parameter tree)."""

    hidden: int
    layers: int

    @nn.compact
    def __call__(self, x, lengths):
        x = x * length_mask(lengths, x.shape[1])[..., None]
        for i in range(self.layers):
            cell = lambda d: ArticleGRUCell(self.hidden, use_bias=True, name=f"{d}_cell_{i}")  # noqa: E731,B023
            x = nn.Bidirectional(nn.RNN(cell("forward")), nn.RNN(cell("backward")))(
                x, seq_lengths=lengths)
            x = x * length_mask(lengths, x.shape[1])[..., None]
        return x


def timed(fn, args, repeats: int) -> tuple[float, float]:
    """(compile seconds, median seconds per call)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return compile_s, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {jax.devices()[0].device_kind}, "
          f"jax {jax.__version__}")
    print(f"{'shape':5s} {'nn.RNN ms':>10s} {'sequence ms':>12s} {'speed-up':>9s} "
          f"{'compile s (old/new)':>20s} {'max |diff|':>11s}")
    for name, s in SHAPES.items():
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((s["batch"], s["frames"], s["features"])), jnp.float32)
        lengths = jnp.asarray(rng.integers(s["frames"] // 2, s["frames"] + 1, s["batch"]), jnp.int32)
        hoisted = RNNEncoder(s["hidden"], s["layers"])
        stepwise = StepwiseEncoder(s["hidden"], s["layers"])
        params = hoisted.init(jax.random.key(0), x, lengths)

        def loss(model):
            out = lambda p, x: (model.apply(p, x, lengths)[0] if model is hoisted  # noqa: E731
                                else model.apply(p, x, lengths))
            return jax.jit(jax.value_and_grad(lambda p, x: out(p, x).sum(), argnums=(0, 1)))

        old_c, old_t = timed(loss(stepwise), (params, x), args.repeats)
        new_c, new_t = timed(loss(hoisted), (params, x), args.repeats)
        diff = float(jnp.abs(hoisted.apply(params, x, lengths)[0]
                             - stepwise.apply(params, x, lengths)).max())
        print(f"{name:5s} {old_t * 1e3:10.1f} {new_t * 1e3:12.1f} {old_t / new_t:8.2f}x "
              f"{old_c:9.1f} / {new_c:<8.1f} {diff:11.2e}")


if __name__ == "__main__":
    main()
