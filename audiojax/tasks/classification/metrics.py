"""Ranking metrics of clip classification from per-clip class probabilities (NumPy, host)."""

from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Average precision of ``scores (N,)`` ranking the ``positives (N,)`` (bool): the sum over
    score thresholds, high to low, of the precision there times the recall it adds (tied scores
    form one threshold; scikit-learn's ``average_precision_score``). NaN without a positive."""
    positives = np.asarray(positives, bool)
    if not positives.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    s, y = np.asarray(scores, np.float64)[order], positives[order]
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]    # last rank of each distinct score
    true_pos = np.cumsum(y)[last]
    precision = true_pos / (last + 1)
    recall = true_pos / true_pos[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(probs: np.ndarray, labels: np.ndarray,
                           num_classes: int) -> tuple[float, dict[int, float]]:
    """Macro mAP of ``probs (N, classes)`` against integer ``labels (N,)``, one class against the
    rest, over the classes present in ``labels``; also ``{class: AP}`` of those."""
    per_class = {c: average_precision(probs[:, c], labels == c) for c in range(num_classes)
                 if np.any(labels == c)}
    return (float(np.mean(list(per_class.values()))) if per_class else float("nan")), per_class
