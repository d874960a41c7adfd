"""Separation models (MaskEstimator, ConvTasNet): output shapes and zeros past each length, a
mask of ones returning the mixture, the causal variants' exact look-ahead bound (and the
non-causal ones breaking it), eval outputs unchanged by padding, default sizes under 1M
parameters, and a jitted training-mode forward."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.models import config_fields, get_model

SAMPLES = 600
TINY = {  # hundreds to a few thousand parameters: compiling dominates
    "mask_estimator": dict(n_fft=64, hop_length=16, hidden=16, layers=2),
    "conv_tasnet": dict(N=16, L=16, B=8, H=16, P=3, X=3, R=1, Sc=8),
}
WINDOW_HOP = {"mask_estimator": (64, 16), "conv_tasnet": (16, 8)}  # (window, hop) of TINY


# Compilation dominates these tiny models; XLA's optimizations are not worth it here.
pytestmark = pytest.mark.usefixtures("fast_compilation_module")


def _signal(batch=2, samples=SAMPLES, seed=0):
    """Noise plus a tone, roughly unit scale, float32 ``(batch, samples)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000.0
    tone = np.sin(2 * np.pi * rng.uniform(200, 2000, (batch, 1)) * t)
    return (0.5 * rng.standard_normal((batch, samples)) + tone).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _model(name, num_sources=1, causal=False):
    """``(model, variables, jitted eval apply)`` for a tiny model, built once per test module."""
    model = get_model(name, num_sources=num_sources, causal=causal, **TINY[name])
    x = jnp.zeros((1, 200), jnp.float32)
    variables = jax.jit(functools.partial(model.init, train=False))(
        jax.random.PRNGKey(0), x, jnp.array([200]))
    apply = jax.jit(lambda v, x, lengths: model.apply(v, x, lengths, train=False))
    return model, variables, apply


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("num_sources", [1, 2])
def test_shapes_and_zeros_past_length(name, num_sources):
    _, variables, apply = _model(name, num_sources)
    x = _signal(2)
    lengths = np.array([377, 0], np.int32)
    y = np.asarray(apply(variables, x, lengths))
    assert y.shape == (2, num_sources, SAMPLES) and y.dtype == np.float32
    assert np.isfinite(y).all() and np.abs(y[0, :, :377]).max() > 1e-3
    assert (y[0, :, 377:] == 0).all() and (y[1] == 0).all()


@pytest.mark.parametrize("causal", [False, True])
def test_mask_of_ones_returns_the_mixture(causal):
    """Final dense kernel 0, bias 30: sigmoid(30) is 1.0 in float32, so the estimate is the
    mixture's own STFT and the iSTFT must give the waveform back, edges included."""
    _, variables, apply = _model("mask_estimator", 2, causal)
    params = dict(variables["params"])
    out = params["mask_out"]
    params["mask_out"] = {"kernel": jnp.zeros_like(out["kernel"]),
                          "bias": jnp.full_like(out["bias"], 30.0)}
    x = _signal(2, seed=1)
    lengths = np.array([SAMPLES, 411], np.int32)
    y = np.asarray(apply({"params": params}, x, lengths))
    for source in range(2):
        np.testing.assert_allclose(y[0, source], x[0], atol=1e-5, rtol=0)
        np.testing.assert_allclose(y[1, source, :411], x[1, :411], atol=1e-5, rtol=0)
        assert (y[1, source, 411:] == 0).all()
    # The edges, where fewer frames overlap, by name: the first and last 64 samples.
    np.testing.assert_allclose(y[0, 0, :64], x[0, :64], atol=1e-5, rtol=0)
    np.testing.assert_allclose(y[0, 0, -64:], x[0, -64:], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("causal", [True, False])
def test_causal_lookahead_bound(name, causal):
    """Changing samples ``m >= t0`` must leave output ``n`` unchanged wherever the docstring's
    bound ``hop * floor((n + window) / hop) <= t0`` holds (causal), and change some output
    between that bound and ``t0`` (the bound is tight); the non-causal variant changes outputs
    well before it."""
    window, hop = WINDOW_HOP[name]
    _, variables, apply = _model(name, 1, causal)
    t0 = 301  # not on the hop grid: the floor in the bound matters
    x = _signal(2, seed=2)
    x[1, t0:] = _signal(1, seed=3)[0, t0:]  # row 1: row 0 changed from t0 on
    x[1, :t0] = x[0, :t0]
    y, y2 = np.asarray(apply(variables, x, np.array([SAMPLES, SAMPLES], np.int32)))[:, 0]
    n = np.arange(SAMPLES)
    safe = hop * ((n + window) // hop) <= t0
    first_unsafe = int(np.argmin(safe))
    assert 0 < first_unsafe < t0
    if causal:
        np.testing.assert_allclose(y2[safe], y[safe], atol=1e-6, rtol=0)
        assert np.abs(y2[first_unsafe:t0] - y[first_unsafe:t0]).max() > 1e-5
    else:
        assert np.abs(y2[:first_unsafe] - y[:first_unsafe]).max() > 1e-4


@pytest.mark.parametrize("name", sorted(TINY))
def test_padding_changes_nothing_in_eval(name):
    """An example filling its batch, and the same example zero-padded further beside another
    row, give the same output on its valid part (gLN / feature mean over valid frames)."""
    _, variables, apply = _model(name, 2)
    length = 333
    x = _signal(2, seed=4)
    alone = np.asarray(apply(variables, x[:1, :length], np.array([length], np.int32)))
    padded_x = x.copy()
    padded_x[0, length:] = 0.0
    padded = np.asarray(apply(variables, padded_x, np.array([length, SAMPLES], np.int32)))
    assert np.abs(alone).max() > 1e-3
    np.testing.assert_allclose(padded[0, :, :length], alone[0], atol=1e-5, rtol=0)
    assert (padded[0, :, length:] == 0).all()
    # Garbage past the length is masked on input, the same as zeros.
    garbage_x = padded_x.copy()
    garbage_x[0, length:] = 100.0
    garbage = np.asarray(apply(variables, garbage_x, np.array([length, SAMPLES], np.int32)))
    np.testing.assert_allclose(garbage[0], padded[0], atol=1e-5, rtol=0)


def _parameter_count(name, **fields):
    model = get_model(name, **fields)
    shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 16000)),
                                               jnp.array([16000]), train=False))
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("num_sources", [1, 2])
def test_default_configs_under_a_million_parameters(name, num_sources):
    count = _parameter_count(name, num_sources=num_sources)
    assert 100_000 < count < 1_000_000, count
    assert config_fields(name, provided=("num_sources",))  # a config section names the fields


def test_conv_tasnet_paper_size_is_reachable_by_config():
    count = _parameter_count("conv_tasnet", N=512, L=16, B=128, H=512, P=3, X=8, R=3, Sc=128)
    assert 4_500_000 < count < 5_500_000, count  # the paper reports 5.1M


@pytest.mark.parametrize("name", sorted(TINY))
def test_jitted_training_forward_runs(name):
    model, variables, _ = _model(name, 2, True)
    forward = jax.jit(lambda v, x, lengths: model.apply(v, x, lengths, train=True))
    y = forward(variables, _signal(2, 256), jnp.array([256, 100], jnp.int32))
    assert y.shape == (2, 2, 256) and bool(jnp.isfinite(y).all())


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("num_sources", [1, 2])
def test_causal_models_stream_what_they_compute_whole(name, num_sources):
    """A causal model's step mode, fed chunks of 1, 3 and 8 hops through a jit boundary with
    its state carried, then its delay in zeros: the whole-signal output (the mask estimator's
    cumulative feature mean, GRU states and overlap-add tail; Conv-TasNet's cumulative layer
    norms, dilated convolutions' past frames and decoder tail, carried across chunks)."""
    model, variables, apply = _model(name, num_sources, causal=True)
    x = _signal(2, samples=1000, seed=3)
    whole = np.asarray(apply(variables, x, np.array([1000, 1000], np.int32)))
    step = jax.jit(lambda v, c, s: model.apply(v, c, s, method=type(model).step))
    delay, hop = model.stream_delay, model.hop_length
    assert model.streamable and delay == WINDOW_HOP[name][0] - WINDOW_HOP[name][1]
    for hops in (1, 3, 8):
        size = hops * hop
        padded = np.zeros((2, -(-(1000 + delay) // size) * size), np.float32)
        padded[:, :1000] = x
        state, out = model.initial_state(2), []
        for start in range(0, padded.shape[1], size):
            y, state = step(variables, padded[:, start:start + size], state)
            out.append(np.asarray(y))
        streamed = np.concatenate(out, axis=-1)[..., delay:delay + 1000]
        np.testing.assert_allclose(streamed, whole, atol=1e-5, err_msg=f"{hops} hops a chunk")
    with pytest.raises(ValueError, match="chunks of whole hops"):
        model.apply(variables, padded[:, :hop + 1], model.initial_state(2),
                    method=type(model).step)
    noncausal, variables, _ = _model(name, num_sources)
    assert not noncausal.streamable
