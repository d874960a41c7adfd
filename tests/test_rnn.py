"""The article's GRU cell and the masked (bi)directional, stacked, pyramidal encoder against NumPy
transcriptions of the equations, and invariance to padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.models.rnn import ArticleGRUCell, RNNEncoder, stack_frames


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def article_gru_step(h, x, p):
    """The article's four equations; ``p`` holds W_z, W_r, W (acting on [h, x]) and biases."""
    hx = np.concatenate([h, x])
    z = sigmoid(p["W_z"] @ hx + p["b_z"])
    r = sigmoid(p["W_r"] @ hx + p["b_r"])
    candidate = np.tanh(p["W"] @ np.concatenate([r * h, x]) + p["b"])
    return (1 - z) * h + z * candidate


def numpy_weights(cell_params, features):
    """The flax parameters as the equations' matrices (``kernel`` is ``(in, out)``)."""
    gates, cand = cell_params["gates"], cell_params["candidate"]
    zero = np.zeros(features)
    return {"W_z": np.asarray(gates["kernel"][:, :features]).T.astype(np.float64),
            "W_r": np.asarray(gates["kernel"][:, features:]).T.astype(np.float64),
            "W": np.asarray(cand["kernel"]).T.astype(np.float64),
            "b_z": np.asarray(gates["bias"][:features]) if "bias" in gates else zero,
            "b_r": np.asarray(gates["bias"][features:]) if "bias" in gates else zero,
            "b": np.asarray(cand["bias"]) if "bias" in cand else zero}


def numpy_gru(xs, p, features, reverse=False):
    """Runs the article's GRU over ``xs (frames, in)`` from a zero state; ``(frames, features)``."""
    order = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    h, out = np.zeros(features), np.zeros((len(xs), features))
    for t in order:
        h = article_gru_step(h, xs[t], p)
        out[t] = h
    return out


@pytest.mark.parametrize("use_bias", [False, True])
def test_article_gru_cell_matches_the_equations(use_bias):
    features, inputs = 5, 3
    cell = ArticleGRUCell(features, use_bias=use_bias)
    rng = np.random.default_rng(0)
    h = rng.standard_normal((4, features)).astype(np.float32)
    x = rng.standard_normal((4, inputs)).astype(np.float32)
    params = cell.init(jax.random.PRNGKey(0), h, x)["params"]
    if use_bias:  # random biases, not the zeros they start at
        params = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), params)
    new_h, out = cell.apply({"params": params}, h, x)
    p = numpy_weights(params, features)
    expected = np.stack([article_gru_step(h[b].astype(np.float64), x[b].astype(np.float64), p)
                         for b in range(4)])
    np.testing.assert_allclose(new_h, expected, atol=1e-6)
    np.testing.assert_array_equal(new_h, out)


def test_reset_gate_position_differs_from_flax_cell():
    """The article's reset gate acts before the product; flax's GRUCell after it: not the same map."""
    import flax.linen as nn

    rng = np.random.default_rng(1)
    h = rng.standard_normal((2, 4)).astype(np.float32)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    ours = ArticleGRUCell(4, use_bias=True)
    theirs = nn.GRUCell(4)
    p_ours = ours.init(jax.random.PRNGKey(0), h, x)
    p_theirs = theirs.init(jax.random.PRNGKey(0), h, x)
    # Same W_z, W_r and W in both parameterizations (flax keeps input and state matrices apart).
    k = p_ours["params"]
    w = {"iz": k["gates"]["kernel"][4:, :4], "hz": k["gates"]["kernel"][:4, :4],
         "ir": k["gates"]["kernel"][4:, 4:], "hr": k["gates"]["kernel"][:4, 4:],
         "in": k["candidate"]["kernel"][4:], "hn": k["candidate"]["kernel"][:4]}
    zero = jnp.zeros(4)
    flax_params = {"iz": {"kernel": w["iz"], "bias": zero}, "ir": {"kernel": w["ir"], "bias": zero},
                   "in": {"kernel": w["in"], "bias": zero}, "hz": {"kernel": w["hz"]},
                   "hr": {"kernel": w["hr"]}, "hn": {"kernel": w["hn"], "bias": zero}}
    assert jax.tree.map(jnp.shape, flax_params) == jax.tree.map(jnp.shape, p_theirs["params"])
    a, _ = ours.apply(p_ours, h, x)
    b, _ = theirs.apply({"params": flax_params}, h, x)
    # r * (W h) vs W (r * h): different unless the reset gate is all ones.
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-3


def test_stack_frames_concatenates_neighbours():
    x = jnp.arange(2 * 5 * 2, dtype=jnp.float32).reshape(2, 5, 2)
    y, lengths = stack_frames(x, jnp.array([5, 3]), 2)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y[0, 1], [4, 5, 6, 7])
    np.testing.assert_array_equal(y[0, 2], [8, 9, 0, 0])  # odd frame count: zero-padded
    np.testing.assert_array_equal(lengths, [3, 2])


@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_equals_nn_rnn_over_the_cell_with_gradients(reverse):
    """``ArticleGRUCell.sequence`` (input products hoisted out of the loop) gives nn.RNN's
    outputs over the cell, and the same gradients for the parameters and the inputs."""
    import flax.linen as nn

    class Stepwise(nn.Module):
        @nn.compact
        def __call__(self, x, lengths):
            return nn.RNN(ArticleGRUCell(6, use_bias=True, name="cell"))(
                x, seq_lengths=lengths, reverse=reverse, keep_order=True)

    class Hoisted(nn.Module):
        @nn.compact
        def __call__(self, x, lengths):
            return ArticleGRUCell(6, use_bias=True, name="cell").sequence(x, lengths, reverse)

    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((3, 8, 5)), jnp.float32)
    lengths = jnp.array([8, 5, 1])
    weights = jnp.asarray(rng.standard_normal((3, 8, 6)), jnp.float32) * (
        jnp.arange(8)[None, :, None] < lengths[:, None, None])   # valid frames only
    params = Hoisted().init(jax.random.PRNGKey(0), x, lengths)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, Stepwise().init(jax.random.PRNGKey(0), x, lengths))
    loss = lambda m: jax.value_and_grad(  # noqa: E731
        lambda p, x: (m.apply(p, x, lengths) * weights).sum(), argnums=(0, 1))(params, x)
    (want, want_grads), (got, got_grads) = loss(Stepwise()), loss(Hoisted())
    assert abs(float(got) - float(want)) < 1e-5
    for a, b in zip(jax.tree.leaves(got_grads), jax.tree.leaves(want_grads)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def numpy_encoder(x, length, params, hidden, layers, reductions):
    """The bidirectional stacked pyramidal encoder for one example ``x (frames, in)``: each
    direction over the ``length`` valid frames only, pairs of frames concatenated before layers
    1..reductions; returns the valid outputs ``(length', 2 * hidden)``."""
    x = x[:length].astype(np.float64)
    for i in range(layers):
        if 0 < i <= reductions:
            if len(x) % 2:
                x = np.concatenate([x, np.zeros((1, x.shape[1]))])
            x = x.reshape(len(x) // 2, 2 * x.shape[1])
        fw = numpy_weights(params[f"forward_cell_{i}"], hidden)
        bw = numpy_weights(params[f"backward_cell_{i}"], hidden)
        x = np.concatenate([numpy_gru(x, fw, hidden), numpy_gru(x, bw, hidden, reverse=True)], 1)
    return x


@pytest.fixture(scope="module")
def encoder_setup():
    hidden, layers, reductions = 4, 3, 2
    encoder = RNNEncoder(hidden, layers, bidirectional=True, reductions=reductions)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 11, 2)).astype(np.float32)
    lengths = np.array([11, 7, 2], np.int32)
    params = encoder.init(jax.random.PRNGKey(0), x, lengths)["params"]
    params = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape) * 0.7, a.dtype), params)
    apply = jax.jit(lambda p, x, n: encoder.apply({"params": p}, x, n))
    return encoder, params, x, lengths, apply


def test_encoder_matches_numpy_and_zeroes_padding(encoder_setup):
    encoder, params, x, lengths, apply = encoder_setup
    out, out_lengths = apply(params, x, lengths)
    assert out.shape == (3, 3, 8)  # 11 frames -> 6 -> 3
    np.testing.assert_array_equal(out_lengths, [3, 2, 1])
    for b in range(3):
        expected = numpy_encoder(x[b], lengths[b], params, 4, 3, 2)
        n = int(out_lengths[b])
        np.testing.assert_allclose(out[b, :n], expected, atol=1e-5)
        np.testing.assert_array_equal(out[b, n:], 0.0)


def test_encoder_output_unchanged_by_extra_padding(encoder_setup):
    encoder, params, x, lengths, apply = encoder_setup
    # Garbage (not zeros) past each length, and 9 more frames: the outputs must not move.
    noisy = x.copy()
    for b, n in enumerate(lengths):
        noisy[b, n:] = 100.0
    longer = np.concatenate([noisy, np.full((3, 9, 2), -50.0, np.float32)], 1)
    out, n_out = apply(params, x, lengths)
    out2, n_out2 = apply(params, longer, lengths)
    np.testing.assert_array_equal(n_out, n_out2)
    np.testing.assert_allclose(out2[:, :out.shape[1]], out, atol=1e-6)
    np.testing.assert_array_equal(out2[:, out.shape[1]:], 0.0)


def numpy_conv_subsampler(x, length, params):
    """:class:`ConvSubsampler` for one example ``x (frames, mels)``: per layer, zero past the
    length, pad 1 on each side, 3x3 cross-correlation at stride 2 in both axes, ReLU."""
    x = x.astype(np.float64)[..., None]
    for i in range(len(params)):
        kernel = np.asarray(params[f"conv_{i}"]["kernel"], np.float64)  # (3, 3, in, out)
        x[length:] = 0.0
        p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
        frames, mels = -(-x.shape[0] // 2), -(-x.shape[1] // 2)
        y = np.zeros((frames, mels, kernel.shape[-1]))
        for t in range(frames):
            for f in range(mels):
                y[t, f] = np.einsum("ijc,ijcd->d", p[2 * t:2 * t + 3, 2 * f:2 * f + 3], kernel)
        x = np.maximum(y + np.asarray(params[f"conv_{i}"]["bias"]), 0.0)
        length = -(-length // 2)
    x[length:] = 0.0
    return x.reshape(x.shape[0], -1), length


def test_conv_subsampler_matches_numpy_and_ignores_padding():
    from audiojax.models.features import ConvSubsampler

    module = ConvSubsampler((3, 2))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 13, 10)).astype(np.float32)
    lengths = np.array([13, 6], np.int32)
    params = module.init(jax.random.PRNGKey(0), x, lengths)["params"]
    params = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), params)
    out, frames = module.apply({"params": params}, x, lengths)
    assert out.shape == (2, 4, 3 * 2)  # 13 frames -> 7 -> 4; 10 mels -> 5 -> 3, 2 channels
    np.testing.assert_array_equal(frames, [4, 2])
    for b in range(2):
        want, n = numpy_conv_subsampler(x[b], lengths[b], params)
        assert n == frames[b]
        np.testing.assert_allclose(out[b], want, atol=1e-5)
    # Garbage past each length and 6 (an even number: SAME padding would shift) more frames.
    noisy = x.copy()
    noisy[1, 6:] = 100.0
    longer = np.concatenate([noisy, np.full((2, 6, 10), -50.0, np.float32)], 1)
    out2, frames2 = module.apply({"params": params}, longer, lengths)
    np.testing.assert_array_equal(frames2, frames)
    np.testing.assert_allclose(out2[:, :4], out, atol=1e-5)
    np.testing.assert_array_equal(out2[:, 4:], 0.0)
