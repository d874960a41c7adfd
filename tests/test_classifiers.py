"""Classifiers against NumPy transcriptions of their layers, and masking by true lengths."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.models import get_model
from audiojax.models.classifiers import WaveformCNN


def test_article_convolution_example_is_a_cross_correlation():
    # Section 4.1: x = [1,3,2,1], w = [1,0,2] "gives" y = [5,5,2,1]: that is what a CNN layer
    # computes (sum_m x[n+m] w[m], zero-padded on the right), not the convolution it defines.
    x = jnp.array([1.0, 3, 2, 1]).reshape(1, 4, 1)
    conv = nn.Conv(1, (3,), padding=((0, 2),), use_bias=False)
    params = {"params": {"kernel": jnp.array([1.0, 0, 2]).reshape(3, 1, 1)}}
    y = conv.apply(params, x).ravel()
    np.testing.assert_array_equal(y, [5, 5, 2, 1])
    np.testing.assert_array_equal(np.correlate([1, 3, 2, 1, 0, 0], [1, 0, 2], "valid"), y)
    assert not np.array_equal(np.convolve([1, 3, 2, 1], [1, 0, 2])[:4], y)  # [1, 3, 4, 7]


def _numpy_forward(variables, audio, lengths, masked):
    """The article's network written out in NumPy (PyTorch semantics, eval-mode BN)."""
    p, stats = variables["params"], variables["batch_stats"]
    x = audio[:, :, None].astype(np.float64)
    valid = lengths.copy()
    for i, (_, k, s) in enumerate(WaveformCNN.blocks):
        w, b = np.asarray(p[f"Conv_{i}"]["kernel"]), np.asarray(p[f"Conv_{i}"]["bias"])
        n_out = (x.shape[1] - k) // s + 1
        windows = np.stack([x[:, t * s:t * s + k, :] for t in range(n_out)], axis=1)
        x = np.einsum("btkc,kcf->btf", windows, w) + b
        bn, st = p[f"BatchNorm_{i}"], stats[f"BatchNorm_{i}"]
        x = (x - st["mean"]) / np.sqrt(st["var"] + 1e-5) * bn["scale"] + bn["bias"]
        x = np.maximum(x, 0)
        t = x.shape[1] // 4
        x = x[:, :t * 4].reshape(x.shape[0], t, 4, -1).max(axis=2)
        valid = ((valid - k) // s + 1) // 4
    if masked:
        x = np.stack([x[i, :max(1, v)].mean(0) for i, v in enumerate(valid)])
    else:
        x = x.mean(1)
    x = np.maximum(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"], 0)
    return x @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]


@pytest.fixture(scope="module")
def waveform_batch():
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((3, 8000)).astype(np.float32) * 0.3
    lengths = np.array([8000, 5000, 3001])
    return audio, lengths


@pytest.mark.parametrize("masked", [True, False])
def test_waveform_cnn_matches_numpy_transcription(waveform_batch, masked):
    audio, lengths = waveform_batch
    model = get_model("waveform_cnn", num_classes=7, masked_pooling=masked)
    variables = model.init(jax.random.key(1), audio, lengths, train=False)
    # Non-trivial running statistics, so eval-mode BN is really exercised.
    rng = np.random.default_rng(2)
    variables["batch_stats"] = jax.tree.map(
        lambda v: jnp.asarray(rng.uniform(0.5, 1.5, v.shape), jnp.float32), variables["batch_stats"])
    logits = model.apply(variables, audio, lengths, train=False)
    ref = _numpy_forward(jax.tree.map(np.asarray, variables), audio, lengths, masked)
    assert logits.shape == (3, 7)
    np.testing.assert_allclose(logits, ref, rtol=2e-4, atol=2e-5)


def test_masked_pooling_ignores_padding(waveform_batch):
    # Frames counted as valid see only samples before the true length (the valid count is
    # propagated through each conv/pool exactly), so padding content cannot matter.
    audio, lengths = waveform_batch
    garbage, zeros = audio.copy(), audio.copy()
    for i, n in enumerate(lengths):
        garbage[i, n:], zeros[i, n:] = 5.0, 0.0
    for masked in (True, False):
        model = WaveformCNN(num_classes=5, masked_pooling=masked)
        variables = model.init(jax.random.key(0), audio, lengths, train=False)
        a = np.asarray(model.apply(variables, garbage, lengths, train=False))
        b = np.asarray(model.apply(variables, zeros, lengths, train=False))
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)  # full length: no padding
        if masked:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:  # the article's pooling averages the padding in
            assert np.abs(a[1:] - b[1:]).max() > 1e-2 * np.abs(b).max()


def test_output_frames_matches_shapes():
    model = WaveformCNN(num_classes=2)
    for n in (1772, 4000, 16000, 16001, 64000):
        x = jnp.zeros((1, n))
        feats = model.init_with_output(
            jax.random.key(0), x, jnp.array([n]), train=False,
            capture_intermediates=lambda mdl, _: isinstance(mdl, nn.BatchNorm))[1]
        last = feats["intermediates"]["BatchNorm_3"]["__call__"][0]
        assert last.shape[1] // 4 == WaveformCNN.output_frames(n)
    with pytest.raises(ValueError, match="1771 samples are too short for WaveformCNN, which needs at least 1772"):
        model.init(jax.random.key(0), jnp.zeros((1, 1771)), jnp.array([1771]), train=False)


@pytest.mark.parametrize("name", ["waveform_cnn", "logmel_cnn"])
def test_bfloat16_compute_keeps_float32_params_and_close_logits(waveform_batch, name):
    audio, lengths = waveform_batch
    kw = {"channels": (8, 16)} if name == "logmel_cnn" else {}
    f32 = get_model(name, num_classes=4, **kw)
    bf16 = get_model(name, num_classes=4, dtype=jnp.bfloat16, **kw)
    variables = f32.init(jax.random.key(0), audio, lengths, train=False)
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(bf16.init(
        jax.random.key(0), audio, lengths, train=False)["params"]))
    a = f32.apply(variables, audio, lengths, train=False)
    b = bf16.apply(variables, audio, lengths, train=False)
    assert b.dtype == jnp.float32
    np.testing.assert_allclose(b, a, rtol=0.1, atol=0.05 * float(jnp.abs(a).max()))


def test_logmel_cnn_masks_padding(waveform_batch):
    audio, lengths = waveform_batch
    model = get_model("logmel_cnn", num_classes=3, channels=(8, 16))
    variables = model.init(jax.random.key(0), audio, lengths, train=False)
    garbage = audio.copy()
    for i, n in enumerate(lengths):
        garbage[i, n:] = 3.0
    a = np.asarray(model.apply(variables, audio * (np.arange(audio.shape[1]) < lengths[:, None]), lengths, train=False))
    b = np.asarray(model.apply(variables, garbage, lengths, train=False))
    # Frames near the end of a clip see padding through the STFT window and 3x3 kernels, so
    # garbage may move the output a little, but far less than without masking.
    unmasked = get_model("logmel_cnn", num_classes=3, channels=(8, 16), masked_pooling=False)
    c = np.asarray(unmasked.apply(variables, audio * (np.arange(audio.shape[1]) < lengths[:, None]), lengths, train=False))
    d = np.asarray(unmasked.apply(variables, garbage, lengths, train=False))
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-5)
    assert np.abs(a[1:] - b[1:]).max() < 0.5 * np.abs(c[1:] - d[1:]).max()


@pytest.mark.parametrize("shape,window", [((2, 37, 3), (4,)), ((2, 37, 11, 3), (2, 2))])
def test_max_pool_equals_flax_max_pool_in_value_and_gradient(shape, window):
    from audiojax.models.classifiers import max_pool

    x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
    np.testing.assert_array_equal(max_pool(x, window), nn.max_pool(x, window, strides=window))
    ours = jax.grad(lambda a: jnp.sum(max_pool(jnp.maximum(a, 0), window) ** 2))(x)
    ref = jax.grad(lambda a: jnp.sum(nn.max_pool(jnp.maximum(a, 0), window, strides=window) ** 2))(x)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


@pytest.mark.parametrize("frontend", ["mfcc", "cqt"])
def test_mfcc_and_cqt_frontends_feed_the_cnn_librosa_features(waveform_batch, frontend):
    import librosa

    audio, lengths = waveform_batch
    model = get_model("logmel_cnn", num_classes=3, channels=(8,), frontend=frontend, n_mfcc=13,
                      cqt_fmin=110.0, cqt_bins=48)
    variables = model.init(jax.random.key(0), audio, lengths, train=False)
    _, state = model.apply(variables, audio, lengths, train=True, mutable=["batch_stats"])
    # BatchNorm's running mean after one step is 0.1 x the batch mean of the input features.
    if frontend == "mfcc":
        ref = librosa.feature.mfcc(y=audio, sr=16000, n_mfcc=13, n_fft=512, hop_length=160,
                                   win_length=400, n_mels=64, fmin=20.0, fmax=7600.0)  # (B, 13, frames)
    else:
        ref = np.stack([librosa.amplitude_to_db(librosa.pseudo_cqt(
            y, sr=16000, hop_length=160, fmin=110.0, n_bins=48), top_db=80.0) for y in audio])
    np.testing.assert_allclose(state["batch_stats"]["BatchNorm_0"]["mean"],
                               0.1 * ref.mean(axis=(0, 2)), rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="model.frontend: unknown 'gammatone'"):
        get_model("logmel_cnn", num_classes=3, frontend="gammatone").init(
            jax.random.key(0), audio, lengths, train=False)


def test_utterance_norm_makes_logits_independent_of_level(waveform_batch):
    audio, lengths = waveform_batch
    audio = audio * (np.arange(audio.shape[1]) < lengths[:, None])
    for norm in (True, False):
        model = get_model("logmel_cnn", num_classes=3, channels=(8,), utterance_norm=norm)
        variables = model.init(jax.random.key(0), audio, lengths, train=False)
        a = np.asarray(model.apply(variables, audio, lengths, train=False))
        b = np.asarray(model.apply(variables, 0.1 * audio, lengths, train=False))
        if norm:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        else:  # -20 dB moves every un-normalized feature
            assert np.abs(a - b).max() > 1e-2


def test_spec_augment_only_in_training_with_keys(waveform_batch):
    audio, lengths = waveform_batch
    model = get_model("logmel_cnn", num_classes=3, channels=(8,), time_masks=2,
                      time_mask_width=10, freq_masks=2, freq_mask_width=8)
    variables = model.init(jax.random.key(0), audio, lengths, train=False)
    keys = jax.random.split(jax.random.key(1), 3)

    def train_logits(keys):
        return np.asarray(model.apply(variables, audio, lengths, train=True, augment_keys=keys,
                                      mutable=["batch_stats"])[0])

    plain = np.asarray(model.apply(variables, audio, lengths, train=True, mutable=["batch_stats"])[0])
    assert np.abs(train_logits(keys) - plain).max() > 1e-4
    np.testing.assert_array_equal(train_logits(keys), train_logits(keys))  # keyed, reproducible
    # Without masks the keys change nothing; evaluation ignores them.
    plain_model = get_model("logmel_cnn", num_classes=3, channels=(8,))
    np.testing.assert_array_equal(
        plain_model.apply(variables, audio, lengths, train=True, augment_keys=keys, mutable=["batch_stats"])[0],
        plain_model.apply(variables, audio, lengths, train=True, mutable=["batch_stats"])[0])
    np.testing.assert_array_equal(model.apply(variables, audio, lengths, train=False, augment_keys=keys),
                                  model.apply(variables, audio, lengths, train=False))
