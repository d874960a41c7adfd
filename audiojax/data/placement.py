"""Where the speech is in a clip, and a window centred on it (NumPy, host side).

A corpus places each word at random in its 1 s clip and a real recording puts it anywhere, often
near an edge; a model that has to find the word first spends capacity on it and fails on
placements it never saw. With ``config.data.center = "energy"`` the input pipeline (training and
evaluation) and ``audiojax predict`` centre the window on the speech they find here, so a word
sits alike in training and at inference.

    start, end = speech_span(y, 16000)          # samples: the stretch that holds the speech
    centre = speech_centre(y, 16000)            # samples: its energy centroid, noise removed
    offset = centred_offset(y, 16000, 16000)    # a 1 s window's start, centred there (may be < 0)
    x = place(y, offset, 16000)                 # (16000,): y from offset, zeros outside y
"""

from __future__ import annotations

import numpy as np

FRAME = 0.02         # seconds per analysis frame
HOP = 0.005          # seconds between frames
BANDS = 24           # log-spaced bands of the frame's spectrum


def _frames(y: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """``(n, frame)`` frames of ``y`` every ``hop`` samples (zero-padded at the end); at
    least one."""
    n = max(1, 1 + (len(y) - frame) // hop)
    y = np.pad(np.asarray(y, np.float64), (0, max(0, (n - 1) * hop + frame - len(y))))
    return np.lib.stride_tricks.sliding_window_view(y, frame)[::hop][:n]


def _band_power(y: np.ndarray, sample_rate: int) -> tuple[int, int, np.ndarray]:
    """``(frame, hop, power (frames, bands))``: Hann-windowed frames' power spectra summed in
    :data:`BANDS` log-spaced bands."""
    frame = max(2, int(round(FRAME * sample_rate)))
    hop = max(1, int(round(HOP * sample_rate)))
    spectrum = np.abs(np.fft.rfft(_frames(y, frame, hop) * np.hanning(frame), axis=1)) ** 2
    edges = np.unique(np.geomspace(2, spectrum.shape[1], BANDS + 1).astype(int))
    return frame, hop, np.add.reduceat(spectrum, edges[:-1], axis=1)


def speech_span(y: np.ndarray, sample_rate: int, *, rise_db: float = 6.0,
                max_gap_seconds: float = 0.15, min_run_seconds: float = 0.04) -> tuple[int, int]:
    """``(start, end)`` in samples of the stretch of ``y (samples,)`` that holds the speech.

    A per-band detector, so that a fricative stands out of white noise in its own bands: each
    frame's spectrum in :data:`BANDS` log-spaced bands, in dB above that band's noise floor (its
    10th percentile over the clip), averaged over bands and smoothed over 35 ms. Frames above
    ``rise_db`` and above 15% of the clip's highest score are active; runs shorter than
    ``min_run_seconds`` (a click, a noise burst) are dropped unless nothing else is left, runs
    closer than ``max_gap_seconds`` (a stop's closure, a pause between syllables) are joined,
    and the joined run with the highest total score is the speech; its ends are where the
    unsmoothed score first and last passes the threshold (frame centres, widened by half a
    hop). The whole clip when nothing stands out (a constant or silent clip)."""
    frame, hop, bands = _band_power(y, sample_rate)
    db = 10.0 * np.log10(bands + 1e-12)
    raw = np.clip(db - np.percentile(db, 10, axis=0), 0.0, None).mean(axis=1)
    smooth = max(1, int(round(0.035 / HOP)))
    score = np.convolve(raw, np.ones(smooth) / smooth, mode="same")
    threshold = max(rise_db, 0.15 * score.max())
    active = np.flatnonzero(score > threshold)
    if active.size == 0:
        return 0, len(y)
    runs = np.split(active, np.flatnonzero(np.diff(active) > 1) + 1)
    runs = [r for r in runs if len(r) * hop >= min_run_seconds * sample_rate] or runs
    joined = [runs[0]]
    for run in runs[1:]:
        if (run[0] - joined[-1][-1]) * hop <= max_gap_seconds * sample_rate:
            joined[-1] = np.concatenate([joined[-1], run])
        else:
            joined.append(run)
    best = max(joined, key=lambda r: score[r[0]:r[-1] + 1].sum())
    # The edges from the unsmoothed score (smoothing spreads them by half its width).
    edges = best[0] + np.flatnonzero(raw[best[0]:best[-1] + 1] > threshold)
    first, last = (edges[0], edges[-1]) if edges.size else (best[0], best[-1])
    start = first * hop + frame // 2 - hop // 2
    end = last * hop + frame // 2 + hop - hop // 2
    return max(0, start), min(len(y), end)


def speech_centre(y: np.ndarray, sample_rate: int, margin_seconds: float = 0.1) -> float:
    """The energy centroid (samples) of the speech in ``y (samples,)``: per band, frame power
    minus the band's noise floor (its 10th percentile over the clip), summed over bands, over
    :func:`speech_span` widened by ``margin_seconds``. Added stationary noise, white or
    coloured, leaves it where the clean word's is: its power is subtracted band by band, and
    the frames far from the word are left out."""
    start, end = speech_span(y, sample_rate)
    frame, hop, bands = _band_power(y, sample_rate)
    excess = np.clip(bands - np.percentile(bands, 10, axis=0), 0.0, None).sum(axis=1)
    margin = int(round(margin_seconds * sample_rate))
    lo = max(0, (start - margin) // hop)
    hi = min(len(excess), (end + margin - frame) // hop + 1)
    weights = excess[lo:hi]
    if hi <= lo or weights.sum() <= 0:
        return (start + end) / 2
    centres = np.arange(lo, hi) * hop + frame / 2
    return float((weights * centres).sum() / weights.sum())


def centred_offset(y: np.ndarray, sample_rate: int, window: int) -> int:
    """The start (samples; negative or past ``len(y) - window`` when the speech is near an
    edge) of a ``window``-sample window whose centre is :func:`speech_centre`."""
    return int(round(speech_centre(y, sample_rate))) - window // 2


def place(x: np.ndarray, offset: int, count: int) -> np.ndarray:
    """``x (n, ...)`` from index ``offset`` over ``count`` entries ``(count, ...)``, zeros where
    the window reaches outside ``x`` (before its start or past its end)."""
    out = np.empty((count,) + x.shape[1:], np.float32)  # zeroed where x is not copied: cheaper
    lo, hi = max(0, offset), min(len(x), offset + count)
    if hi <= lo:
        out[:] = 0.0
        return out
    out[:lo - offset] = 0.0
    out[lo - offset:hi - offset] = x[lo:hi]
    out[hi - offset:] = 0.0
    return out
