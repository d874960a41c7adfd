"""Audio front-ends in pure JAX, swappable with librosa 0.11.

Functions keep librosa's names, keywords, defaults and layouts (``(..., freq, frames)``) and
work under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` on ``(..., samples)`` batches. The linen
layers :class:`LogMel`, :class:`MFCC` and :class:`LogCQT` give model-friendly
``(batch, frames, features)``.
Differences from librosa (all documented on the functions): ``top_db``/callable ``ref`` are
per example on batched input; float16/bfloat16 input is computed and returned in float32;
mu-law classes are ``0..mu`` (librosa's + (mu + 1) // 2); out-of-range mu-law input is clipped.
"""

from audiojax.frontends.codecs import deemphasis, mu_law_decode, mu_law_encode, preemphasis
from audiojax.frontends.cqt import LogCQT, cqt_frequencies, pseudo_cqt
from audiojax.frontends.layers import MFCC, LogMel
from audiojax.frontends.mel import (
    amplitude_to_db,
    db_to_amplitude,
    db_to_power,
    delta,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    melspectrogram,
    mfcc,
    power_to_db,
)
from audiojax.frontends.spectral import (
    frame,
    frames_for_length,
    get_window,
    istft,
    magphase,
    spectrogram,
    stft,
)

__all__ = [
    "LogCQT",
    "LogMel",
    "MFCC",
    "amplitude_to_db",
    "cqt_frequencies",
    "db_to_amplitude",
    "db_to_power",
    "deemphasis",
    "delta",
    "frame",
    "frames_for_length",
    "get_window",
    "hz_to_mel",
    "istft",
    "magphase",
    "mel_filterbank",
    "mel_to_hz",
    "melspectrogram",
    "mfcc",
    "mu_law_decode",
    "mu_law_encode",
    "power_to_db",
    "preemphasis",
    "pseudo_cqt",
    "spectrogram",
    "stft",
]
