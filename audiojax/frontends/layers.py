"""Flax linen layers computing features on device inside a model: ``(batch, samples)`` ->
``(batch, frames, features)``.

They have no parameters or state: each wraps the pure functions of this package with its
configuration, so ``model.init`` adds nothing to the params tree. Frame ``t`` covers the same
samples as in librosa; use :func:`~audiojax.frontends.frames_for_length` to mask padding.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.frontends.mel import _HIGHEST, _check_db_args, dct_matrix, mel_frames, scaled_db
from audiojax.frontends.spectral import as_float_signal, check_power, resolve_lengths


class LogMel(nn.Module):
    """Log-mel spectrogram in dB: ``(..., samples)`` -> ``(..., frames, n_mels)``, float32.

    Equals ``power_to_db(melspectrogram(...), ref=ref, amin=amin, top_db=top_db)`` transposed,
    with librosa's meaning for every field (defaults: 32 ms / 10 ms frames at 16 kHz, 80 bands).
    ``top_db`` (None: no clipping) applies per example.
    """

    sample_rate: float = 16000
    n_fft: int = 512
    hop_length: int | None = 160
    win_length: int | None = 400
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"
    ref: float = 1.0
    amin: float = 1e-10
    top_db: float | None = None

    def __call__(self, waveforms: jax.Array) -> jax.Array:
        n_fft, hop_length, win_length = resolve_lengths(self.n_fft, self.hop_length, self.win_length)
        _check_db_args(self.amin, self.top_db)
        y = as_float_signal(waveforms, "waveforms")
        mel = mel_frames(
            y, self.sample_rate, n_fft, hop_length, win_length, self.window, self.center, self.pad_mode,
            check_power(self.power), self.n_mels, self.fmin, self.fmax, self.htk, self.norm,
        )
        return scaled_db(mel, abs(self.ref), self.amin, self.top_db)


class MFCC(nn.Module):
    """MFCCs: ``(..., samples)`` -> ``(..., frames, n_mfcc)``, float32.

    Equals ``mfcc(y=..., sr=sample_rate, ...)`` transposed (librosa's defaults for the DCT:
    type 2, 'ortho', no lifter, log-mel with top_db=80 per example). As in librosa, ``norm``
    is the DCT's and ``mel_norm`` the filterbank's.
    """

    sample_rate: float = 16000
    n_mfcc: int = 20
    dct_type: int = 2
    norm: str | None = "ortho"
    lifter: float = 0
    n_fft: int = 512
    hop_length: int | None = 160
    win_length: int | None = 400
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    mel_norm: str | None = "slaney"
    top_db: float | None = 80.0

    def __call__(self, waveforms: jax.Array) -> jax.Array:
        n_fft, hop_length, win_length = resolve_lengths(self.n_fft, self.hop_length, self.win_length)
        _check_db_args(1e-10, self.top_db)
        dct = dct_matrix(self.n_mfcc, self.n_mels, self.dct_type, self.norm, self.lifter)
        y = as_float_signal(waveforms, "waveforms")
        mel = mel_frames(
            y, self.sample_rate, n_fft, hop_length, win_length, self.window, self.center, self.pad_mode,
            check_power(self.power), self.n_mels, self.fmin, self.fmax, self.htk, self.mel_norm,
        )
        log_mel = scaled_db(mel, 1.0, 1e-10, self.top_db)
        return jnp.matmul(log_mel, jnp.asarray(dct.T, log_mel.dtype), precision=_HIGHEST)
