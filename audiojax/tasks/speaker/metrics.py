"""Speaker-verification metrics in plain NumPy: error rates over thresholds, equal error rate,
minimum detection cost, DET points, cosine scoring, adaptive score normalization and a
bootstrap interval on the EER.

Conventions shared by every function:

- ``scores``: float array ``(n,)``, higher means "more likely the same speaker".
- ``labels``: bool or 0/1 array ``(n,)``, 1 = target trial (same speaker).
- A threshold ``t`` accepts a trial as target when ``score >= t``. The operating points are
  the distinct scores, ascending, plus ``inf`` (everything rejected); equal scores therefore
  always fall on the same side of a threshold.
- ``p_miss``: share of the target trials rejected; ``p_fa``: share of the non-target trials
  accepted.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12  # floor on vector norms, so that a zero embedding scores 0 rather than NaN


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` as float64 ``(n,)`` and ``labels`` as bool ``(n,)``, or a ValueError saying
    what is wrong (shapes, non-finite scores, labels other than 0/1, a class missing)."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"scores and labels must be 1-D of the same length, got shapes "
                         f"{scores.shape} and {labels.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} scores are NaN or infinite")
    if labels.dtype != bool:
        if not np.all((labels == 0) | (labels == 1)):
            raise ValueError("labels must be bool or 0/1 (1 = target trial)")
        labels = labels == 1
    targets = int(labels.sum())
    if targets == 0 or targets == len(labels):
        missing = "target" if targets == 0 else "non-target"
        raise ValueError(f"no {missing} trials among the {len(labels)}: verification metrics "
                         "need both target and non-target trials")
    return scores, labels


def _rates(target_counts: np.ndarray, nontarget_counts: np.ndarray):
    """``(p_miss, p_fa)`` at each of the ``k + 1`` operating points from the per-threshold
    counts ``(k,)`` of target and non-target trials scoring exactly that distinct score."""
    below_t = np.concatenate([[0.0], np.cumsum(target_counts, dtype=np.float64)])
    below_n = np.concatenate([[0.0], np.cumsum(nontarget_counts, dtype=np.float64)])
    return below_t / below_t[-1], 1.0 - below_n / below_n[-1]


def error_rates(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every operating point, O(n log n).

    Returns ``(thresholds, p_miss, p_fa)``, each ``(k + 1,)`` for ``k`` distinct scores:
    thresholds ascending, the last ``inf``. ``p_miss`` rises from 0 to 1, ``p_fa`` falls from
    1 to 0.
    """
    scores, labels = _check(scores, labels)
    distinct, group = np.unique(scores, return_inverse=True)  # group: index into distinct
    k = len(distinct)
    p_miss, p_fa = _rates(np.bincount(group[labels], minlength=k),
                          np.bincount(group[~labels], minlength=k))
    return np.append(distinct, np.inf), p_miss, p_fa


def _eer_from_rates(thresholds, p_miss, p_fa) -> tuple[float, float]:
    """The crossing of ``p_miss`` and ``p_fa`` (see :func:`eer`)."""
    diff = p_miss - p_fa  # non-decreasing, from -1 (first point) to +1 (the inf point)
    j = int(np.argmax(diff >= 0))  # first point at or past the crossing; j >= 1
    i = j - 1
    # Both rates move linearly in the same parameter along the segment i -> j: where their
    # difference is 0 they are equal.
    alpha = diff[i] / (diff[i] - diff[j])
    value = p_miss[i] + alpha * (p_miss[j] - p_miss[i])
    return float(value), float(thresholds[i] if alpha <= 0.5 else thresholds[j])


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate and a threshold near it.

    With the operating points of :func:`error_rates` (thresholds ascending), ``j`` is the first
    point where ``p_miss >= p_fa`` and ``i = j - 1`` the last where ``p_miss < p_fa``. The
    segment joining points ``i`` and ``j`` in the (p_fa, p_miss) plane meets the diagonal at
    ``alpha = d_i / (d_i - d_j)`` of the way from ``i`` (``d = p_miss - p_fa``); the EER is
    ``p_miss_i + alpha * (p_miss_j - p_miss_i)``, which equals the same interpolation of
    ``p_fa``. This is wespeaker's / the NIST SRE scoring tool's ``compute_eer``, without a
    convex hull (ROCCH). The threshold returned is that of the nearer of the two points
    (``i`` when ``alpha <= 0.5``), always one of the scores, never ``inf``. Separable classes
    (every target above every non-target) give EER 0 at the lowest target score.

    Returns ``(eer, threshold)``, the EER as a fraction in [0, 1].
    """
    return _eer_from_rates(*error_rates(scores, labels))


def min_dcf(scores, labels, p_target: float, c_miss: float = 1.0,
            c_fa: float = 1.0) -> tuple[float, float]:
    """Normalized minimum detection cost (NIST SRE).

    ``DCF(t) = c_miss * p_miss(t) * p_target + c_fa * p_fa(t) * (1 - p_target)``, minimized over
    the operating points of :func:`error_rates` and divided by
    ``min(c_miss * p_target, c_fa * (1 - p_target))``, the cost of the better trivial system
    (accept all or reject all), so that 1 means "no better than not looking at the audio".

    Returns ``(min_dcf, threshold)``: the lowest threshold reaching the minimum, ``inf`` when
    rejecting every trial is best.
    """
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    thresholds, p_miss, p_fa = error_rates(scores, labels)
    dcf = c_miss * p_miss * p_target + c_fa * p_fa * (1.0 - p_target)
    best = int(np.argmin(dcf))
    return float(dcf[best] / min(c_miss * p_target, c_fa * (1.0 - p_target))), float(thresholds[best])


def det_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """DET points ``(p_fa, p_miss)``, each ``(k + 1,)``, in order of rising threshold (p_fa
    falling), end points (1, 0) and (0, 1) included; :func:`audiojax.plots.det_png` plots them."""
    _, p_miss, p_fa = error_rates(scores, labels)
    return p_fa, p_miss


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), _EPS)


def cosine_scores(enroll, test) -> np.ndarray:
    """Cosine similarity of each row pair: ``enroll (n, d)``, ``test (n, d)`` -> ``(n,)``,
    computed in float64; a zero vector scores 0."""
    enroll, test = np.asarray(enroll), np.asarray(test)
    if enroll.ndim != 2 or enroll.shape != test.shape:
        raise ValueError(f"enroll and test must both be (n, d), got {enroll.shape} and {test.shape}")
    return np.einsum("nd,nd->n", _unit_rows(enroll), _unit_rows(test))


def cohort_scores(embeddings, cohort) -> np.ndarray:
    """Cosine similarity of every embedding ``(m, d)`` with every cohort embedding ``(c, d)``:
    ``(m, c)`` in float64."""
    embeddings, cohort = np.asarray(embeddings), np.asarray(cohort)
    if embeddings.ndim != 2 or cohort.ndim != 2 or embeddings.shape[1] != cohort.shape[1]:
        raise ValueError(f"embeddings (m, d) and cohort (c, d) must share d, got "
                         f"{embeddings.shape} and {cohort.shape}")
    return _unit_rows(embeddings) @ _unit_rows(cohort).T


def _top_stats(cohort: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation of each row's ``top_k`` largest values."""
    top = np.partition(cohort, cohort.shape[1] - top_k, axis=1)[:, cohort.shape[1] - top_k:]
    return top.mean(axis=1), top.std(axis=1)


def as_norm(raw, enroll_cohort, test_cohort, top_k: int) -> np.ndarray:
    """Adaptive symmetric score normalization (AS-norm1, Matejka et al. 2017; wespeaker's
    ``score_norm``).

    Args:
      raw: trial scores ``(n,)``.
      enroll_cohort, test_cohort: ``(n, c)`` scores of each trial's enrollment / test embedding
        against the cohort (:func:`cohort_scores`, gathered per trial).
      top_k: how many of the highest cohort scores each side's statistics use, in [2, c];
        ``top_k = c`` is plain S-norm.

    Returns ``0.5 * ((raw - mu_e) / sd_e + (raw - mu_t) / sd_t)``, ``(n,)``, where ``mu``/``sd``
    are the mean and population standard deviation of that side's ``top_k`` cohort scores.
    """
    raw = np.asarray(raw, np.float64)
    enroll_cohort = np.asarray(enroll_cohort, np.float64)
    test_cohort = np.asarray(test_cohort, np.float64)
    if raw.ndim != 1 or enroll_cohort.ndim != 2 or enroll_cohort.shape != test_cohort.shape \
            or enroll_cohort.shape[0] != raw.shape[0]:
        raise ValueError(f"raw must be (n,) and both cohort score matrices (n, c), got "
                         f"{raw.shape}, {enroll_cohort.shape} and {test_cohort.shape}")
    if not 2 <= top_k <= enroll_cohort.shape[1]:
        # one score has standard deviation 0, which would divide by zero
        raise ValueError(f"top_k must be in [2, {enroll_cohort.shape[1]}] (the cohort size), "
                         f"got {top_k}")
    mu_e, sd_e = _top_stats(enroll_cohort, top_k)
    mu_t, sd_t = _top_stats(test_cohort, top_k)
    return 0.5 * ((raw - mu_e) / sd_e + (raw - mu_t) / sd_t)


def bootstrap_eer(scores, labels, resamples: int = 1000, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval ``(low, high)`` on the EER.

    Each resample draws as many target trials as there are, with replacement, from the
    targets, and likewise the non-targets, so both classes are always present and in their
    original proportion. Trials are independent draws here: the interval ignores that trials
    share speakers and files, so it is optimistic (too narrow) for real trial lists.
    """
    scores, labels = _check(scores, labels)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    distinct, group = np.unique(scores, return_inverse=True)
    thresholds = np.append(distinct, np.inf)
    k = len(distinct)
    target_groups, nontarget_groups = group[labels], group[~labels]
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        # A resample only changes how many trials sit at each distinct score: no re-sorting.
        t = target_groups[rng.integers(len(target_groups), size=len(target_groups))]
        n = nontarget_groups[rng.integers(len(nontarget_groups), size=len(nontarget_groups))]
        values[r] = _eer_from_rates(thresholds, *_rates(np.bincount(t, minlength=k),
                                                        np.bincount(n, minlength=k)))[0]
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def verification_metrics(scores, labels, *, resamples: int = 1000) -> dict:
    """The summary a verification evaluation reports, JSON-able: ``eer``, ``eer_threshold``,
    ``eer_ci95`` ``[low, high]`` (:func:`bootstrap_eer`, ``resamples``, seed 0),
    ``min_dcf_0.01``, ``min_dcf_0.05`` (p_target 0.01 / 0.05, unit costs), ``target_trials``,
    ``nontarget_trials``. Raises ValueError when a class is missing.

    The bootstrap costs O(trials) per resample: seconds for 40k trials at 1000 resamples."""
    scores, labels = _check(scores, labels)
    value, threshold = eer(scores, labels)
    low, high = bootstrap_eer(scores, labels, resamples=resamples, level=0.95)
    return {
        "eer": value,
        "eer_threshold": threshold,
        "eer_ci95": [low, high],
        "min_dcf_0.01": min_dcf(scores, labels, 0.01)[0],
        "min_dcf_0.05": min_dcf(scores, labels, 0.05)[0],
        "target_trials": int(labels.sum()),
        "nontarget_trials": int((~labels).sum()),
    }
