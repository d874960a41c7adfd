"""Log-spectral distance and mel-cepstral distortion against NumPy/librosa transcriptions."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from audiojax.tasks.generation.distortion import log_spectral_distance, mel_cepstral_distortion


def _pair():
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    ref = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(8000)).astype(np.float32)
    est = (0.4 * np.sin(2 * np.pi * 450 * t) + 0.08 * rng.standard_normal(8000)).astype(np.float32)
    return ref, est


def test_log_spectral_distance_matches_numpy():
    ref, est = _pair()
    p = [np.abs(librosa.stft(y, n_fft=512, hop_length=128)) ** 2 for y in (ref, est)]
    db = [10 * np.log10(np.maximum(x, p[0].max() * 1e-8)) for x in p]  # 80 dB below the peak
    expected = np.sqrt(((db[0] - db[1]) ** 2).mean(axis=0)).mean()
    assert float(log_spectral_distance(ref, est)) == pytest.approx(expected, rel=1e-3)
    assert float(log_spectral_distance(ref, ref)) == 0.0
    batch = log_spectral_distance(np.stack([ref, ref]), np.stack([est, ref]))
    np.testing.assert_allclose(batch, [expected, 0.0], rtol=1e-3, atol=1e-6)
    # Digital silence in the reference costs at most the 80 dB floor, not -200 dB.
    silent = ref.copy()
    silent[:4000] = 0.0
    assert float(log_spectral_distance(silent, est)) < 80.0


def test_mel_cepstral_distortion_matches_librosa():
    ref, est = _pair()
    mel = [librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, n_mels=40)
           for y in (ref, est)]
    log_mel = [librosa.power_to_db(m, amin=mel[0].max() * 1e-8, top_db=None) for m in mel]
    c = [librosa.feature.mfcc(S=s, n_mfcc=13) for s in log_mel]
    expected = np.sqrt(2 * ((c[0][1:] - c[1][1:]) ** 2).sum(axis=0)).mean()
    assert float(mel_cepstral_distortion(ref, est)) == pytest.approx(expected, rel=1e-3)
    # With digital silence in the reference, the floor (80 dB below its peak) is what counts.
    silent = ref.copy()
    silent[:4000] = 0.0
    mel = [librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, n_mels=40)
           for y in (silent, est)]
    c = [librosa.feature.mfcc(S=librosa.power_to_db(m, amin=mel[0].max() * 1e-8, top_db=None),
                              n_mfcc=13) for m in mel]
    expected = np.sqrt(2 * ((c[0][1:] - c[1][1:]) ** 2).sum(axis=0)).mean()
    assert float(mel_cepstral_distortion(silent, est)) == pytest.approx(expected, rel=1e-3)
    with pytest.raises(ValueError, match="same shape"):
        mel_cepstral_distortion(ref, est[:100])
