"""Additive (and location-aware) attention against a NumPy transcription of the article's equations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.models.attention import AdditiveAttention


def numpy_attention(s, h, valid, p, previous=None):
    """e_j = v^T tanh(W_1 s + W_2 h_j [+ U (F * alpha_prev)_j]); alpha = softmax over the valid j;
    c = sum_j alpha_j h_j. One example: ``s (state,)``, ``h (frames, dim)``, ``valid`` frames."""
    frames = len(h)
    e = np.full(frames, -np.inf)
    for j in range(valid):
        pre = p["W_1"] @ s + p["W_2"] @ h[j]
        if previous is not None:
            # 'SAME' cross-correlation of the previous alignment with each filter F_k.
            width = p["F"].shape[1]
            padded = np.pad(previous, ((width - 1) // 2, width // 2))
            f = np.array([padded[j:j + width] @ p["F"][k] for k in range(len(p["F"]))])
            pre = pre + p["U"] @ f
        e[j] = p["v"] @ np.tanh(pre)
    alpha = np.exp(e - e[:valid].max())
    alpha /= alpha.sum()
    return alpha @ h, alpha


@pytest.mark.parametrize("location_filters", [0, 3])
def test_additive_attention_matches_the_equations(location_filters):
    rng = np.random.default_rng(0)
    batch, frames, dim, state_dim, units = 3, 7, 4, 5, 6
    s = rng.standard_normal((batch, state_dim)).astype(np.float32)
    h = rng.standard_normal((batch, frames, dim)).astype(np.float32)
    valid = np.array([7, 4, 1])
    mask = np.arange(frames)[None] < valid[:, None]
    previous = rng.dirichlet(np.ones(frames), batch).astype(np.float32) * mask
    attention = AdditiveAttention(units, location_filters=location_filters, location_kernel=5)

    def run(module, s, h, mask, previous):
        return module(s, module.keys(h), h, mask, previous)

    variables = attention.init(jax.random.PRNGKey(0), s, h, mask, previous, method=run)
    context, alpha = attention.apply(variables, s, h, mask, previous, method=run)

    q = variables["params"]
    p = {"W_1": np.asarray(q["query"]["kernel"]).T, "W_2": np.asarray(q["key"]["kernel"]).T,
         "v": np.asarray(q["energy"]["kernel"])[:, 0]}
    if location_filters:
        p["F"] = np.asarray(q["location_conv"]["kernel"])[:, 0, :].T    # (filters, width)
        p["U"] = np.asarray(q["location"]["kernel"]).T
    for b in range(batch):
        want_c, want_alpha = numpy_attention(
            s[b].astype(np.float64), h[b].astype(np.float64), valid[b], p,
            previous[b].astype(np.float64) if location_filters else None)
        np.testing.assert_allclose(alpha[b], want_alpha, atol=1e-6)
        np.testing.assert_allclose(context[b], want_c, atol=1e-6)
    assert np.all(np.asarray(alpha)[~mask] == 0.0)  # padded frames get exactly nothing


def test_padding_values_never_matter():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 3)).astype(np.float32)
    h = rng.standard_normal((2, 5, 4)).astype(np.float32)
    mask = np.arange(5)[None] < np.array([[5], [2]])
    attention = AdditiveAttention(4, location_filters=2, location_kernel=3)
    previous = jnp.asarray(mask / mask.sum(1, keepdims=True), jnp.float32)

    def run(module, s, h, mask, previous):
        return module(s, module.keys(h), h, mask, previous)

    variables = attention.init(jax.random.PRNGKey(0), s, h, mask, previous, method=run)
    noisy = np.where(mask[..., None], h, 1e3).astype(np.float32)
    longer = np.concatenate([noisy, np.full((2, 4, 4), -7.0, np.float32)], 1)
    longer_mask = np.concatenate([mask, np.zeros((2, 4), bool)], 1)
    longer_previous = jnp.concatenate([previous, jnp.zeros((2, 4))], 1)
    c1, a1 = attention.apply(variables, s, h, mask, previous, method=run)
    c2, a2 = attention.apply(variables, s, longer, longer_mask, longer_previous, method=run)
    np.testing.assert_allclose(c2, c1, atol=1e-6)
    np.testing.assert_allclose(a2[:, :5], a1, atol=1e-6)
    np.testing.assert_array_equal(a2[:, 5:], 0.0)


def test_location_aware_needs_the_previous_alignment():
    attention = AdditiveAttention(4, location_filters=2)
    h = jnp.ones((1, 3, 2))
    with pytest.raises(ValueError, match="previous"):
        attention.init(jax.random.PRNGKey(0), jnp.ones((1, 2)), h, h, jnp.ones((1, 3), bool))
