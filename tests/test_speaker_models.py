"""Speaker-embedding models: statistics pooling against a NumPy transcription, attentive pooling
reducing to it under uniform attention, and the three models' embeddings unchanged by padding
and by the other rows of a batch (eval), and by padding with masked BatchNorm (training)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.models import get_model
from audiojax.models.speaker import AttentiveStatisticsPooling, statistics_pooling

SR = 16000
SPEC_AUGMENT = dict(time_masks=2, time_mask_width=5, freq_masks=1, freq_mask_width=4)
TINY = {  # a few thousand parameters each: compiling dominates
    "xvector": dict(channels=(16, 16, 16, 16), pooling_channels=24, embedding_dim=8),
    "ecapa_tdnn": dict(channels=12, scale=3, se_channels=8, attention_channels=8,
                       mfa_channels=24, embedding_dim=8),
    "speaker_gru": dict(hidden=8, layers=2, attention_channels=8, embedding_dim=8),
}


# Compilation dominates these tiny models; XLA's optimizations are not worth it here.
pytestmark = pytest.mark.usefixtures("fast_compilation_module")


def _numpy_statistics(x, lengths, weights=None, eps=1e-5):
    out = []
    for b, n in enumerate(lengths):
        w = np.full((n, 1), 1.0 / n) if weights is None else weights[b, :n]
        mean = (w * x[b, :n]).sum(0)
        var = (w * x[b, :n] ** 2).sum(0) - mean ** 2
        out.append(np.concatenate([mean, np.sqrt(np.maximum(var, eps))]))
    return np.stack(out)


@pytest.mark.parametrize("weights_shape", [None, "per_frame", "per_channel"])
def test_statistics_pooling_is_the_masked_mean_and_std(weights_shape):
    rng = np.random.default_rng(0)
    lengths = np.array([11, 4, 1])          # one frame: variance 0, floored at eps
    x = rng.standard_normal((3, 11, 5)) * 2.0 + 1.0
    valid = np.arange(11)[None, :] < lengths[:, None]
    weights = None
    if weights_shape:
        w = rng.uniform(0.1, 1.0, (3, 11, 1 if weights_shape == "per_frame" else 5)) * valid[..., None]
        weights = w / w.sum(axis=1, keepdims=True)
    want = _numpy_statistics(x, lengths, weights)
    x[~valid] = np.nan                      # padding's contents never reach a sum
    got = statistics_pooling(jnp.asarray(x, jnp.float32), jnp.asarray(valid),
                             None if weights is None else jnp.asarray(weights, jnp.float32))
    assert got.shape == (3, 10) and got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_attentive_pooling_with_uniform_attention_is_plain_statistics():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 9, 6)), jnp.float32)
    mask = jnp.asarray(np.arange(9)[None, :] < np.array([[9], [5]]))
    pool = AttentiveStatisticsPooling(attention_channels=4)
    variables = jax.jit(lambda x, m: pool.init(jax.random.key(0), x, m, train=False))(x, mask)
    apply = jax.jit(lambda v, x, m: pool.apply(v, x, m, train=False))
    attended = apply(variables, x, mask)
    padded = jnp.where(mask[..., None], x, 7.0)  # padding's contents never matter
    np.testing.assert_allclose(apply(variables, padded, mask), attended, rtol=1e-5, atol=1e-6)
    grad = np.asarray(jax.jit(jax.grad(lambda x: apply(variables, x, mask).sum()))(x))
    assert np.isfinite(grad).all() and not grad[1, 5:].any()  # -inf logits: no NaN, no leak
    plain = statistics_pooling(x, mask)
    assert np.abs(attended - plain).max() > 1e-3  # random attention is not uniform
    params = dict(variables["params"])
    params["attention_out"] = jax.tree.map(jnp.zeros_like, params["attention_out"])
    uniform = apply({**variables, "params": params}, x, mask)
    np.testing.assert_allclose(uniform, plain, rtol=1e-5, atol=1e-6)


def _utterance(rng, seconds):
    """A voiced sound: five harmonics of a random pitch, amplitude-modulated, plus noise."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(100, 250)
    y = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    return (0.2 * y).astype(np.float32)


def _batch(clips, seconds):
    """Clips zero-padded to ``seconds`` -> ``(audio (batch, samples), lengths (batch,))``."""
    size = int(seconds * SR)
    audio = np.stack([np.pad(c, (0, size - c.size)) for c in clips])
    return jnp.asarray(audio), jnp.array([c.size for c in clips])


def _random_variables(model, audio, lengths, seed):
    """Variables of ``model`` drawn here (no compiled init: compiling dominates): kernels
    LeCun-normal as flax's, and random biases, BN scales and running statistics, so that
    padded frames are far from zero after every layer (as they would not be at init: zero
    biases, identity BN)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), audio, lengths, train=False))

    def draw(path, leaf):
        noise = rng.standard_normal(leaf.shape).astype(np.float32)
        if path[-1].key == "kernel":
            return noise / np.sqrt(np.prod(leaf.shape[:-1]))
        return 1.0 + 0.3 * np.abs(noise) if path[-1].key in ("var", "scale") else 0.3 * noise

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.fixture(scope="module", params=sorted(TINY))
def speaker_model(request):
    """``(name, model, variables, eval_fn, train_fn)`` of one model at tiny widths."""
    name = request.param
    model = get_model(name, n_mels=24, **SPEC_AUGMENT, **TINY[name])
    variables = _random_variables(model, *_batch([np.zeros(4800, np.float32)], 0.3), seed=1)
    eval_fn = jax.jit(lambda v, a, n: model.apply(v, a, n, train=False))
    train_fn = jax.jit(lambda v, a, n, k: model.apply(v, a, n, train=True, augment_keys=k,
                                                      mutable=["batch_stats"]))
    return name, model, variables, eval_fn, train_fn


def _assert_close(a, b, rtol=1e-4):
    a, b = np.asarray(a), np.asarray(b)
    assert np.abs(a - b).max() <= rtol * np.abs(a).max(), np.abs(a - b).max() / np.abs(a).max()


def test_embeddings_ignore_padding_and_the_other_rows(speaker_model):
    """An utterance's embedding is the same when it fills the batch (1.2 s of 1.2 s) and when
    0.8 s of zeros follow it, or 0.4 s and then 1.2 s; and whatever the other rows hold."""
    name, model, variables, eval_fn, _ = speaker_model
    rng = np.random.default_rng(3)
    short, full, longer, another = (_utterance(rng, s) for s in (0.8, 1.2, 2.0, 0.5))
    first = np.asarray(eval_fn(variables, *_batch([short, full], 1.2)))
    assert first.shape == (2, TINY[name]["embedding_dim"]) and first.dtype == np.float32
    assert np.isfinite(first).all()
    assert np.abs(first[0] - first[1]).max() > 1e-2 * np.abs(first).max()  # not a constant
    padded = np.asarray(eval_fn(variables, *_batch([longer, full, short], 2.0)))
    _assert_close(first[0], padded[2])
    _assert_close(first[1], padded[1])
    others = np.asarray(eval_fn(variables, *_batch([another, full], 1.2)))  # same shape
    _assert_close(first[1], others[1])


def test_training_updates_batch_stats_from_valid_frames_only(speaker_model):
    name, model, variables, _, train_fn = speaker_model
    rng = np.random.default_rng(4)
    clips = [_utterance(rng, s) for s in (0.8, 1.2, 0.6, 1.0)]  # BN of 2 rows is ill-conditioned
    keys = jax.random.split(jax.random.key(5), len(clips))
    embeddings, updates = train_fn(variables, *_batch(clips, 1.2), keys)
    assert embeddings.shape == (4, TINY[name]["embedding_dim"]) and np.isfinite(embeddings).all()
    if name == "speaker_gru":  # no BatchNorm
        assert "batch_stats" not in variables and not updates
        return
    old, new = (list(map(np.asarray, jax.tree.leaves(v["batch_stats"]))) for v in (variables, updates))
    assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(old, new))
    # masked BatchNorm: more padding leaves the batch's statistics and embeddings as they were
    embeddings_2, updates_2 = train_fn(variables, *_batch(clips, 2.0), keys)
    _assert_close(embeddings, embeddings_2)
    for a, b in zip(new, jax.tree.leaves(updates_2["batch_stats"])):
        _assert_close(a, b)
