"""WaveNet: causality, cached step == parallel pass, naive == cached samples, output
distributions, mu-law round trip. Tiny models (2 stacks x 3 layers, 16 channels)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.frontends import mu_law_decode, mu_law_encode
from audiojax.tasks.generation.samplers import cached_sampler, initial_state, naive_sampler
from audiojax.models.output_dists import LogisticMixture
from audiojax.models.wavenet import WaveNet

B, T, MELS, FRAMES = 2, 40, 5, 7


@pytest.fixture(autouse=True, scope="module")
def _fast_compile():
    """Compilation dominates these tiny models; XLA's optimizations are not worth it here."""
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


def _model(output="categorical", kernel_size=2, conditioned=True):
    return WaveNet(output=output, num_mixtures=3, layers_per_stack=3, num_stacks=2,
                   kernel_size=kernel_size, residual_channels=16, gate_channels=16, skip_channels=16,
                   num_global=3 if conditioned else 0, local_features=MELS if conditioned else 0,
                   upsample_factors=(2, 3))


def _inputs(output, seed=1):
    key = jax.random.PRNGKey(seed)
    if output == "categorical":
        return jax.random.randint(key, (B, T), 0, 256)
    return jax.random.uniform(key, (B, T), minval=-1, maxval=1)


def _setup(output="categorical", kernel_size=2, conditioned=True):
    model = _model(output, kernel_size, conditioned)
    x = _inputs(output)
    cond = dict(global_id=jnp.array([0, 2]),
                local=jax.random.normal(jax.random.PRNGKey(2), (B, FRAMES, MELS))) if conditioned else {}
    variables = model.init(jax.random.PRNGKey(0), x, **cond)
    return model, variables, x, cond


def test_receptive_field_and_hop():
    model = WaveNet(layers_per_stack=10, num_stacks=2)
    assert model.dilations[:3] == [1, 2, 4] and model.dilations[9] == 512 and len(model.dilations) == 20
    assert model.receptive_field == 2 + 2 * 1023
    assert model.hop_length == 160


@pytest.mark.parametrize("output", ["categorical", "logistic_mixture"])
def test_causal(output):
    model, variables, x, cond = _setup(output)
    t = 17
    changed = x.at[:, t].set(x[:, t] + 1 if output == "categorical" else -x[:, t])
    a, b = model.apply(variables, x, **cond), model.apply(variables, changed, **cond)
    np.testing.assert_array_equal(a[:, :t], b[:, :t])  # outputs before t never see input t
    assert np.abs(a[:, t] - b[:, t]).min() > 1e-6        # ... the output at t does


@pytest.mark.parametrize("output,kernel_size,conditioned", [
    ("categorical", 2, True), ("categorical", 3, False), ("logistic_mixture", 2, True)])
def test_cached_step_reproduces_the_parallel_pass(output, kernel_size, conditioned):
    model, variables, x, cond = _setup(output, kernel_size, conditioned)
    parallel = model.apply(variables, x, **cond)
    local = (model.apply(variables, cond["local"], T, method=model.upsample_local)
             if conditioned else None)
    cache = model.apply(variables, B, method=model.init_cache)
    step = jax.jit(lambda cache, t, x_t, l_t: model.apply(
        variables, cache, t, x_t, cond.get("global_id"), l_t, method=model.step))
    outs = []
    for t in range(T):  # driven with the true previous samples
        cache, out = step(cache, jnp.int32(t), x[:, t], None if local is None else local[:, t])
        outs.append(out)
    np.testing.assert_allclose(np.stack(outs, 1), parallel, atol=1e-5, rtol=0)


@pytest.mark.parametrize("output", ["categorical", "logistic_mixture"])
def test_naive_and_cached_samplers_agree(output):
    model, variables, _, cond = _setup(output)
    n = 48  # more than the receptive field (16), so the naive window slides
    assert model.receptive_field < n
    local = model.apply(variables, cond["local"], n, method=model.upsample_local)
    key = jax.random.PRNGKey(7)
    _, cached = cached_sampler(model, n)(variables, key, initial_state(model, variables, B),
                                         cond["global_id"], local, 0.8)
    naive = naive_sampler(model, n, B)(variables, key, cond["global_id"], local, 0.8)
    assert cached.shape == (B, n)
    if output == "categorical":
        np.testing.assert_array_equal(cached, naive)
        assert len(np.unique(np.asarray(cached))) > 10  # real draws, not a constant
    else:
        np.testing.assert_allclose(cached, naive, atol=1e-5)
    # Chunked drawing continues the same streams.
    sampler = cached_sampler(model, n // 2)
    state, first = sampler(variables, key, initial_state(model, variables, B), cond["global_id"],
                           local[:, :n // 2], 0.8)
    _, second = sampler(variables, key, state, cond["global_id"], local[:, n // 2:], 0.8)
    np.testing.assert_allclose(np.concatenate([first, second], 1), cached, atol=1e-5)


def test_unconditional_sampler_without_conditions():
    model, variables, _, _ = _setup(conditioned=False)
    key = jax.random.PRNGKey(3)
    _, cached = cached_sampler(model, 20)(variables, key, initial_state(model, variables, B), None, None, 1.0)
    naive = naive_sampler(model, 20, B)(variables, key, None, None, 1.0)
    np.testing.assert_array_equal(cached, naive)


def test_mu_law_round_trip():
    codes = jnp.arange(256)
    np.testing.assert_array_equal(mu_law_encode(mu_law_decode(codes)), codes)
    x = jnp.linspace(-1, 1, 2001)
    back = mu_law_decode(mu_law_encode(x))
    # Error within one quantization step of the companded signal (2 / 256), mapped back.
    compand = lambda v: np.sign(v) * np.log1p(255 * np.abs(v)) / np.log(256)  # noqa: E731
    assert np.abs(compand(np.asarray(back)) - compand(np.asarray(x))).max() <= 2 / 256 + 1e-6


def test_logistic_mixture_is_a_distribution_over_bins():
    dist = LogisticMixture(num_classes=256, num_mixtures=3)
    params = jnp.array([0.3, -1.0, 0.5, 0.1, -0.4, 0.9, -3.0, -2.5, -4.0])
    centres = jnp.linspace(-1, 1, 256)
    probs = jnp.exp(dist.log_prob(jnp.broadcast_to(params, (256, 9)), centres))
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-4)
    # One bin against a NumPy transcription: sum_k pi_k (sigmoid(b+) - sigmoid(b-)).
    w = np.exp(params[:3]) / np.exp(params[:3]).sum()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    x, h = float(centres[140]), 1 / 255
    ref = sum(w[k] * (sig((x + h - params[3 + k]) / np.exp(params[6 + k]))
                      - sig((x - h - params[3 + k]) / np.exp(params[6 + k]))) for k in range(3))
    assert float(probs[140]) == pytest.approx(ref, rel=1e-4)
