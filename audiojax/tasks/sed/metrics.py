"""Sound event detection metrics on event lists ``[(onset_s, offset_s, label)]`` per recording.

- :func:`event_f1`: event-based F1 (DCASE's, as ``sed_eval.sound_event.EventBasedMetrics`` with
  ``event_matching_type='optimal'`` and ``empty_system_output_handling='zero_score'``): an
  estimate matches a reference of its class whose onset is within ``collar`` seconds and whose
  offset is within ``max(collar, offset_ratio * the reference's length)``, each event matched
  once, as many matches as possible (a maximum bipartite matching per recording and class).
- :func:`segment_f1`: segment-based F1 over ``segment`` second segments (sed_eval's
  ``SegmentBasedMetrics``): a class is active in a segment that any of its events overlaps.
- :func:`psds1`: PSDS scenario 1 (DTC = GTC = 0.7, no cross-trigger cost, ``alpha_st`` 1,
  100 false positives per hour at most) of frame scores, by ``sed_scores_eval``.

Both F1s report ``micro`` (counts summed over classes) and ``macro`` (the mean of the classes'
F1 over the classes that occur in the references; a class never output scores 0).
Post-processing: a median filter over time (:func:`smooth_scores`), then a threshold per class
(:func:`detect`).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter
from scipy.optimize import linear_sum_assignment

Events = list[tuple[float, float, str]]


def detect(scores: np.ndarray, labels, frame_seconds: float, threshold: float = 0.5) -> Events:
    """Events of one recording from its frame scores ``(frames, classes)`` (probabilities,
    filtered by :func:`smooth_scores`): each run of frames of a class at or above
    ``threshold`` an event from its first frame's start to its last frame's end."""
    events = []
    for c, label in enumerate(labels):
        active = np.concatenate([[False], np.asarray(scores)[:, c] >= threshold, [False]])
        edges = np.flatnonzero(np.diff(active.astype(np.int8)))
        events += [(round(float(a) * frame_seconds, 6), round(float(b) * frame_seconds, 6), label)
                   for a, b in zip(edges[::2], edges[1::2])]
    return sorted(events)


def smooth_scores(probs: np.ndarray, median_frames: int) -> np.ndarray:
    """``probs (frames, classes)`` median-filtered over time (``median_frames`` 1: as given)."""
    if median_frames <= 1:
        return np.asarray(probs)
    return median_filter(np.asarray(probs), size=(median_frames, 1), mode="nearest")


def roll_events(roll: np.ndarray, labels, frame_seconds: float) -> Events:
    """The events of a 0/1 event roll ``(frames, classes)``: each run of active frames
    (overlapping events of a class are one run)."""
    return detect(roll, labels, frame_seconds, threshold=0.5)


def _f1(tp, n_sys, n_ref):
    """F1 of counts (arrays broadcast), 0 where nothing was output or nothing matched."""
    tp, n_sys, n_ref = (np.asarray(x, np.float64) for x in (tp, n_sys, n_ref))
    return np.where((n_sys > 0) & (tp > 0), 2 * tp / np.maximum(n_sys + n_ref, 1), 0.0)


def f1_scores(counts: np.ndarray) -> tuple[float, float]:
    """``(micro F1, macro F1)`` of counts ``(..., classes, 3)`` (true positives, estimates,
    references) summed over the leading axes; macro over the classes with references."""
    total = counts.reshape(-1, *counts.shape[-2:]).sum(0)
    occurs = total[:, 2] > 0
    micro = float(_f1(*total.sum(0)))
    macro = float(np.mean(_f1(*total[occurs].T))) if occurs.any() else float("nan")
    return micro, macro


def f1_intervals(counts: np.ndarray, resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of :func:`f1_scores` over recordings, from the
    per-recording counts ``(recordings, classes, 3)``: ``{"micro_f1": (lo, hi), "macro_f1": ...}``."""
    rng = np.random.default_rng(seed)
    n = counts.shape[0]
    draws = np.array([f1_scores(counts[rng.integers(0, n, n)]) for _ in range(resamples)])
    q = [(1 - level) / 2, (1 + level) / 2]
    return {name: tuple(float(x) for x in np.nanquantile(draws[:, k], q))
            for k, name in enumerate(("micro_f1", "macro_f1"))}


def summary(counts: np.ndarray, labels) -> dict:
    """Per-recording counts ``(recordings, classes, 3)`` -> ``{micro_f1, macro_f1, precision,
    recall, per_class_f1, references, estimates, counts}`` (``counts``: the array, for
    :func:`f1_intervals`)."""
    total = counts.sum(0)
    tp, n_sys, n_ref = total.sum(0)
    micro, macro = f1_scores(counts)
    return {"micro_f1": micro, "macro_f1": macro,
            "precision": float(tp / n_sys) if n_sys else 0.0,
            "recall": float(tp / n_ref) if n_ref else 0.0,
            "per_class_f1": {label: float(_f1(*total[c])) for c, label in enumerate(labels)
                             if total[c, 2] > 0},
            "references": int(n_ref), "estimates": int(n_sys), "counts": counts}


def event_counts(reference: Events, estimate: Events, labels, collar: float = 0.2,
                 offset_ratio: float = 0.2) -> np.ndarray:
    """``(classes, 3)``: matched estimates, estimates and references of one recording, per
    class, under the event-based rule of the module docstring."""
    out = np.zeros((len(labels), 3), np.int64)
    for c, label in enumerate(labels):
        r = [(a, b) for a, b, x in reference if x == label]
        e = [(a, b) for a, b, x in estimate if x == label]
        out[c, 1:] = len(e), len(r)
        if r and e:
            ra, rb = np.array(r).T
            ea, eb = np.array(e).T
            onset_ok = np.abs(ra[:, None] - ea[None]) <= collar
            width = np.maximum(collar, offset_ratio * (rb - ra))[:, None]
            offset_ok = np.abs(rb[:, None] - eb[None]) <= width
            valid = (onset_ok & offset_ok).astype(np.float64)
            rows, cols = linear_sum_assignment(valid, maximize=True)
            out[c, 0] = int(valid[rows, cols].sum())
    return out


def segment_counts(reference: Events, estimate: Events, seconds: float, labels,
                   segment: float = 1.0) -> np.ndarray:
    """``(classes, 3)`` of one recording of ``seconds`` (at least as long as its last event),
    counted in ``segment`` s segments where a class is active."""
    last = max([seconds] + [b for _, b, _ in reference] + [b for _, b, _ in estimate])
    n = int(np.ceil(last / segment - 1e-9))
    out = np.zeros((len(labels), 3), np.int64)
    for c, label in enumerate(labels):
        r, e = np.zeros(n, bool), np.zeros(n, bool)
        for events, roll in ((reference, r), (estimate, e)):
            for a, b, x in events:
                if x == label:
                    roll[int(np.floor(a / segment)):int(np.ceil(b / segment))] = True
        out[c] = (r & e).sum(), e.sum(), r.sum()
    return out


def event_f1(references: list[Events], estimates: list[Events], labels,
             collar: float = 0.2, offset_ratio: float = 0.2) -> dict:
    """Event-based F1 (the module docstring) of recordings' ``references`` and ``estimates``
    (in the same order): :func:`summary` of their :func:`event_counts`."""
    return summary(np.stack([event_counts(r, e, labels, collar, offset_ratio)
                             for r, e in zip(references, estimates, strict=True)]), labels)


def segment_f1(references: list[Events], estimates: list[Events], durations: list[float],
               labels, segment: float = 1.0) -> dict:
    """Segment-based F1 over ``segment`` s segments of recordings of ``durations`` seconds:
    :func:`summary` of their :func:`segment_counts`."""
    return summary(np.stack([segment_counts(r, e, d, labels, segment) for r, e, d in
                             zip(references, estimates, durations, strict=True)]), labels)


def psds1(scores: list[np.ndarray], references: list[Events], durations: list[float], labels,
          frame_seconds: float, ids: list[str] | None = None) -> float:
    """PSDS scenario 1 (DCASE 2021-2023: DTC = GTC = 0.7, ``alpha_st`` 1, at most 100 false
    positives per hour) of frame scores ``(frames, classes)`` per recording, over the classes
    that the references hold, by ``sed_scores_eval.intersection_based.psds``."""
    from sed_scores_eval.intersection_based import psds  # noqa: PLC0415
    from sed_scores_eval.base_modules.scores import create_score_dataframe  # noqa: PLC0415

    ids = ids or [f"r{i}" for i in range(len(scores))]
    # Over the classes the references hold (a class without a true event has no PSD curve).
    present = sorted({x for ref in references for _, _, x in ref}, key=list(labels).index)
    columns = [list(labels).index(x) for x in present]
    score_frames = {i: create_score_dataframe(np.asarray(s, np.float64)[:, columns],
                                              np.arange(len(s) + 1) * frame_seconds, present)
                    for i, s in zip(ids, scores)}
    truth = {i: [(float(a), float(b), str(x)) for a, b, x in ref] for i, ref in zip(ids, references)}
    value, *_ = psds(score_frames, truth, dict(zip(ids, durations)), dtc_threshold=0.7,
                     gtc_threshold=0.7, cttc_threshold=None, alpha_ct=0.0, alpha_st=1.0,
                     max_efpr=100.0)
    return float(value)
