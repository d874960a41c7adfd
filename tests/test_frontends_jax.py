"""audiojax.frontends under jit / vmap / grad, low-precision input, argument validation,
the linen layers, and the sample codecs (mu-law, pre-emphasis) against librosa."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from audiojax import frontends as F

SR = 16000
MEL = dict(sr=SR, n_fft=512, hop_length=160, win_length=400, n_mels=40)


def noise(shape, seed: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def rel_err(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@functools.partial(jax.jit, static_argnames=("top_db",))
def log_mel(y, top_db=None):
    return F.power_to_db(F.melspectrogram(y=y, **MEL), top_db=top_db)


# ----------------------------------------------------------------------------- transformations


def test_jit_and_vmap_match_eager_and_librosa(speech):
    y = np.stack([speech[0][0][:8000], speech[2][0][:8000]])
    eager = F.power_to_db(F.melspectrogram(y=y, **MEL), top_db=None)
    np.testing.assert_allclose(log_mel(y), eager, atol=1e-4)
    np.testing.assert_allclose(jax.vmap(log_mel)(y), eager, atol=1e-4)
    np.testing.assert_allclose(eager, librosa.power_to_db(librosa.feature.melspectrogram(y=y, **MEL), top_db=None), atol=1e-3)
    stft = jax.jit(functools.partial(F.stft, n_fft=400, hop_length=100))
    istft = jax.jit(functools.partial(F.istft, hop_length=100, length=8000))
    np.testing.assert_allclose(istft(stft(y)), y, atol=1e-5)


def test_grad_of_log_mel_is_finite_and_matches_finite_differences():
    y = jnp.asarray(noise((2, 4000), seed=0))
    y = y.at[:, :500].set(0.0)  # digital silence: |X| = 0 bins must not give NaN gradients

    def loss(x):
        return jnp.mean(F.power_to_db(F.melspectrogram(y=x, **MEL), top_db=None))

    grad = jax.jit(jax.grad(loss))(y)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    # Directional derivatives in float64 (local x64, the library itself is untouched), away
    # from silence, where the amin floor makes the loss non-smooth.
    y = jnp.asarray(noise((2, 4000), seed=0))
    grad = jax.jit(jax.grad(loss))(y)
    with jax.enable_x64(True):
        y64 = jnp.asarray(np.asarray(y, np.float64))
        loss64 = jax.jit(loss)
        for seed in range(3):
            v = jnp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
            h = 1e-4
            fd = (loss64(y64 + h * v) - loss64(y64 - h * v)) / (2 * h)
            exact = jnp.vdot(jax.grad(loss64)(y64), v)
            assert abs(float(exact) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd)))
    # And the float32 gradient agrees with the float64 one.
    with jax.enable_x64(True):
        g64 = jax.grad(loss)(jnp.asarray(np.asarray(y, np.float64)))
    assert rel_err(grad, g64) <= 1e-3


def test_grad_through_magnitude_spectrogram_at_silence():
    g = jax.grad(lambda x: jnp.sum(F.spectrogram(x, n_fft=256, hop_length=64, power=1.0)))(jnp.zeros(1000))
    assert np.all(np.isfinite(g))


def test_bfloat16_input_is_computed_in_float32():
    y = noise((2, 3000), seed=1)
    y16 = jnp.asarray(y, jnp.bfloat16)
    up = np.asarray(y16.astype(jnp.float32))
    out = F.melspectrogram(y=y16, **MEL)
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(out, F.melspectrogram(y=up, **MEL))
    assert rel_err(out, librosa.feature.melspectrogram(y=up, **MEL)) <= 1e-5
    assert F.stft(y16, n_fft=256).dtype == jnp.complex64
    assert F.LogMel(n_mels=40).apply({}, jnp.asarray(y, jnp.float16)).dtype == jnp.float32


def test_float64_under_x64_matches_librosa_float64_in_db(speech):
    # float32 FFT rounding limits bands ~80 dB below a frame's peak to ~1e-3 dB; float64 input
    # under x64 takes the float64 path and then agrees with librosa to far better.
    y = speech[0][0].astype(np.float64)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, **MEL), top_db=None)
    with jax.enable_x64(True):
        ours = F.power_to_db(F.melspectrogram(y=y, **MEL), top_db=None)
        assert ours.dtype == jnp.float64
    assert np.max(np.abs(np.asarray(ours) - ref)) <= 1e-6


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda y: F.stft(y, n_fft=256, hop_length=0), "hop_length must be a positive integer, got 0"),
        (lambda y: F.stft(y, n_fft=256, hop_length=-3), "hop_length must be a positive integer, got -3"),
        (lambda y: F.stft(y, n_fft=256, hop_length=2.5), "hop_length must be a positive integer"),
        (lambda y: F.stft(y, n_fft=0), "n_fft must be a positive integer, got 0"),
        (lambda y: F.stft(y, n_fft=256, win_length=300), "win_length must be <= n_fft"),
        (lambda y: F.stft(y, n_fft=256, window="hanning-ish"), "window 'hanning-ish' is not a known window"),
        (lambda y: F.stft(y, n_fft=256, window=np.ones(100)), "window must have win_length=256"),
        (lambda y: F.stft(y, n_fft=2048, center=False), r"n_fft=2048 is longer than the signal \(1000 samples\) with center=False"),
        (lambda y: F.stft(y, n_fft=256, pad_mode="wrap"), "pad_mode must be one of"),
        (lambda y: F.stft(y.astype(np.int16), n_fft=256), "y must be a floating-point array, got dtype int16; convert"),
        (lambda y: F.melspectrogram(y=y.astype(np.int32), sr=SR), "y must be a floating-point array, got dtype int32"),
        (lambda y: F.melspectrogram(y=y, sr=SR, n_mels=0), "n_mels must be a positive integer, got 0"),
        (lambda y: F.melspectrogram(y=y, sr=SR, fmin=5000.0, fmax=4000.0), "fmax must be greater than fmin"),
        (lambda y: F.melspectrogram(y=y, sr=SR, power=0), "power must be a positive number"),
        (lambda y: F.mfcc(y=y, sr=SR, n_mfcc=50, n_mels=40), "n_mfcc must be <= n_mels"),
        (lambda y: F.mfcc(y=y, sr=SR, lifter=-1), "lifter must be a non-negative number"),
        (lambda y: F.power_to_db(y, amin=0), "amin must be strictly positive"),
        (lambda y: F.power_to_db(y, top_db=-1), "top_db must be None or a non-negative number"),
        (lambda y: F.delta(y, width=4), "width must be an odd integer >= 3"),
        (lambda y: F.delta(y[:5], width=9), "width=9 cannot exceed data.shape"),
        (lambda y: F.frame(y, frame_length=2000, hop_length=10), "frame_length=2000 is longer than the input"),
        (lambda y: F.mu_law_encode(y, mu=0), "mu must be strictly positive"),
        (lambda y: F.LogMel(hop_length=0).apply({}, y[None]), "hop_length must be a positive integer, got 0"),
    ],
)
def test_invalid_arguments_raise_before_tracing(call, message):
    y = noise(1000, seed=2)
    with pytest.raises(ValueError, match=message):
        call(y)
    # Under jit the same error comes from Python during tracing, not from XLA.
    with pytest.raises(ValueError, match=message):
        jax.jit(call)(y)


# ----------------------------------------------------------------------------- layers


def test_log_mel_layer(speech):
    y = np.stack([speech[1][0][:6000], speech[2][0][:6000]])
    layer = F.LogMel(sample_rate=SR, n_fft=512, hop_length=160, win_length=400, n_mels=40, top_db=80.0)
    variables = layer.init(jax.random.key(0), y)
    assert jax.tree_util.tree_leaves(variables) == []  # no parameters
    out = jax.jit(layer.apply)(variables, y)
    assert out.shape == (2, F.frames_for_length(6000, 512, 160), 40)
    for i in range(2):  # per example, frames-major: librosa's log-mel transposed
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y[i], **MEL)).T
        assert np.max(np.abs(out[i] - ref)) <= 1e-3


def test_mfcc_layer(speech):
    y = np.stack([speech[0][0][:6000], speech[1][0][:6000]])
    layer = F.MFCC(sample_rate=SR, n_mfcc=13, n_mels=40, lifter=22)
    out = jax.jit(layer.apply)({}, y)
    assert out.shape == (2, F.frames_for_length(6000, 512, 160), 13)
    for i in range(2):
        ref = librosa.feature.mfcc(y=y[i], sr=SR, n_mfcc=13, n_fft=512, hop_length=160, win_length=400, n_mels=40, lifter=22).T
        assert rel_err(out[i], ref) <= 1e-5


# ----------------------------------------------------------------------------- codecs


def test_mu_law_matches_librosa():
    x = np.clip(noise(5000, seed=3), -1, 1)
    x[:3] = [-1.0, 0.0, 1.0]
    classes = F.mu_law_encode(x)
    assert classes.dtype == jnp.int32 and int(classes.min()) >= 0 and int(classes.max()) <= 255
    # librosa can return class 128 (+128 = 256, a 257th class) at x = 1 by float32 rounding;
    # ours stays within 256 classes.
    np.testing.assert_array_equal(classes, np.minimum(librosa.mu_compress(x) + 128, 255))
    assert len(np.unique(F.mu_law_encode(np.linspace(-1, 1, 100000, dtype=np.float32)))) == 256
    q = np.arange(256)
    assert rel_err(F.mu_law_decode(q), librosa.mu_expand(q - 128)) <= 1e-6
    comp = F.mu_law_encode(x, quantize=False)
    assert rel_err(comp, librosa.mu_compress(x, quantize=False)) <= 1e-6
    assert rel_err(F.mu_law_decode(comp, quantize=False), x) <= 1e-5
    # 8-bit round trip: error within one quantization step, 2 / (mu + 1) in the companded
    # domain, which is d|x| = (|x| + 1 / mu) * ln(1 + mu) * 2 / (mu + 1) in the signal domain.
    step = (np.abs(x) + 1 / 255) * np.log(256) * 2 / 256
    assert np.all(np.abs(F.mu_law_decode(classes) - x) <= step)


def test_pre_and_deemphasis_match_librosa():
    y = noise((2, 3001), seed=4)
    for kw in (dict(), dict(coef=0.5), dict(coef=0.9, zi=np.array([[0.1], [-0.2]]))):
        assert rel_err(F.preemphasis(y, **kw), librosa.effects.preemphasis(y, **kw)) <= 1e-6
        assert rel_err(F.deemphasis(y, **kw), librosa.effects.deemphasis(y, **kw)) <= 1e-5
    out, zf = F.preemphasis(y, return_zf=True)
    ref, ref_zf = librosa.effects.preemphasis(y, return_zf=True)
    assert rel_err(zf, ref_zf) <= 1e-6
    out, zf = F.deemphasis(y, return_zf=True)
    ref, ref_zf = librosa.effects.deemphasis(y, return_zf=True)
    assert rel_err(zf, ref_zf) <= 1e-5
    assert rel_err(F.deemphasis(F.preemphasis(y)), y) <= 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jax.jit(F.deemphasis)(y)
