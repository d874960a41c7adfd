"""Inputs longer than a model's window: sliding windows with a hop, and overlap-add of
per-window signal outputs. Every inference command goes through these (NumPy, host side).

    offsets = window_offsets(len(y), window=16000, hop=8000)     # starts, the last one at the end
    chunks, lengths = cut(y, offsets, window=16000)             # (n, 16000), true samples each
    y_out = overlap_add(model_outputs, offsets, len(y))          # (samples, ...) tapered average
"""

from __future__ import annotations

import numpy as np


def window_offsets(length: int, window: int, hop: int) -> np.ndarray:
    """Start samples ``(n,)`` int of windows of ``window`` samples every ``hop`` that cover
    ``[0, length)``: ``0, hop, 2 hop, ...`` and a last one ending at ``length`` (so no sample is
    left out and no window reaches past the end); one window at 0 when ``length <= window``."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be positive")
    if length <= window:
        return np.zeros(1, np.int64)
    starts = np.arange(0, length - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < length:
        starts = np.append(starts, length - window)
    return starts


def cut(y: np.ndarray, offsets: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``y (samples, ...)`` -> ``(windows (n, window, ...), lengths (n,))``: the windows at
    ``offsets``, zero-padded past the end of ``y``, and the true samples each holds."""
    y = np.asarray(y)
    out = np.zeros((len(offsets), window) + y.shape[1:], y.dtype)
    lengths = np.zeros(len(offsets), np.int32)
    for i, start in enumerate(offsets):
        piece = y[start:start + window]
        out[i, :len(piece)] = piece
        lengths[i] = len(piece)
    return out, lengths


def taper(window: int) -> np.ndarray:
    """Overlap-add weights ``(window,)``: a Hann window without its zero end points, so every
    sample has a positive weight."""
    return np.hanning(window + 2)[1:-1]


def overlap_add(chunks: np.ndarray, offsets: np.ndarray, length: int,
                weights: np.ndarray | None = None) -> np.ndarray:
    """Per-window outputs ``chunks (n, window, ...)`` at ``offsets`` -> ``(length, ...)``: each
    sample the ``weights``-weighted mean (default :func:`taper`) of the windows covering it.
    With identical overlapping windows (a model that is exact on every window) the input comes
    back unchanged."""
    chunks = np.asarray(chunks)
    window = chunks.shape[1]
    weights = taper(window) if weights is None else np.asarray(weights, np.float64)
    shape = (length,) + chunks.shape[2:]
    total = np.zeros(shape, np.float64)
    norm = np.zeros(length, np.float64)
    for chunk, start in zip(chunks, offsets):
        n = min(window, length - int(start))
        w = weights[:n].reshape((n,) + (1,) * (chunks.ndim - 2))
        total[start:start + n] += w * chunk[:n]
        norm[start:start + n] += weights[:n]
    norm = norm.reshape((length,) + (1,) * (chunks.ndim - 2))
    return (total / np.where(norm > 0, norm, 1.0)).astype(chunks.dtype)
