"""BC-ResNet's depthwise convolutions: audiojax's shifted-slice sum (``DepthwiseConv``) against
XLA's grouped convolution (``nn.Conv(feature_group_count=C)``), same parameters and result;
forward + backward of each layer shape the model uses, then a whole training step (loss,
gradient) of BC-ResNet built either way. Both compiled, run in turn (interleaved), medians and
their ratio (grouped / ours: above 1, ours is faster).

    python benchmarks/depthwise.py [--width 2] [--batch 64] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.models import bc_resnet  # noqa: E402


class Grouped(nn.Module):
    """``DepthwiseConv``'s interface on XLA's grouped convolution (the reference)."""

    kernel_size: tuple[int, int]
    freq_stride: int = 1
    time_dilation: int = 1
    padding: tuple = ((0, 0), (0, 0))
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x):
        return nn.Conv(x.shape[-1], self.kernel_size, strides=(1, self.freq_stride),
                       kernel_dilation=(self.time_dilation, 1), padding=self.padding,
                       feature_group_count=x.shape[-1], use_bias=False, dtype=self.dtype,
                       name="Conv_0")(x)


def timed(fn, args, repeats):
    jax.block_until_ready(fn(*args))
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - t)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; batch {a.batch}, width {a.width:g}")
    c = int(16 * a.width)
    layers = [("(1,3) freq, 20 bands", (1, 3), 1, 1, ((0, 0), (1, 1)), 20),
              ("(1,3) freq stride 2, 20 bands", (1, 3), 2, 1, ((0, 0), (1, 1)), 20),
              ("(3,1) time dilation 8, 1 band", (3, 1), 1, 8, ((8, 8), (0, 0)), 1),
              ("(5,5) classifier, 5 bands", (5, 5), 1, 1, ((2, 2), (0, 0)), 5)]
    for name, k, s, d, pad, bands in layers:
        x = jax.random.normal(jax.random.key(0), (a.batch, 101, bands, c))

        def make(cls, k=k, s=s, d=d, pad=pad):
            layer = cls(k, freq_stride=s, time_dilation=d, padding=pad)
            return jax.jit(jax.grad(lambda v, x: (layer.apply(v, x) ** 2).sum()))

        ours, ref = make(bc_resnet.DepthwiseConv), make(Grouped)
        v = bc_resnet.DepthwiseConv(k, s, d, pad).init(jax.random.key(1), x)
        a_t, b_t = [], []
        for _ in range(a.repeats):  # interleaved: drifts in machine load hit both alike
            a_t += timed(ours, (v, x), 1)
            b_t += timed(ref, ({"params": {"Conv_0": v["params"]}}, x), 1)
        ma, mb = statistics.median(a_t) * 1e3, statistics.median(b_t) * 1e3
        print(f"{name:<36} ours {ma:8.2f} ms  grouped {mb:8.2f} ms  ratio {mb / ma:5.2f}x")

    audio = jax.random.normal(jax.random.key(0), (a.batch, 16000)) * 0.1
    lengths = jnp.full((a.batch,), 16000)
    labels = jnp.zeros((a.batch,), jnp.int32)

    def step_fn(cls):
        with mock.patch.object(bc_resnet, "DepthwiseConv", cls):
            model = bc_resnet.BCResNet(num_classes=35, width=a.width)
            v = model.init(jax.random.key(0), audio, lengths, train=False)

            def loss(params):
                logits, _ = model.apply({"params": params, "batch_stats": v["batch_stats"]}, audio,
                                        lengths, train=True, mutable=["batch_stats"],
                                        rngs={"dropout": jax.random.key(2)})
                return -jax.nn.log_softmax(logits)[jnp.arange(a.batch), labels].mean()

            # Compiled inside the patch: the module looks the class up when it is traced.
            return jax.jit(jax.grad(loss)).lower(v["params"]).compile(), v["params"]

    ours, p_ours = step_fn(bc_resnet.DepthwiseConv)
    ref, p_ref = step_fn(Grouped)
    a_t, b_t = [], []
    for _ in range(a.repeats):
        a_t += timed(ours, (p_ours,), 1)
        b_t += timed(ref, (p_ref,), 1)
    ma, mb = statistics.median(a_t) * 1e3, statistics.median(b_t) * 1e3
    print(f"{'BC-ResNet training step (loss, gradient)':<36} ours {ma:8.1f} ms  grouped {mb:8.1f} ms  "
          f"ratio {mb / ma:5.2f}x")


if __name__ == "__main__":
    main()
