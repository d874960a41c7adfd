"""Windows, framing, STFT / inverse STFT and magnitude spectrograms, librosa-compatible.

Every function takes signals shaped ``(..., samples)`` (any leading batch axes), works under
``jax.jit`` / ``jax.vmap`` / ``jax.grad``, and uses librosa 0.11's names, keywords, defaults and
output layouts. Static arguments (sizes, window, padding) are checked in plain Python before any
tracing, and a bad one raises ``ValueError`` naming the argument.

Precision: integer input is rejected; float16/bfloat16 input is upcast and computed in float32,
so outputs are float32 (complex64 for complex spectra), or float64/complex128 for float64 input
when ``jax_enable_x64`` is on. Windows and other constants are computed in NumPy float64.
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

# Padding modes librosa.stft accepts (it refuses wrap/maximum/mean/median/minimum).
PAD_MODES = ("constant", "edge", "linear_ramp", "reflect", "symmetric")


# ----------------------------------------------------------------------------- validation


def check_positive_int(name: str, value) -> int:
    """Returns ``value`` as an int, or raises ``ValueError`` naming ``name`` if it is not > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_float_signal(y, name: str = "y") -> jax.Array:
    """``y`` as a floating JAX array: float16/bfloat16 are upcast to float32; ints are refused.

    Integer PCM has no agreed scale (int16? int32?), so we ask the caller to convert rather
    than guess.
    """
    dtype = jnp.result_type(y) if isinstance(y, jax.Array) else np.asarray(y).dtype
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be real-valued, got dtype {dtype}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"{name} must be a floating-point array, got dtype {dtype}; convert it first, "
            f"e.g. y.astype(np.float32) / 32768 for int16 PCM"
        )
    y = jnp.asarray(y)
    if jnp.finfo(y.dtype).bits < 32:
        y = y.astype(jnp.float32)
    if y.ndim == 0:
        raise ValueError(f"{name} must have a samples axis, got a scalar")
    return y


def resolve_lengths(n_fft, hop_length, win_length) -> tuple[int, int, int]:
    """librosa's defaults: ``win_length = n_fft``, ``hop_length = win_length // 4``."""
    n_fft = check_positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length must be <= n_fft, got win_length={win_length}, n_fft={n_fft}")
    if hop_length is None:
        hop_length = max(win_length // 4, 1)
    hop_length = check_positive_int("hop_length", hop_length)
    return n_fft, hop_length, win_length


def check_pad_mode(pad_mode: str) -> None:
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")


# ----------------------------------------------------------------------------- windows


def get_window(window, win_length: int, *, fftbins: bool = True) -> np.ndarray:
    """A window as a float64 NumPy array of ``win_length`` samples, like ``librosa.filters.get_window``.

    ``window`` is a ``scipy.signal.get_window`` name or ``(name, param)`` tuple (periodic when
    ``fftbins``), a callable ``f(win_length)``, or an array of exactly ``win_length`` values.
    """
    win_length = check_positive_int("win_length", win_length)
    if callable(window):
        win = np.asarray(window(win_length), dtype=np.float64)
    elif isinstance(window, (str, tuple)) or np.isscalar(window):
        try:
            win = _scipy_window(window, win_length, fftbins)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"window {window!r} is not a known window ({e}); use a scipy.signal.get_window "
                f"name such as 'hann', 'hamming' or 'blackman', a (name, param) tuple, "
                f"a callable or an array of length win_length"
            ) from None
    else:
        win = np.asarray(window, dtype=np.float64)
    if win.shape != (win_length,):
        raise ValueError(f"window must have win_length={win_length} samples, got shape {win.shape}")
    return win


@functools.lru_cache(maxsize=64)
def _scipy_window(window, win_length: int, fftbins: bool) -> np.ndarray:
    win = scipy.signal.get_window(window, win_length, fftbins=fftbins).astype(np.float64)
    win.setflags(write=False)
    return win


def fft_window(window, win_length: int, n_fft: int) -> np.ndarray:
    """The analysis window zero-padded to ``n_fft``, centred (``librosa.util.pad_center``)."""
    win = get_window(window, win_length)
    left = (n_fft - win_length) // 2
    return np.pad(win, (left, n_fft - win_length - left))


# ----------------------------------------------------------------------------- framing


def _frame_last(x: jax.Array, frame_length: int, hop_length: int) -> jax.Array:
    """``(..., n)`` -> ``(..., n_frames, frame_length)`` by one gather of contiguous slices.

    One ``(row, start)`` index pair per frame, each slice ``frame_length`` samples of one row:
    XLA copies whole frames straight into the ``(rows, frames, frame_length)`` layout the FFT
    reads. (Vmapped ``dynamic_slice`` gathered ``(frames, rows, frame_length)`` and transposed
    it, 15-25% of a log-mel's time; indexing with a 2-D index array gathered across the batch
    axis and was ~2x slower still.)
    """
    n_frames = 1 + (x.shape[-1] - frame_length) // hop_length
    rows = x.reshape((-1, x.shape[-1]))
    shape = (rows.shape[0], n_frames, 1)  # iotas, not constants: long signals stay cheap to compile
    index = jnp.concatenate([jax.lax.broadcasted_iota(jnp.int32, shape, 0),
                             hop_length * jax.lax.broadcasted_iota(jnp.int32, shape, 1)], axis=-1)
    dims = jax.lax.GatherDimensionNumbers(offset_dims=(2,), collapsed_slice_dims=(0,),
                                          start_index_map=(0, 1))
    frames = jax.lax.gather(rows, index, dims, (1, frame_length),
                            mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
    return frames.reshape(x.shape[:-1] + (n_frames, frame_length))


def frame(x, *, frame_length: int, hop_length: int, axis: int = -1) -> jax.Array:
    """Slices ``x`` into overlapping frames, like ``librosa.util.frame`` (a copy, not a view).

    Args:
      x: array; framed along ``axis``, which must have at least ``frame_length`` entries.
      frame_length: samples per frame.
      hop_length: samples between frame starts.
      axis: the axis to frame.

    Returns:
      librosa's layout: for ``axis=-1``, ``(..., frame_length, n_frames)``; for ``axis=0``,
      ``(n_frames, frame_length, ...)``; in general, a negative ``axis`` puts the frame axis
      just before the frames axis and a non-negative one just after it.
      ``n_frames = 1 + (x.shape[axis] - frame_length) // hop_length``.
    """
    frame_length = check_positive_int("frame_length", frame_length)
    hop_length = check_positive_int("hop_length", hop_length)
    x = jnp.asarray(x)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [-{x.ndim}, {x.ndim}), got {axis}")
    if x.shape[axis] < frame_length:
        raise ValueError(
            f"frame_length={frame_length} is longer than the input (x.shape[{axis}]={x.shape[axis]})"
        )
    frames = _frame_last(jnp.moveaxis(x, axis, -1), frame_length, hop_length)
    frame_axis = axis - 1 if axis < 0 else axis + 1
    return jnp.moveaxis(frames, (-2, -1), (axis, frame_axis))


def frames_for_length(lengths, n_fft: int, hop_length: int, center: bool = True):
    """Number of STFT frames covering signals of ``lengths`` samples (same rule as :func:`stft`).

    Models use it to mask features by the true length of each clip in a padded batch.
    ``lengths`` may be an int, a NumPy array or a JAX array (traced too); the result has the
    same kind. Lengths too short for one frame give 0 (``center=False``).
    """
    n_fft = check_positive_int("n_fft", n_fft)
    hop_length = check_positive_int("hop_length", hop_length)
    xp = jnp if isinstance(lengths, jax.Array) else np
    padded = lengths + 2 * (n_fft // 2) if center else lengths
    return xp.maximum(0, 1 + (padded - n_fft) // hop_length)


# ----------------------------------------------------------------------------- STFT


def stft_frames(
    y: jax.Array,
    n_fft: int,
    hop_length: int,
    win_length: int,
    window,
    center: bool,
    pad_mode: str,
) -> jax.Array:
    """Validated core of :func:`stft` in frames-major layout: ``(..., frames, 1 + n_fft // 2)``.

    Frames-major is what models want (``(batch, frames, features)``) and what rfft produces,
    so layers call this directly and skip librosa's transpose.
    """
    win = fft_window(window, win_length, n_fft)
    if center:
        check_pad_mode(pad_mode)
        pad = [(0, 0)] * (y.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        y = jnp.pad(y, pad, mode=pad_mode)
    elif n_fft > y.shape[-1]:
        raise ValueError(
            f"n_fft={n_fft} is longer than the signal ({y.shape[-1]} samples) with center=False; "
            f"use a smaller n_fft, a longer signal or center=True"
        )
    return jnp.fft.rfft(_frame_last(y, n_fft, hop_length) * jnp.asarray(win, y.dtype), axis=-1)


def stft(
    y,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
) -> jax.Array:
    """Short-time Fourier transform, like ``librosa.stft``.

    Args:
      y: real signal ``(..., samples)``.
      n_fft: FFT size in samples (any positive integer, not only powers of two).
      hop_length: samples between frames; default ``win_length // 4``.
      win_length: window length in samples, ``<= n_fft``; default ``n_fft``. A shorter window
        is zero-padded to ``n_fft`` on both sides (centred).
      window: see :func:`get_window`; periodic ("fftbins") windows as in librosa.
      center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred on sample
        ``t * hop_length``.
      pad_mode: ``jnp.pad`` mode for ``center``: constant (zeros), edge, linear_ramp, reflect,
        symmetric.

    Returns:
      complex ``(..., 1 + n_fft // 2, n_frames)``, with
      ``n_frames = frames_for_length(samples, n_fft, hop_length, center)``.
    """
    n_fft, hop_length, win_length = resolve_lengths(n_fft, hop_length, win_length)
    y = as_float_signal(y)
    return jnp.swapaxes(stft_frames(y, n_fft, hop_length, win_length, window, center, pad_mode), -1, -2)


def istft(
    stft_matrix,
    *,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_fft: int | None = None,
    window="hann",
    center: bool = True,
    length: int | None = None,
) -> jax.Array:
    """Inverse STFT by weighted overlap-add, like ``librosa.istft``.

    Args:
      stft_matrix: complex ``(..., 1 + n_fft // 2, n_frames)``.
      hop_length, win_length, window, center: as given to :func:`stft`.
      n_fft: default ``2 * (stft_matrix.shape[-2] - 1)``.
      length: if given, the output is exactly this many samples (zero-padded or trimmed), and
        only the frames needed for it are used.

    Returns:
      real signal ``(..., samples)``; ``istft(stft(y), length=len(y))`` recovers ``y`` wherever
      the squared windows overlap (the window-sum-square normalization).
    """
    stft_matrix = jnp.asarray(stft_matrix)
    if stft_matrix.ndim < 2:
        raise ValueError(f"stft_matrix must be (..., freq, frames), got shape {stft_matrix.shape}")
    if n_fft is None:
        n_fft = 2 * (stft_matrix.shape[-2] - 1)
    n_fft, hop_length, win_length = resolve_lengths(n_fft, hop_length, win_length)
    if stft_matrix.shape[-2] != 1 + n_fft // 2:
        raise ValueError(
            f"n_fft={n_fft} needs {1 + n_fft // 2} frequency bins, stft_matrix has {stft_matrix.shape[-2]}"
        )
    if length is not None:
        length = check_positive_int("length", length)
    if not jnp.issubdtype(stft_matrix.dtype, jnp.complexfloating):
        stft_matrix = stft_matrix.astype(jnp.complex64)

    n_frames = stft_matrix.shape[-1]
    if length is not None:
        padded_length = length + 2 * (n_fft // 2) if center else length
        n_frames = min(n_frames, -(-padded_length // hop_length))
    win = fft_window(window, win_length, n_fft)
    frames = jnp.fft.irfft(jnp.swapaxes(stft_matrix[..., :n_frames], -1, -2), n=n_fft, axis=-1)
    frames = frames * jnp.asarray(win, dtype=frames.dtype)

    # Overlap-add by scatter-add of every frame at its offset.
    total = n_fft + hop_length * (n_frames - 1)
    idx = hop_length * np.arange(n_frames, dtype=np.int32)[:, None] + np.arange(n_fft, dtype=np.int32)
    y = jnp.zeros(frames.shape[:-2] + (total,), frames.dtype).at[..., idx].add(frames)

    # Divide by the sum of squared windows where it is not ~0 (librosa's window_sumsquare).
    wss = np.zeros(total)
    for t in range(n_frames):
        wss[t * hop_length : t * hop_length + n_fft] += win**2
    usable = wss > np.finfo(np.float32).tiny
    y = y * jnp.asarray(np.where(usable, 1.0 / np.where(usable, wss, 1.0), 1.0), dtype=y.dtype)

    start = n_fft // 2 if center else 0
    stop = start + length if length is not None else total - start
    y = y[..., start:stop]
    if y.shape[-1] < stop - start:
        y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, stop - start - y.shape[-1])])
    return y


# ----------------------------------------------------------------------------- magnitudes


def complex_power(D: jax.Array, power: float) -> jax.Array:
    """``|D| ** power`` with a finite gradient at ``D == 0`` (padding, digital silence)."""
    p = jnp.square(D.real) + jnp.square(D.imag)
    if power == 2.0:
        return p
    nonzero = p > 0
    return jnp.where(nonzero, jnp.where(nonzero, p, 1.0) ** (power / 2.0), 0.0)


def check_power(power) -> float:
    if isinstance(power, bool) or not isinstance(power, numbers.Real) or power <= 0:
        raise ValueError(f"power must be a positive number, got {power!r}")
    return float(power)


def magphase(D, *, power: float = 1) -> tuple[jax.Array, jax.Array]:
    """Splits a complex spectrogram into ``(|D| ** power, D / |D|)``, like ``librosa.magphase``.

    The phase of a zero bin is 1 (as in librosa).
    """
    power = check_power(power)
    D = jnp.asarray(D)
    mag = jnp.abs(D)
    zero = mag == 0
    phase = jnp.where(zero, 1.0 + 0j, D / jnp.where(zero, 1.0, mag)).astype(D.dtype)
    return complex_power(D, power), phase


def spectrogram(
    y,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window="hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 1.0,
) -> jax.Array:
    """``|stft(y)| ** power``: magnitude (``power=1``) or power (``power=2``) spectrogram.

    Same arguments as :func:`stft`. Returns real ``(..., 1 + n_fft // 2, n_frames)``.
    """
    power = check_power(power)
    n_fft, hop_length, win_length = resolve_lengths(n_fft, hop_length, win_length)
    y = as_float_signal(y)
    S = stft_frames(y, n_fft, hop_length, win_length, window, center, pad_mode)
    return jnp.swapaxes(complex_power(S, power), -1, -2)
