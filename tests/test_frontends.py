"""audiojax.frontends against librosa 0.11 on real speech (espeak-ng) and seeded random signals.

Error measures: for spectra and features, relative error ``max|a - b| / max|b|`` per output
(the largest deviation against the output's scale); for decibels, absolute error in dB.
Functions run eagerly here: each shape compiles small kernels once, far cheaper than jitting
every grid point.
"""

from __future__ import annotations

import itertools
import warnings

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from audiojax import frontends as F

STFT_TOL = 1e-5  # relative, stft and mel power (the bound)
DB_TOL = 1e-3  # dB absolute, power_to_db
# Waveform -> dB end to end in float32: the FFT's rounding (~1e-7 of a frame's energy) reaches
# ~1e-3 dB in mel bands 80+ dB below their frame's peak (librosa runs its FFT in float64).
# test_frontends_jax checks the float64 path agrees to 1e-6 dB, so the gap is precision only.
END_TO_END_DB_TOL = 2e-3
N_FFTS = (256, 400, 512, 1024, 2048)


def rel_err(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def noise(n: int, seed: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(batch + (n,))).astype(np.float32)


@pytest.fixture(scope="module")
def clips(speech) -> list[np.ndarray]:
    assert all(sr == 16000 for _, sr in speech)
    return [y for y, _ in speech]


@pytest.fixture(autouse=True)
def _quiet_librosa():
    # librosa warns about n_fft > signal length and empty mel filters; we test those cases.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# ----------------------------------------------------------------------------- STFT


def _stft_grid(n_fft: int):
    """(hop_length, win_length, window, center, pad_mode) cases for one n_fft: all windows and
    padding modes, default and odd non-default hop/win (win_length < n_fft)."""
    lengths = [(None, None), (n_fft // 4 - 3, n_fft - 57), (n_fft // 2 + 1, n_fft // 2 + 1)]
    windows = ("hann", "hamming", "blackman")
    pads = [(True, "constant"), (True, "reflect"), (False, "constant")]
    for i, ((hop, win), (center, pad_mode)) in enumerate(itertools.product(lengths, pads)):
        yield hop, win, windows[i % 3], center, pad_mode


@pytest.mark.parametrize("n_fft", N_FFTS)
def test_stft_grid_random(n_fft):
    y = noise(3 * n_fft + 17, seed=n_fft)  # odd length, not a multiple of any hop
    for hop, win, window, center, pad_mode in _stft_grid(n_fft):
        kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=center, pad_mode=pad_mode)
        err = rel_err(F.stft(y, **kw), librosa.stft(y, **kw))
        assert err <= STFT_TOL, (kw, err)


@pytest.mark.parametrize("n_fft", N_FFTS)
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_stft_clip_shorter_than_n_fft(n_fft, pad_mode):
    for n in (n_fft // 3 + 1, n_fft - 1):
        y = noise(n, seed=n)
        kw = dict(n_fft=n_fft, hop_length=n_fft // 8, pad_mode=pad_mode, window="hamming")
        assert rel_err(F.stft(y, **kw), librosa.stft(y, **kw)) <= STFT_TOL


@pytest.mark.parametrize("n_fft, hop, win", [(400, 160, None), (512, 128, 400), (2048, 512, None), (1024, 100, 777)])
def test_stft_speech(clips, n_fft, hop, win):
    for y in clips:
        for window, center in (("hann", True), ("blackman", False)):
            kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=center)
            assert rel_err(F.stft(y, **kw), librosa.stft(y, **kw)) <= STFT_TOL


def test_stft_batched_and_magnitudes():
    y = noise(4001, seed=1, batch=(2, 3))
    kw = dict(n_fft=400, hop_length=160, win_length=300)
    D = librosa.stft(y, **kw)
    ours = F.stft(y, **kw)
    assert ours.shape == D.shape == (2, 3, 201, 26)
    assert ours.dtype == jnp.complex64
    assert rel_err(ours, D) <= STFT_TOL
    assert rel_err(F.spectrogram(y, **kw), np.abs(D)) <= STFT_TOL
    assert rel_err(F.spectrogram(y, power=2.0, **kw), np.abs(D) ** 2) <= STFT_TOL
    mag, phase = F.magphase(ours, power=2)
    ref_mag, ref_phase = librosa.magphase(D, power=2)
    assert rel_err(mag, ref_mag) <= STFT_TOL
    assert rel_err(phase, ref_phase) <= 1e-4  # phase of the weakest bins is itself ill-conditioned


def test_frames_for_length_matches_stft():
    for n_fft, hop, center in itertools.product((255, 256, 400), (64, 100, 160), (True, False)):
        for n in (n_fft, n_fft + 1, 1000, 1601, 4097):
            expected = librosa.stft(np.zeros(n, np.float32), n_fft=n_fft, hop_length=hop, center=center).shape[-1]
            assert F.frames_for_length(n, n_fft, hop, center) == expected
    lengths = jnp.array([16000, 8000, 100])
    got = jax.jit(lambda n: F.frames_for_length(n, 512, 160))(lengths)
    np.testing.assert_array_equal(got, [101, 51, 1])


@pytest.mark.parametrize("axis", [-1, 0, -2, 1])
def test_frame(axis):
    x = noise(50, seed=3, batch=(12, 9))
    kw = dict(frame_length=7, hop_length=3, axis=axis)
    np.testing.assert_array_equal(F.frame(x, **kw), librosa.util.frame(x, **kw))


# ----------------------------------------------------------------------------- inverse STFT


@pytest.mark.parametrize(
    "n_fft, hop, win, window, center, extra",
    [
        (512, 128, None, "hann", True, None),
        (400, 160, 300, "hann", True, 0),
        (1024, 256, None, "hamming", True, 500),
        (512, 100, 400, "blackman", True, -77),
        (2048, 512, None, "hann", False, None),
        (256, 64, 201, "hamming", False, 0),
    ],
)
def test_istft_inverts_stft(clips, n_fft, hop, win, window, center, extra):
    y = clips[1]
    kw = dict(hop_length=hop, win_length=win, window=window, center=center)
    D = F.stft(y, n_fft=n_fft, **kw)
    length = None if extra is None else len(y) + extra
    ours = F.istft(D, length=length, **kw)
    assert rel_err(ours, librosa.istft(np.asarray(D), length=length, **kw)) <= STFT_TOL
    # Reconstruction wherever windows overlap: centred analysis covers the whole clip; without
    # centring the first/last n_fft samples are (near) zero-weight and undefined.
    m = min(len(y), ours.shape[-1])
    inner = slice(0, m) if center else slice(n_fft, m - n_fft)
    np.testing.assert_allclose(ours[inner], y[inner], atol=1e-5 * np.abs(y).max())


# ----------------------------------------------------------------------------- mel


@pytest.mark.parametrize("sr", [16000, 22050])
def test_mel_filterbank_grid(sr):
    grid = itertools.product(N_FFTS, (40, 64, 80, 128), (False, True), ("slaney", None, 1.0, np.inf), ((0.0, None), (20.0, 7600.0)))
    for n_fft, n_mels, htk, norm, (fmin, fmax) in grid:
        kw = dict(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
        ours, ref = F.mel_filterbank(**kw), librosa.filters.mel(**kw)
        assert ours.shape == ref.shape == (n_mels, 1 + n_fft // 2) and ours.dtype == ref.dtype
        assert rel_err(ours, ref) <= 1e-6, kw


def _mel_cases():
    """(n_fft, hop, win, n_mels, htk, norm, fmin, fmax, window): a spread over the grid."""
    return [
        (512, 160, 400, 80, False, "slaney", 0.0, None, "hann"),
        (400, 160, None, 40, True, None, 20.0, 7600.0, "hamming"),
        (1024, 256, 900, 128, False, None, 50.0, 4000.0, "blackman"),
        (2048, 512, None, 128, True, "slaney", 0.0, None, "hann"),
        (256, 80, 200, 64, False, "slaney", 100.0, 6000.0, "hann"),
    ]


@pytest.mark.parametrize("n_fft, hop, win, n_mels, htk, norm, fmin, fmax, window", _mel_cases())
def test_melspectrogram_and_db(clips, n_fft, hop, win, n_mels, htk, norm, fmin, fmax, window):
    kw = dict(sr=16000, n_fft=n_fft, hop_length=hop, win_length=win, n_mels=n_mels, htk=htk, norm=norm, fmin=fmin, fmax=fmax, window=window)
    for y in clips + [noise(5 * n_fft + 3, seed=n_fft)]:
        ours, ref = F.melspectrogram(y=y, **kw), librosa.feature.melspectrogram(y=y, **kw)
        assert rel_err(ours, ref) <= STFT_TOL
        # power_to_db itself, on the same power spectrogram, several ref / top_db settings.
        for ref_arg, top_db in ((1.0, 80.0), (np.max, 80.0), (jnp.max, 40.0), (0.01, None)):
            db = F.power_to_db(ref, ref=ref_arg, top_db=top_db)
            assert np.max(np.abs(db - librosa.power_to_db(ref, ref=ref_arg, top_db=top_db))) <= DB_TOL
        # End to end, waveform -> dB (librosa's defaults, top_db=80).
        assert np.max(np.abs(F.power_to_db(ours) - librosa.power_to_db(ref))) <= END_TO_END_DB_TOL


def test_melspectrogram_from_S_and_power_1(clips):
    y = clips[0]
    S = np.abs(librosa.stft(y, n_fft=400, hop_length=160))
    kw = dict(sr=16000, n_mels=40, power=1.0)
    assert rel_err(F.melspectrogram(S=S, **kw), librosa.feature.melspectrogram(S=S, **kw)) <= STFT_TOL
    kw = dict(sr=16000, n_fft=400, hop_length=160, n_mels=40, power=1.0)
    assert rel_err(F.melspectrogram(y=y, **kw), librosa.feature.melspectrogram(y=y, **kw)) <= STFT_TOL


def test_top_db_is_per_example(clips):
    y = clips[0]
    loud, quiet = y, 1e-3 * y  # 60 dB apart
    M = np.stack([librosa.feature.melspectrogram(y=loud, sr=16000), librosa.feature.melspectrogram(y=quiet, sr=16000)])
    ours = F.power_to_db(M, ref=np.max)
    for i in range(2):  # each example equals librosa on that example alone
        assert np.max(np.abs(ours[i] - librosa.power_to_db(M[i], ref=np.max))) <= DB_TOL
    # librosa on the whole batch clips the quiet example against the loud one's peak.
    assert np.max(np.abs(ours[1] - librosa.power_to_db(M, ref=np.max)[1])) > 10


def test_amplitude_db_and_inverses(clips):
    S = np.abs(librosa.stft(clips[2], n_fft=512))
    for ref, top_db in ((1.0, 80.0), (np.max, 60.0), (0.5, None)):
        got = F.amplitude_to_db(S, ref=ref, top_db=top_db)
        assert np.max(np.abs(got - librosa.amplitude_to_db(S, ref=ref, top_db=top_db))) <= DB_TOL
    db = librosa.power_to_db(S**2, top_db=None)
    assert rel_err(F.db_to_power(db, ref=2.0), librosa.db_to_power(db, ref=2.0)) <= 1e-5
    assert rel_err(F.db_to_amplitude(db, ref=2.0), librosa.db_to_amplitude(db, ref=2.0)) <= 1e-5


# ----------------------------------------------------------------------------- MFCC, delta


@pytest.mark.parametrize(
    "n_mfcc, dct_type, norm, lifter, mel_kw",
    [
        (20, 2, "ortho", 0, {}),
        (13, 2, "ortho", 22, dict(n_fft=400, hop_length=160, n_mels=40, fmin=20.0, fmax=7600.0)),
        (13, 3, None, 0, dict(n_fft=512, hop_length=128, n_mels=64, htk=True)),
        (20, 1, "ortho", 10, dict(n_fft=1024, hop_length=256, win_length=800, n_mels=80)),
    ],
)
def test_mfcc(clips, n_mfcc, dct_type, norm, lifter, mel_kw):
    kw = dict(sr=16000, n_mfcc=n_mfcc, dct_type=dct_type, norm=norm, lifter=lifter, **mel_kw)
    for y in clips:
        assert rel_err(F.mfcc(y=y, **kw), librosa.feature.mfcc(y=y, **kw)) <= STFT_TOL
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=clips[0], sr=16000))
    assert rel_err(F.mfcc(S=S, n_mfcc=n_mfcc, dct_type=dct_type, norm=norm), librosa.feature.mfcc(S=S, n_mfcc=n_mfcc, dct_type=dct_type, norm=norm)) <= STFT_TOL


def test_delta(clips):
    feats = librosa.feature.mfcc(y=clips[0], sr=16000, n_mfcc=13)
    for width, order, axis, mode in [(9, 1, -1, "interp"), (9, 2, -1, "interp"), (3, 1, -1, "interp"), (5, 2, 0, "interp"),
                                     (7, 1, -1, "nearest"), (5, 1, -1, "mirror"), (5, 1, -1, "constant"), (5, 1, -1, "wrap")]:
        kw = dict(width=width, order=order, axis=axis, mode=mode)
        assert rel_err(F.delta(feats, **kw), librosa.feature.delta(feats, **kw)) <= 1e-5, kw
    batch = np.stack([feats, 2 * feats])
    assert rel_err(F.delta(batch), librosa.feature.delta(batch)) <= 1e-5


# ----------------------------------------------------------------------------- constant-Q

CQT_CASES = [
    dict(sr=16000, hop_length=160, fmin=65.4, n_bins=80),
    dict(sr=22050, hop_length=512),                                   # librosa's defaults
    dict(sr=16000, hop_length=256, fmin=100.0, n_bins=48, bins_per_octave=24, filter_scale=0.8,
         sparsity=0.0, norm=2, scale=False),
    dict(sr=16000, hop_length=128, fmin=200.0, n_bins=36, tuning=0.3, norm=np.inf, window="hamming"),
]


@pytest.mark.parametrize("kw", CQT_CASES, ids=lambda kw: f"{kw['sr']}-{kw['hop_length']}")
def test_pseudo_cqt(clips, kw):
    rate = kw["sr"]
    tone = np.sin(2 * np.pi * 440.0 * np.arange(rate) / rate).astype(np.float32)
    signals = ([librosa.resample(c, orig_sr=16000, target_sr=rate) for c in clips[:2]]
               + [tone + noise(rate, seed=1)])
    for y in signals:
        assert rel_err(F.pseudo_cqt(y, **kw), librosa.pseudo_cqt(y, **kw)) <= STFT_TOL
    batch = np.stack([signals[-1], 0.5 * signals[-1]])
    ours = F.pseudo_cqt(batch, **kw)
    assert rel_err(ours[1], librosa.pseudo_cqt(batch[1], **kw)) <= STFT_TOL


def test_pseudo_cqt_bins_are_semitones_and_log_cqt_is_its_db(clips):
    """A tone peaks in the bin of its pitch; LogCQT is amplitude_to_db of it (per example)."""
    freqs = F.cqt_frequencies(60, fmin=65.4, bins_per_octave=12)
    np.testing.assert_allclose(freqs, librosa.cqt_frequencies(60, fmin=65.4))
    t = np.arange(16000) / 16000
    for k in (3, 21, 40, 57):
        y = np.sin(2 * np.pi * freqs[k] * t).astype(np.float32)
        C = np.asarray(F.pseudo_cqt(y, sr=16000, hop_length=160, fmin=65.4, n_bins=60))
        assert np.argmax(C[:, 50]) == k
    batch = np.stack([clips[0][:16000], 1e-3 * clips[0][:16000]])
    layer = F.LogCQT(n_bins=60)
    ours = np.asarray(layer.apply({}, batch))
    for i in range(2):
        ref = librosa.amplitude_to_db(librosa.pseudo_cqt(batch[i], sr=16000, hop_length=160,
                                                         fmin=layer.fmin, n_bins=60), top_db=80.0)
        assert np.max(np.abs(ours[i].T - ref)) <= END_TO_END_DB_TOL
    with pytest.raises(ValueError, match="above the Nyquist frequency 8000 Hz"):
        F.pseudo_cqt(batch[0], sr=16000, fmin=65.4, n_bins=84)
    with pytest.raises(ValueError, match="tuning must be a number"):
        F.pseudo_cqt(batch[0], sr=16000, tuning=None)
    with pytest.raises(ValueError, match="sparsity must be in"):
        F.pseudo_cqt(batch[0], sr=16000, n_bins=60, sparsity=1.0)
