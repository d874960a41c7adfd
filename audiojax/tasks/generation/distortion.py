"""Spectral distances between a reference waveform and a resynthesis (vocoder quality).

- :func:`log_spectral_distance`: per frame, the RMS over frequency bins of the difference of
  the two power spectra in dB; averaged over frames (dB).
- :func:`mel_cepstral_distortion`: per frame, ``sqrt(2 * sum_{d>=1} (c_d - c'_d)^2)`` over
  MFCCs 1..n_mfcc-1 (c0, the level, left out); averaged over frames (dB). The MFCCs come from
  the dB log-mel (librosa's ``mfcc``), so they already carry the usual ``10 / ln 10`` factor.

Both take ``(..., samples)`` signals of the same length and return ``(...)``; no time
alignment is attempted (a vocoder's output is sample-aligned with its mel source). Powers are
floored at ``top_db`` below the reference's peak, so that digital silence in the reference
(-100 dB and below) does not dominate. The MFCCs are librosa's (orthonormal DCT of the dB
log-mel): their scale differs from the SPTK mel-cepstra of published MCD figures; compare
numbers computed here with each other (e.g. with the 8-bit mu-law codec of the reference).
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


def _db_pair(p_ref, p_est, top_db: float):
    """Both ``(..., freq, frames)`` powers in dB, floored at ``top_db`` below the reference's
    peak (per example)."""
    floor = p_ref.max(axis=(-2, -1), keepdims=True) * 10.0 ** (-top_db / 10.0)
    db = lambda p: 10.0 * jnp.log10(jnp.maximum(p, jnp.maximum(floor, 1e-20)))  # noqa: E731
    return db(p_ref), db(p_est)


def log_spectral_distance(reference, estimate, *, n_fft: int = 512, hop_length: int = 128,
                          top_db: float = 80.0) -> jnp.ndarray:
    """Mean over frames of ``sqrt(mean_f (10 log10 P_ref - 10 log10 P_est)^2)``, in dB."""
    reference, estimate = _check_pair(reference, estimate)
    spec = lambda y: F.spectrogram(y, n_fft=n_fft, hop_length=hop_length, power=2.0)  # noqa: E731
    db_ref, db_est = _db_pair(spec(reference), spec(estimate), top_db)
    return jnp.sqrt(jnp.mean((db_ref - db_est) ** 2, axis=-2)).mean(axis=-1)


def mel_cepstral_distortion(reference, estimate, *, sr: int = 16000, n_mfcc: int = 13,
                            n_fft: int = 512, hop_length: int = 160, n_mels: int = 40,
                            top_db: float = 80.0) -> jnp.ndarray:
    """Mean over frames of ``sqrt(2 * sum_{d=1}^{n_mfcc-1} (c_d - c'_d)^2)``, in dB."""
    reference, estimate = _check_pair(reference, estimate)
    mel = lambda y: F.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length,  # noqa: E731
                                     n_mels=n_mels)
    db_ref, db_est = _db_pair(mel(reference), mel(estimate), top_db)
    diff = (F.mfcc(S=db_ref, n_mfcc=n_mfcc) - F.mfcc(S=db_est, n_mfcc=n_mfcc))[..., 1:, :]
    return jnp.sqrt(2.0 * jnp.sum(diff ** 2, axis=-2)).mean(axis=-1)
