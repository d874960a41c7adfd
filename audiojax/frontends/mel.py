"""Mel filterbank, mel spectrogram, decibels, MFCC and deltas, librosa-compatible.

Same conventions as :mod:`audiojax.frontends.spectral`: ``(..., samples)`` input, librosa 0.11
names/defaults/layouts, ``ValueError`` naming the bad argument before tracing, float32 compute
for float16/bfloat16/float32 input. Filterbanks, DCT and delta filters are NumPy float64
constants built at trace time.

The one deliberate difference from librosa: on batched input, ``top_db`` clipping (and a
callable ``ref``) work per example, over the last two axes (``(..., n_mels, frames)``), instead
of over the whole batch. On a single 2-D spectrogram both are the same.

Precision: mel power agrees with librosa to ~2e-7 relative, but librosa runs its FFT in
float64 even for float32 input; our float32 FFT rounding (~1e-7 of a frame's energy) shows up
as up to ~1e-3 dB in mel bands 80+ dB below their frame's peak. Float64 input with
``jax_enable_x64`` takes a float64 path that agrees to ~1e-6 dB.
"""

from __future__ import annotations

import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.fft
import scipy.signal

from audiojax.frontends.spectral import (
    as_float_signal,
    check_positive_int,
    check_power,
    complex_power,
    resolve_lengths,
    stft_frames,
)

# The matmuls against constant filterbanks run at full float32 precision also on GPUs/TPUs,
# whose default (TF32/bf16 passes) would cost ~1e-3 relative error.
_HIGHEST = jax.lax.Precision.HIGHEST

# ----------------------------------------------------------------------------- mel scale


def hz_to_mel(frequencies, *, htk: bool = False) -> np.ndarray:
    """Hz -> mels (NumPy float64), Slaney's scale (linear below 1 kHz, log above) or HTK's."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    linear = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, linear)


def mel_to_hz(mels, *, htk: bool = False) -> np.ndarray:
    """Mels -> Hz (NumPy float64), inverse of :func:`hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(
    *,
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
    dtype=np.float32,
) -> np.ndarray:
    """Triangular mel filters, like ``librosa.filters.mel`` (a NumPy constant).

    Args:
      sr: sample rate in Hz.
      n_fft: FFT size the filters apply to.
      n_mels: number of mel bands.
      fmin, fmax: lowest / highest frequency in Hz; ``fmax`` defaults to ``sr / 2``.
      htk: HTK mel scale instead of Slaney's.
      norm: ``'slaney'`` (each filter divided by its bandwidth in Hz / 2: constant energy per
        band), None (peak 1), or a number p: each filter scaled to unit p-norm.
      dtype: of the returned array (computed in float64).

    Returns:
      ``(n_mels, 1 + n_fft // 2)`` weights; ``mel_power = weights @ power_spectrum``.
    """
    if isinstance(sr, bool) or not isinstance(sr, numbers.Real) or sr <= 0:
        raise ValueError(f"sr must be a positive sample rate in Hz, got {sr!r}")
    n_fft = check_positive_int("n_fft", n_fft)
    n_mels = check_positive_int("n_mels", n_mels)
    fmax = float(sr) / 2 if fmax is None else fmax
    if fmin < 0:
        raise ValueError(f"fmin must be >= 0 Hz, got {fmin!r}")
    if fmax <= fmin:
        raise ValueError(f"fmax must be greater than fmin, got fmin={fmin!r}, fmax={fmax!r}")
    if not (norm is None or norm == "slaney" or (isinstance(norm, numbers.Real) and norm > 0)):
        raise ValueError(f"norm must be 'slaney', None or a positive number, got {norm!r}")

    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels + 2), htk=htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))

    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    elif norm is not None:
        # librosa.util.normalize: rows with a ~zero norm are left as they are.
        length = np.max(weights, axis=1) if np.isinf(norm) else np.sum(weights**norm, axis=1) ** (1.0 / norm)
        weights /= np.where(length < np.finfo(np.float64).tiny, 1.0, length)[:, None]

    if not np.all((mel_f[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            "Empty filters detected in mel frequency basis. Some channels will produce empty "
            "responses. Try increasing your sampling rate (and fmax) or reducing n_mels.",
            stacklevel=2,
        )
    return weights.astype(dtype)


# ----------------------------------------------------------------------------- mel spectrogram


def mel_frames(
    y: jax.Array,
    sr: float,
    n_fft: int,
    hop_length: int,
    win_length: int,
    window,
    center: bool,
    pad_mode: str,
    power: float,
    n_mels: int,
    fmin: float,
    fmax: float | None,
    htk: bool,
    norm,
) -> jax.Array:
    """Validated core of :func:`melspectrogram` in frames-major layout ``(..., frames, n_mels)``."""
    fb = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64)
    S = complex_power(stft_frames(y, n_fft, hop_length, win_length, window, center, pad_mode), power)
    return jnp.matmul(S, jnp.asarray(fb.T, dtype=S.dtype), precision=_HIGHEST)


def melspectrogram(
    *,
    y=None,
    sr: float = 22050,
    S=None,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm="slaney",
) -> jax.Array:
    """Mel spectrogram, like ``librosa.feature.melspectrogram``.

    Args:
      y: real signal ``(..., samples)``; or give ``S`` instead.
      sr: sample rate in Hz.
      S: a precomputed magnitude ``** power`` spectrogram ``(..., 1 + n_fft // 2, frames)``;
        ``n_fft`` is then taken from its shape.
      n_fft, hop_length, win_length, window, center, pad_mode: as :func:`~audiojax.frontends.stft`
        (note librosa's ``hop_length=512`` default here).
      power: exponent of the magnitude (2: power, 1: magnitude).
      n_mels, fmin, fmax, htk, norm: as :func:`mel_filterbank`.

    Returns:
      ``(..., n_mels, frames)`` mel-band energies (units of ``|stft| ** power``).
    """
    power = check_power(power)
    if S is not None:
        S = as_float_signal(S, "S")
        if S.ndim < 2:
            raise ValueError(f"S must be (..., 1 + n_fft // 2, frames), got shape {S.shape}")
        fb = mel_filterbank(
            sr=sr, n_fft=2 * (S.shape[-2] - 1), n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64
        )
        return jnp.matmul(jnp.asarray(fb, dtype=S.dtype), S, precision=_HIGHEST)
    if y is None:
        raise ValueError("y (a signal) or S (a spectrogram) must be given")
    n_fft, hop_length, win_length = resolve_lengths(n_fft, hop_length, win_length)
    y = as_float_signal(y)
    M = mel_frames(y, sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, norm)
    return jnp.swapaxes(M, -1, -2)


# ----------------------------------------------------------------------------- decibels


def _check_db_args(amin, top_db) -> None:
    if isinstance(amin, bool) or not isinstance(amin, numbers.Real) or amin <= 0:
        raise ValueError(f"amin must be strictly positive, got {amin!r}")
    if top_db is not None and (not isinstance(top_db, numbers.Real) or top_db < 0):
        raise ValueError(f"top_db must be None or a non-negative number, got {top_db!r}")


def _per_example(fn, x: jax.Array) -> jax.Array:
    """``fn`` applied to each example (last two axes) of ``x``, shaped to broadcast against it."""
    if x.ndim <= 2:
        return jnp.asarray(fn(x))
    flat = x.reshape((-1,) + x.shape[-2:])
    return jax.vmap(fn)(flat).reshape(x.shape[:-2] + (1, 1))


def scaled_db(power: jax.Array, ref_power, amin: float, top_db: float | None) -> jax.Array:
    """``10 log10(power / ref_power)`` floored at ``amin``, clipped ``top_db`` below each example's peak."""
    ref_db = 10.0 * jnp.log10(jnp.maximum(amin, ref_power))
    log_spec = 10.0 * jnp.log10(jnp.maximum(amin, power)) - ref_db
    if top_db is not None:
        # The peak taken from the power (the log is monotone): the reduction reads the power
        # where the matmul leaves it, and the log and clip (and a layout change) fuse in one pass.
        peak = 10.0 * jnp.log10(jnp.maximum(amin, _per_example(jnp.max, power))) - ref_db
        log_spec = jnp.maximum(log_spec, peak - top_db)
    return log_spec


def _real_input(S, name: str = "S") -> jax.Array:
    S = jnp.asarray(S)
    if jnp.issubdtype(S.dtype, jnp.complexfloating):
        return jnp.abs(S)
    return as_float_signal(S, name)


def power_to_db(S, *, ref=1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> jax.Array:
    """``10 * log10(S / ref)``, floored at ``amin`` and clipped to ``top_db`` below the peak.

    Like ``librosa.power_to_db``, except that for input with more than two axes, ``top_db``
    and a callable ``ref`` apply to each example ``S[i, ..., :, :]`` separately (the last two
    axes, e.g. ``(n_mels, frames)``), not to the whole batch; 2-D input gives librosa's result.

    Args:
      S: power spectrogram ``(..., freq, frames)`` (complex input: its magnitude is used).
      ref: scalar (or array broadcasting against ``S``), or a callable such as ``jnp.max``
        (``np.max`` works too) applied to each example to get its reference power.
      amin: floor on ``S`` and ``ref`` before the log, > 0.
      top_db: if not None, the output is at least its per-example maximum minus ``top_db``.

    Returns:
      dB, same shape as ``S``.
    """
    _check_db_args(amin, top_db)
    S = _real_input(S)
    ref_value = _per_example(ref, S) if callable(ref) else jnp.abs(jnp.asarray(ref))
    return scaled_db(S, ref_value, amin, top_db)


def amplitude_to_db(S, *, ref=1.0, amin: float = 1e-5, top_db: float | None = 80.0) -> jax.Array:
    """``20 * log10(|S| / ref)``, like ``librosa.amplitude_to_db`` (per-example, as :func:`power_to_db`)."""
    _check_db_args(amin, top_db)
    magnitude = jnp.abs(_real_input(S))
    ref_value = _per_example(ref, magnitude) if callable(ref) else jnp.abs(jnp.asarray(ref))
    return scaled_db(jnp.square(magnitude), jnp.square(ref_value), amin**2, top_db)


def db_to_power(S_db, *, ref=1.0) -> jax.Array:
    """Inverse of :func:`power_to_db` (without the clipping): ``ref * 10 ** (S_db / 10)``."""
    return ref * jnp.power(10.0, 0.1 * as_float_signal(S_db, "S_db"))


def db_to_amplitude(S_db, *, ref=1.0) -> jax.Array:
    """Inverse of :func:`amplitude_to_db` (without the clipping): ``ref * 10 ** (S_db / 20)``."""
    return ref * jnp.power(10.0, 0.05 * as_float_signal(S_db, "S_db"))


# ----------------------------------------------------------------------------- MFCC


def dct_matrix(n_mfcc: int, n_mels: int, dct_type: int = 2, norm="ortho", lifter: float = 0) -> np.ndarray:
    """``(n_mfcc, n_mels)`` float64 matrix D with ``mfcc = D @ log_mel`` (scipy's DCT, liftered)."""
    n_mfcc = check_positive_int("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc must be <= n_mels, got n_mfcc={n_mfcc}, n_mels={n_mels}")
    if dct_type not in (1, 2, 3, 4):
        raise ValueError(f"dct_type must be 1, 2, 3 or 4, got {dct_type!r}")
    if norm not in (None, "ortho"):
        raise ValueError(f"norm must be None or 'ortho', got {norm!r}")
    if isinstance(lifter, bool) or not isinstance(lifter, numbers.Real) or lifter < 0:
        raise ValueError(f"lifter must be a non-negative number, got {lifter!r}")
    D = scipy.fft.dct(np.eye(n_mels), type=dct_type, norm=norm, axis=0)[:n_mfcc]
    if lifter > 0:
        D *= (1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter))[:, None]
    return D


def mfcc(
    *,
    y=None,
    sr: float = 22050,
    S=None,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm="ortho",
    lifter: float = 0,
    mel_norm="slaney",
    **kwargs,
) -> jax.Array:
    """Mel-frequency cepstral coefficients, like ``librosa.feature.mfcc``.

    Args:
      y: real signal ``(..., samples)``; or give ``S``, a log-power mel spectrogram
        ``(..., n_mels, frames)``.
      sr: sample rate in Hz.
      n_mfcc: number of coefficients, <= n_mels.
      dct_type, norm: scipy DCT type (1-4) and normalization (None or 'ortho') over mel bands.
      lifter: if > 0, cepstral liftering ``1 + lifter / 2 * sin(pi * k / lifter)``, k = 1..n_mfcc.
      mel_norm: the mel filterbank's ``norm`` (``norm`` here is the DCT's, as in librosa).
      **kwargs: :func:`melspectrogram` arguments (n_fft, hop_length, n_mels, fmin, ...).

    Returns:
      ``(..., n_mfcc, frames)``, computed from :func:`power_to_db` (top_db 80 per example) of
      the mel power spectrogram.
    """
    if S is None:
        D = dct_matrix(n_mfcc, kwargs.get("n_mels", 128), dct_type, norm, lifter)
        S = power_to_db(melspectrogram(y=y, sr=sr, norm=mel_norm, **kwargs))
    else:
        S = as_float_signal(S, "S")
        if S.ndim < 2:
            raise ValueError(f"S must be (..., n_mels, frames), got shape {S.shape}")
        D = dct_matrix(n_mfcc, S.shape[-2], dct_type, norm, lifter)
    return jnp.matmul(jnp.asarray(D, dtype=S.dtype), S, precision=_HIGHEST)


# ----------------------------------------------------------------------------- deltas

_DELTA_MODES = {"interp": None, "nearest": "edge", "mirror": "reflect", "constant": "constant", "wrap": "wrap"}


def delta(data, *, width: int = 9, order: int = 1, axis: int = -1, mode: str = "interp") -> jax.Array:
    """Local derivative estimate by Savitzky-Golay filtering, like ``librosa.feature.delta``.

    Args:
      data: features, e.g. ``(..., n_mfcc, frames)``.
      width: odd window length >= 3 (frames); with ``mode='interp'``, <= ``data.shape[axis]``.
      order: derivative order (also the fitted polynomial's order), a positive integer.
      axis: the time axis.
      mode: edge handling of ``scipy.signal.savgol_filter``: 'interp' (a polynomial fitted to
        the first / last ``width`` frames), 'nearest', 'mirror', 'constant' or 'wrap'.

    Returns:
      same shape as ``data``: d^order data / d frame^order.
    """
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 3 or width % 2 != 1:
        raise ValueError(f"width must be an odd integer >= 3, got {width!r}")
    order = check_positive_int("order", order)
    if mode not in _DELTA_MODES:
        raise ValueError(f"mode must be one of {tuple(_DELTA_MODES)}, got {mode!r}")
    data = as_float_signal(jnp.atleast_1d(data), "data")
    if not -data.ndim <= axis < data.ndim:
        raise ValueError(f"axis must be in [-{data.ndim}, {data.ndim}), got {axis}")
    n = data.shape[axis]
    if mode == "interp" and width > n:
        raise ValueError(f"width={width} cannot exceed data.shape[axis]={n} when mode='interp'")

    x = jnp.moveaxis(data, axis, -1)
    half = width // 2
    coeffs = scipy.signal.savgol_coeffs(width, order, deriv=order, use="dot")
    # 'interp' pads with zeros; its edge outputs are replaced below.
    padded = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode=_DELTA_MODES[mode] or "constant")
    # Correlation with a short constant filter as a sum of shifted slices (cheap, differentiable).
    out = sum(float(c) * padded[..., k : k + n] for k, c in enumerate(coeffs))
    if mode == "interp":
        # savgol 'interp' replaces the first/last `half` outputs by a polynomial fitted to the
        # first/last `width` frames: a linear map, taken from scipy on an identity matrix.
        edges = scipy.signal.savgol_filter(np.eye(width), width, order, deriv=order, axis=0, mode="interp")
        head = jnp.matmul(x[..., :width], jnp.asarray(edges[:half].T, x.dtype), precision=_HIGHEST)
        tail = jnp.matmul(x[..., n - width :], jnp.asarray(edges[width - half :].T, x.dtype), precision=_HIGHEST)
        out = jnp.concatenate([head, out[..., half : n - half], tail], axis=-1)
    return jnp.moveaxis(out, -1, axis)
