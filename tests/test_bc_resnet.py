"""BC-ResNet against the paper's parameter counts, its depthwise convolutions against XLA's
grouped convolution, and sub-spectral normalization against a NumPy transcription."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.models import get_model
from audiojax.models.bc_resnet import DepthwiseConv, SubSpectralNorm


# Table 2 of Kim et al. (2021), 12 classes: BC-ResNet-tau's parameters, in thousands.
@pytest.mark.parametrize("width,thousands", [(1, 9.2), (3, 54.2), (6, 188), (8, 321)])
def test_parameter_counts_are_the_papers(width, thousands):
    model = get_model("bc_resnet", num_classes=12, width=float(width))
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 16000)),
                                               jnp.array([16000]), train=False))
    count = sum(x.size for x in jax.tree.leaves(shapes["params"]))
    assert round(count / 1000, 1 if thousands < 100 else 0) == thousands


@pytest.mark.parametrize("kernel,stride,dilation,padding", [
    ((1, 3), 1, 1, ((0, 0), (1, 1))),
    ((1, 3), 2, 1, ((0, 0), (1, 1))),      # the stage's first block halves the bands
    ((3, 1), 1, 4, ((4, 4), (0, 0))),      # dilated along time
    ((5, 5), 1, 1, ((2, 2), (0, 0))),      # the classifier's, bands 5 -> 1
])
def test_depthwise_conv_equals_a_grouped_convolution(kernel, stride, dilation, padding):
    x = jax.random.normal(jax.random.key(0), (2, 17, 10 if kernel != (5, 5) else 5, 6))
    ours = DepthwiseConv(kernel, freq_stride=stride, time_dilation=dilation, padding=padding)
    variables = ours.init(jax.random.key(1), x)
    grouped = nn.Conv(6, kernel, strides=(1, stride), kernel_dilation=(dilation, 1),
                      padding=padding, feature_group_count=6, use_bias=False)
    want = grouped.apply(variables, x)
    got = ours.apply(variables, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    g_ours = jax.grad(lambda v: (ours.apply(v, x) ** 2).sum())(variables)
    g_want = jax.grad(lambda v: (grouped.apply(v, x) ** 2).sum())(variables)
    np.testing.assert_allclose(g_ours["params"]["kernel"], g_want["params"]["kernel"], rtol=1e-4)


def test_sub_spectral_norm_normalizes_each_sub_band_on_its_own():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 10, 4)) * np.linspace(1, 5, 10)[:, None] + np.arange(10)[:, None]
    ssn = SubSpectralNorm(groups=5)
    variables = ssn.init(jax.random.key(0), jnp.asarray(x, jnp.float32), train=False)
    got, _ = ssn.apply(variables, jnp.asarray(x, jnp.float32), train=True, mutable=["batch_stats"])
    sub = x.reshape(3, 7, 5, 2, 4)                    # bands 2k, 2k+1 together, per channel
    mean = sub.mean(axis=(0, 1, 3), keepdims=True)
    var = sub.var(axis=(0, 1, 3), keepdims=True)
    want = ((sub - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="7 bands do not split into 5 groups"):
        ssn.init(jax.random.key(0), jnp.zeros((1, 2, 7, 1)), train=False)


@pytest.mark.slow  # two compilations of the whole model: a minute on 2 cores
def test_logits_ignore_what_lies_past_a_clips_frames():
    """Masked pooling: a clip padded with more zeros keeps its logits, up to its last STFT
    frames (they read the padding through their window), far closer than when the padding
    is counted as part of the clip."""
    model = get_model("bc_resnet", num_classes=5, width=1.0)
    rng = np.random.default_rng(0)
    clip = rng.standard_normal(8000).astype(np.float32) * 0.3
    short = jnp.asarray(clip[None])
    long = jnp.asarray(np.concatenate([clip, np.zeros(8000, np.float32)])[None])
    variables = model.init(jax.random.key(0), short, jnp.array([8000]), train=False)
    a = model.apply(variables, short, jnp.array([8000]), train=False)
    b = model.apply(variables, long, jnp.array([8000]), train=False)
    c = model.apply(variables, long, jnp.array([16000]), train=False)  # the zeros counted
    assert np.abs(np.asarray(c - a)).max() > 10 * np.abs(np.asarray(b - a)).max()
