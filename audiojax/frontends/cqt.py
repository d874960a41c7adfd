"""Constant-Q front-end: the pseudo constant-Q transform, librosa-compatible.

``pseudo_cqt`` is ``librosa.pseudo_cqt``: one STFT (a Hann window of the longest filter's power
of two, at least twice the hop) whose magnitudes are projected onto the magnitudes of the
constant-Q filters' spectra, so each bin ``k`` at ``fmin * 2 ** (k / bins_per_octave)`` Hz has
the same quality factor ``Q``: a semitone apart at every pitch, where mel bands blur the low
notes. The filter bank is a NumPy float64 constant built at trace time (a transcription of
``librosa.filters.wavelet`` and of the basis of ``librosa.core.constantq``); the projection is
a dense matmul (librosa's sparse rows, stored dense).

Cost: the FFT is as long as the lowest bin's filter, ``Q * sr / fmin`` samples rounded up to a
power of two (16,384 at 16 kHz from C2 = 65.4 Hz with 12 bins per octave; 32,768 from C1), on
every hop: a higher ``fmin`` or a longer hop is much cheaper.
"""

from __future__ import annotations

import functools
import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from audiojax.frontends.mel import _HIGHEST, _check_db_args, scaled_db
from audiojax.frontends.spectral import (
    as_float_signal,
    check_pad_mode,
    check_positive_int,
    get_window,
    stft_frames,
)

C1_HZ = 440.0 * 2.0 ** (-45 / 12)   # 32.70 Hz, librosa's default fmin


def cqt_frequencies(n_bins: int, *, fmin: float, bins_per_octave: int = 12,
                    tuning: float = 0.0) -> np.ndarray:
    """Centre frequencies in Hz (NumPy float64) of ``n_bins`` bins from ``fmin``, like
    ``librosa.cqt_frequencies``."""
    return 2.0 ** (tuning / bins_per_octave) * fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)


def _relative_bandwidth(freqs: np.ndarray) -> np.ndarray:
    """Each bin's bandwidth over its frequency, from the local bins per octave (a centred
    difference of log2 frequency, one-sided at the ends)."""
    logf = np.log2(freqs)
    bpo = np.empty_like(freqs)
    bpo[0], bpo[-1] = 1 / (logf[1] - logf[0]), 1 / (logf[-1] - logf[-2])
    bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)


def _window_bandwidth(window) -> float:
    """Equivalent noise bandwidth of ``window`` in bins (librosa's ``window_bandwidth``)."""
    w = get_window(window, 1000)
    return float(1000 * np.sum(w**2) / np.sum(np.abs(w)) ** 2)


@functools.lru_cache(maxsize=32)
def _basis(sr: float, fmin: float, n_bins: int, bins_per_octave: int, hop_length: int,
           filter_scale: float, norm, sparsity: float, window) -> tuple[np.ndarray, int, np.ndarray]:
    """``(|basis| (n_bins, 1 + n_fft // 2) float64, n_fft, filter lengths (n_bins,))``."""
    freqs = cqt_frequencies(n_bins, fmin=fmin, bins_per_octave=bins_per_octave)
    alpha = _relative_bandwidth(freqs)
    q = filter_scale / alpha
    cutoff = float(np.max(freqs * (1 + 0.5 * _window_bandwidth(window) / q)))
    if cutoff > sr / 2:
        raise ValueError(f"the top bin's filter reaches {cutoff:.0f} Hz, above the Nyquist "
                         f"frequency {sr / 2:g} Hz: lower n_bins or fmin")
    lengths = q * sr / freqs
    width = int(2.0 ** np.ceil(np.log2(lengths.max())))
    n_fft = max(width, int(2.0 ** (1 + np.ceil(np.log2(hop_length)))))
    filters = np.zeros((n_bins, width), np.complex128)
    for k, (length, f) in enumerate(zip(lengths, freqs)):
        # A windowed complex sinusoid of ceil(length) samples, centred in the row.
        t = np.arange(-length // 2, length // 2, dtype=np.float64)
        sig = np.exp(2j * np.pi * f / sr * t) * get_window(window, len(t))
        if norm is not None:
            size = np.max(np.abs(sig)) if np.isinf(norm) else np.sum(np.abs(sig) ** norm) ** (1 / norm)
            sig = sig / size
        left = (width - len(t)) // 2
        filters[k, left:left + len(t)] = sig
    filters *= lengths[:, None] / n_fft
    spectra = np.abs(np.fft.fft(filters, n=n_fft, axis=1)[:, :n_fft // 2 + 1])
    if sparsity > 0:
        # Keep each row's largest magnitudes, dropping at most `sparsity` of its sum.
        ordered = np.sort(spectra, axis=1)
        cumulative = np.cumsum(ordered / ordered.sum(axis=1, keepdims=True), axis=1)
        floor = ordered[np.arange(n_bins), np.argmin(cumulative < sparsity, axis=1)]
        spectra = np.where(spectra >= floor[:, None], spectra, 0.0)
    for array in (spectra, lengths):
        array.setflags(write=False)
    return spectra, n_fft, lengths


def _check(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, norm, sparsity) -> None:
    if isinstance(sr, bool) or not isinstance(sr, numbers.Real) or sr <= 0:
        raise ValueError(f"sr must be a positive sample rate in Hz, got {sr!r}")
    check_positive_int("hop_length", hop_length)
    check_positive_int("bins_per_octave", bins_per_octave)
    if check_positive_int("n_bins", n_bins) < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    if not isinstance(fmin, numbers.Real) or fmin <= 0:
        raise ValueError(f"fmin must be a positive frequency in Hz, got {fmin!r}")
    if not isinstance(filter_scale, numbers.Real) or filter_scale <= 0:
        raise ValueError(f"filter_scale must be > 0, got {filter_scale!r}")
    if not (norm is None or (isinstance(norm, numbers.Real) and norm > 0)):
        raise ValueError(f"norm must be None or a positive number (inf: the peak), got {norm!r}")
    if not (isinstance(sparsity, numbers.Real) and 0 <= sparsity < 1):
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")


def cqt_frames(y: jax.Array, sr: float, hop_length: int, fmin: float, n_bins: int,
               bins_per_octave: int, filter_scale: float, norm, sparsity: float, window,
               scale: bool, pad_mode: str) -> jax.Array:
    """Validated core of :func:`pseudo_cqt` in frames-major layout ``(..., frames, n_bins)``."""
    _check(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, norm, sparsity)
    check_pad_mode(pad_mode)
    spectra, n_fft, lengths = _basis(float(sr), float(fmin), int(n_bins), int(bins_per_octave),
                                     int(hop_length), float(filter_scale), norm, float(sparsity),
                                     window)
    magnitude = jnp.abs(stft_frames(y, n_fft, hop_length, n_fft, "hann", True, pad_mode))
    gain = np.full(n_bins, 1 / np.sqrt(n_fft)) if scale else np.sqrt(lengths / n_fft)
    weights = (spectra * gain[:, None]).T
    return jnp.matmul(magnitude, jnp.asarray(weights, magnitude.dtype), precision=_HIGHEST)


def pseudo_cqt(
    y,
    *,
    sr: float = 22050,
    hop_length: int = 512,
    fmin: float | None = None,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    tuning: float = 0.0,
    filter_scale: float = 1.0,
    norm: float | None = 1,
    sparsity: float = 0.01,
    window="hann",
    scale: bool = True,
    pad_mode: str = "constant",
) -> jax.Array:
    """Pseudo constant-Q magnitudes, like ``librosa.pseudo_cqt``.

    Args:
      y: real signal ``(..., samples)``.
      sr: sample rate in Hz; hop_length: samples between frames (frame ``t`` centred on sample
        ``t * hop_length``, as ``stft(center=True)``).
      fmin: the lowest bin's frequency in Hz (default C1, 32.70 Hz); n_bins, bins_per_octave:
        the bins, ``fmin * 2 ** (k / bins_per_octave)``; tuning: offset of ``fmin`` in
        fractions of a bin (a number: librosa's estimation, ``None``, is not done here).
      filter_scale: longer (> 1) or shorter filters than the constant Q's.
      norm: each filter scaled to unit ``norm``-norm in time (1; ``np.inf``: peak; None: none).
      sparsity: each basis row keeps its largest values, dropping up to this fraction of its sum.
      window: the filters' window (:func:`~audiojax.frontends.get_window`).
      scale: divide by ``sqrt(n_fft)`` (else multiply each bin by ``sqrt(length / n_fft)``).
      pad_mode: the STFT's padding (:func:`~audiojax.frontends.stft`).

    Returns:
      ``(..., n_bins, frames)`` magnitudes, float32 (float64 for float64 input with x64).
    """
    if tuning is None or not isinstance(tuning, numbers.Real):
        raise ValueError(f"tuning must be a number of bins (estimating it is not supported), "
                         f"got {tuning!r}")
    fmin = C1_HZ if fmin is None else fmin
    if not isinstance(bins_per_octave, numbers.Integral) or bins_per_octave <= 0:
        raise ValueError(f"bins_per_octave must be a positive integer, got {bins_per_octave!r}")
    fmin = fmin * 2.0 ** (tuning / bins_per_octave)
    out = cqt_frames(as_float_signal(y), sr, hop_length, fmin, n_bins, bins_per_octave,
                     filter_scale, norm, sparsity, window, scale, pad_mode)
    return jnp.swapaxes(out, -1, -2)


class LogCQT(nn.Module):
    """Pseudo constant-Q magnitudes in dB: ``(..., samples)`` -> ``(..., frames, n_bins)``,
    float32; ``amplitude_to_db(pseudo_cqt(...), ref=ref, amin=amin, top_db=top_db)``
    transposed (``top_db`` per example). Defaults: 80 semitones from C2 (65.4 Hz, to G8 at
    6.3 kHz) at 16 kHz, 10 ms hops. No parameters."""

    sample_rate: float = 16000
    hop_length: int = 160
    fmin: float = C1_HZ * 2
    n_bins: int = 80
    bins_per_octave: int = 12
    filter_scale: float = 1.0
    sparsity: float = 0.01
    ref: float = 1.0
    amin: float = 1e-5
    top_db: float | None = 80.0

    def __call__(self, waveforms: jax.Array) -> jax.Array:
        _check_db_args(self.amin, self.top_db)
        c = cqt_frames(as_float_signal(waveforms, "waveforms"), self.sample_rate, self.hop_length,
                       self.fmin, self.n_bins, self.bins_per_octave, self.filter_scale, 1,
                       self.sparsity, "hann", True, "constant")
        return scaled_db(jnp.square(c), self.ref**2, self.amin**2, self.top_db)
