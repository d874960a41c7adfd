"""Spectral distances between a reference waveform and a resynthesis (vocoder quality).

- :func:`log_spectral_distance`: per frame, the RMS over frequency bins of the difference of
  the two power spectra in dB; averaged over frames (dB).
- :func:`mel_cepstral_distortion`: per frame, ``sqrt(2 * sum_{d>=1} (c_d - c'_d)^2)`` over
  MFCCs 1..n_mfcc-1 (c0, the level, left out); averaged over frames (dB). The MFCCs come from
  the dB log-mel (librosa's ``mfcc``), so they already carry the usual ``10 / ln 10`` factor.

Both take ``(..., samples)`` signals of the same length and return ``(...)``; no time
alignment is attempted (a vocoder's output is sample-aligned with its mel source).
"""

from __future__ import annotations

import jax.numpy as jnp

from audiojax import frontends as F


def _check_pair(reference, estimate):
    reference, estimate = jnp.asarray(reference, jnp.float32), jnp.asarray(estimate, jnp.float32)
    if reference.shape != estimate.shape:
        raise ValueError(f"reference and estimate must have the same shape, got {reference.shape} "
                         f"and {estimate.shape}")
    return reference, estimate


def log_spectral_distance(reference, estimate, *, n_fft: int = 512, hop_length: int = 128,
                          amin: float = 1e-10) -> jnp.ndarray:
    """Mean over frames of ``sqrt(mean_f (10 log10 P_ref - 10 log10 P_est)^2)``, in dB."""
    reference, estimate = _check_pair(reference, estimate)
    spec = lambda y: F.spectrogram(y, n_fft=n_fft, hop_length=hop_length, power=2.0)  # noqa: E731
    diff = (F.power_to_db(spec(reference), amin=amin, top_db=None)
            - F.power_to_db(spec(estimate), amin=amin, top_db=None))
    return jnp.sqrt(jnp.mean(diff ** 2, axis=-2)).mean(axis=-1)


def mel_cepstral_distortion(reference, estimate, *, sr: int = 16000, n_mfcc: int = 13,
                            n_fft: int = 512, hop_length: int = 160, n_mels: int = 40) -> jnp.ndarray:
    """Mean over frames of ``sqrt(2 * sum_{d=1}^{n_mfcc-1} (c_d - c'_d)^2)``, in dB."""
    reference, estimate = _check_pair(reference, estimate)
    def cep(y):  # unclipped dB log-mel (no top_db), then librosa's DCT
        mel = F.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        return F.mfcc(S=F.power_to_db(mel, top_db=None), n_mfcc=n_mfcc)

    diff = (cep(reference) - cep(estimate))[..., 1:, :]
    return jnp.sqrt(2.0 * jnp.sum(diff ** 2, axis=-2)).mean(axis=-1)
