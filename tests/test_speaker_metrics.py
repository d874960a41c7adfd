"""Speaker-verification metrics against independent references (brute force over thresholds,
scikit-learn's ROC, plain transcriptions), the trial-list format, and the DET/score plots."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from audiojax import plots
from audiojax.tasks.speaker import metrics as M
from audiojax.data.trials import Trial, read_trials, trial_files, write_trials


def _gaussian_trials(seed: int, targets: int = 150, nontargets: int = 400, decimals=None):
    """Targets ~ N(1.5, 1), non-targets ~ N(0, 1), shuffled; rounded to make ties."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(1.5, 1.0, targets), rng.normal(0.0, 1.0, nontargets)])
    labels = np.r_[np.ones(targets, bool), np.zeros(nontargets, bool)]
    if decimals is not None:
        scores = np.round(scores, decimals)
    order = rng.permutation(len(scores))
    return scores[order], labels[order]


def _brute_force(scores, labels):
    """``[(threshold, p_miss, p_fa)]`` counted directly at every distinct score and above."""
    rows = []
    for t in sorted(set(scores.tolist())) + [np.inf]:
        misses = sum(1 for s, target in zip(scores, labels) if target and s < t)
        false_alarms = sum(1 for s, target in zip(scores, labels) if not target and s >= t)
        rows.append((t, misses / labels.sum(), false_alarms / (~labels).sum()))
    return rows


CASES = [(seed, decimals) for seed in (0, 1, 2) for decimals in (None, 1)]


@pytest.mark.parametrize("seed,decimals", CASES)
def test_error_rates_and_min_dcf_equal_brute_force(seed, decimals):
    scores, labels = _gaussian_trials(seed, decimals=decimals)
    rows = _brute_force(scores, labels)
    thresholds, p_miss, p_fa = M.error_rates(scores, labels)
    np.testing.assert_array_equal(thresholds, [r[0] for r in rows])
    np.testing.assert_allclose(p_miss, [r[1] for r in rows], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p_fa, [r[2] for r in rows], rtol=0, atol=1e-12)
    for p_target, c_miss, c_fa in ((0.01, 1.0, 1.0), (0.05, 1.0, 1.0), (0.3, 2.0, 0.5)):
        costs = [c_miss * pm * p_target + c_fa * pf * (1 - p_target) for _, pm, pf in rows]
        best = int(np.argmin(costs))
        expected = costs[best] / min(c_miss * p_target, c_fa * (1 - p_target))
        value, threshold = M.min_dcf(scores, labels, p_target, c_miss, c_fa)
        assert abs(value - expected) <= 1e-12
        assert threshold == rows[best][0]


@pytest.mark.parametrize("seed,decimals", CASES)
def test_eer_against_brute_force(seed, decimals):
    scores, labels = _gaussian_trials(seed, decimals=decimals)
    rows = _brute_force(scores, labels)
    value, threshold = M.eer(scores, labels)
    # Sound bounds whatever the interpolation: no threshold has both rates above the EER, nor
    # both below it.
    upper = min(max(pm, pf) for _, pm, pf in rows)
    lower = max(min(pm, pf) for _, pm, pf in rows)
    assert lower - 1e-12 <= value <= upper + 1e-12
    if decimals is None:  # without ties, neighbouring points differ by one trial
        assert upper - lower <= max(1 / labels.sum(), 1 / (~labels).sum()) + 1e-12
    # The documented value: the segment between the last point with p_miss < p_fa and the next
    # one, cut by the diagonal.
    j = next(k for k, (_, pm, pf) in enumerate(rows) if pm >= pf)
    (t_i, pm_i, pf_i), (t_j, pm_j, pf_j) = rows[j - 1], rows[j]
    alpha = (pf_i - pm_i) / ((pm_j - pm_i) - (pf_j - pf_i))
    assert abs(value - (pm_i + alpha * (pm_j - pm_i))) <= 1e-12
    assert abs(value - (pf_i + alpha * (pf_j - pf_i))) <= 1e-12
    assert threshold == (t_i if alpha <= 0.5 else t_j)


@pytest.mark.parametrize("seed,decimals", CASES)
def test_error_rates_match_sklearn_roc(seed, decimals):
    roc_curve = pytest.importorskip("sklearn.metrics").roc_curve
    scores, labels = _gaussian_trials(seed, decimals=decimals)
    fpr, tpr, sk_thresholds = roc_curve(labels, scores, drop_intermediate=False)
    thresholds, p_miss, p_fa = M.error_rates(scores, labels)
    ours = {t: (pm, pf) for t, pm, pf in zip(thresholds, p_miss, p_fa)}
    assert set(sk_thresholds.tolist()) == set(ours)  # every distinct score, and inf
    for t, f, r in zip(sk_thresholds, fpr, tpr):
        assert ours[t][1] == pytest.approx(f, abs=1e-12)
        assert ours[t][0] == pytest.approx(1 - r, abs=1e-12)
    det_fa, det_miss = M.det_curve(scores, labels)
    np.testing.assert_array_equal(det_fa, p_fa)
    np.testing.assert_array_equal(det_miss, p_miss)


def test_separable_reversed_and_constant_scores():
    rng = np.random.default_rng(3)
    scores = np.r_[1.0 + rng.random(50), -rng.random(80)]
    labels = np.r_[np.ones(50), np.zeros(80)]
    assert M.eer(scores, labels) == (0.0, scores[:50].min())
    assert M.min_dcf(scores, labels, 0.01)[0] == 0.0
    assert M.eer(-scores, labels)[0] == 1.0
    assert M.eer(np.zeros(10), np.arange(10) % 2)[0] == 0.5


def test_missing_class_and_bad_inputs_raise():
    with pytest.raises(ValueError, match="no non-target trials"):
        M.verification_metrics(np.arange(4.0), np.ones(4))
    with pytest.raises(ValueError, match="no target trials"):
        M.eer(np.arange(4.0), [False] * 4)
    with pytest.raises(ValueError, match="0/1"):
        M.eer(np.arange(3.0), [0, 1, 2])
    with pytest.raises(ValueError, match="NaN"):
        M.eer([0.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        M.eer(np.arange(3.0), [0, 1])


def test_cosine_scores_symmetric_and_equal_to_transcription():
    rng = np.random.default_rng(4)
    enroll, test = rng.normal(size=(20, 16)).astype(np.float32), rng.normal(size=(20, 16))
    enroll[3] = 0.0  # a zero embedding scores 0, not NaN
    got = M.cosine_scores(enroll, test)
    assert got.dtype == np.float64 and got.shape == (20,)
    np.testing.assert_allclose(got, M.cosine_scores(test, enroll), rtol=0, atol=1e-15)
    for i in range(20):
        e, t = enroll[i].astype(np.float64), test[i]
        norms = np.linalg.norm(e) * np.linalg.norm(t)
        assert got[i] == pytest.approx(0.0 if norms == 0 else e @ t / norms, abs=1e-12)
    cohort = rng.normal(size=(7, 16))
    matrix = M.cohort_scores(enroll, cohort)
    assert matrix.shape == (20, 7)
    np.testing.assert_allclose(matrix[5], [M.cosine_scores(enroll[5:6], c[None])[0] for c in cohort],
                               atol=1e-12)


def test_as_norm_equals_transcription():
    rng = np.random.default_rng(5)
    embeddings, cohort = rng.normal(size=(6, 8)), rng.normal(size=(10, 8))
    enroll_idx, test_idx = np.array([0, 1, 2, 0]), np.array([3, 4, 5, 5])
    raw = M.cosine_scores(embeddings[enroll_idx], embeddings[test_idx])
    table = M.cohort_scores(embeddings, cohort)
    top_k = 4
    got = M.as_norm(raw, table[enroll_idx], table[test_idx], top_k)
    for n, (e, t) in enumerate(zip(enroll_idx, test_idx)):
        top_e = sorted(table[e], reverse=True)[:top_k]
        top_t = sorted(table[t], reverse=True)[:top_k]
        expected = 0.5 * ((raw[n] - np.mean(top_e)) / np.std(top_e)
                          + (raw[n] - np.mean(top_t)) / np.std(top_t))
        assert got[n] == pytest.approx(expected, abs=1e-12)
    # top_k = cohort size is S-norm: statistics over the whole cohort
    full = M.as_norm(raw, table[enroll_idx], table[test_idx], 10)
    s_norm = 0.5 * ((raw - table[enroll_idx].mean(1)) / table[enroll_idx].std(1)
                    + (raw - table[test_idx].mean(1)) / table[test_idx].std(1))
    np.testing.assert_allclose(full, s_norm, atol=1e-12)
    for bad in (1, 11):
        with pytest.raises(ValueError, match="top_k"):
            M.as_norm(raw, table[enroll_idx], table[test_idx], bad)


def test_bootstrap_interval_contains_eer_and_narrows_with_more_trials():
    widths = []
    for targets, nontargets in ((40, 160), (1000, 4000)):
        scores, labels = _gaussian_trials(6, targets, nontargets)
        low, high = M.bootstrap_eer(scores, labels, resamples=300, seed=1)
        assert low <= M.eer(scores, labels)[0] <= high
        assert (low, high) == M.bootstrap_eer(scores, labels, resamples=300, seed=1)
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]  # the width shrinks like 1/sqrt(trials): 5x fewer here


def test_verification_metrics_summary_is_json():
    scores, labels = _gaussian_trials(7, decimals=2)
    summary = M.verification_metrics(scores, labels.astype(int))
    assert set(summary) == {"eer", "eer_threshold", "eer_ci95", "min_dcf_0.01", "min_dcf_0.05",
                            "target_trials", "nontarget_trials"}
    json.dumps(summary, allow_nan=False)
    assert (summary["eer"], summary["eer_threshold"]) == M.eer(scores, labels)
    assert summary["eer_ci95"][0] <= summary["eer"] <= summary["eer_ci95"][1]
    assert summary["min_dcf_0.05"] == M.min_dcf(scores, labels, 0.05)[0]
    assert (summary["target_trials"], summary["nontarget_trials"]) == (150, 400)


# --- trial lists --------------------------------------------------------------------------------


def test_trials_round_trip(tmp_path):
    path = tmp_path / "lists" / "trials.tsv"
    path.parent.mkdir()
    absolute = str(tmp_path / "elsewhere" / "c.wav")
    rows = [("a.wav", "spk2/b.wav", True), ("../wav/a b.wav", "a.wav", False),
            (absolute, "spk2/b.wav", True)]
    write_trials(path, rows)
    folder = str(path.parent)
    expected = [Trial(os.path.join(folder, "a.wav"), os.path.join(folder, "spk2", "b.wav"), True),
                Trial(str(tmp_path / "wav" / "a b.wav"), os.path.join(folder, "a.wav"), False),
                Trial(absolute, os.path.join(folder, "spk2", "b.wav"), True)]
    assert read_trials(path) == expected
    assert trial_files(expected) == [expected[0].enroll, expected[0].test, expected[1].enroll,
                                     absolute]
    # comments and blank lines are skipped; line numbers count them
    path.write_text("# enroll\ttest\tlabel\n\na.wav\tb.wav\t0\n   \n")
    assert read_trials(path) == [Trial(os.path.join(folder, "a.wav"),
                                       os.path.join(folder, "b.wav"), False)]
    with pytest.raises(ValueError, match="tab"):
        write_trials(path, [("a\tb.wav", "c.wav", True)])


@pytest.mark.parametrize("bad_line,problem", [
    ("a.wav\tb.wav", "3 tab-separated fields"),
    ("a.wav\tb.wav\t1\textra", "3 tab-separated fields"),
    ("a.wav b.wav 1", "3 tab-separated fields"),
    ("a.wav\tb.wav\t2", "label must be 1"),
    ("a.wav\tb.wav\ttrue", "label must be 1"),
    ("\tb.wav\t1", "empty enroll path"),
    ("a.wav\t \t0", "empty test path"),
])
def test_bad_trial_lines_name_file_and_line(tmp_path, bad_line, problem):
    path = tmp_path / "trials.tsv"
    path.write_text(f"# header\nx.wav\ty.wav\t1\n{bad_line}\nx.wav\tz.wav\t0\n")
    with pytest.raises(ValueError) as error:
        read_trials(path)
    message = str(error.value)
    assert message.startswith(f"{path}:3: ") and problem in message and "\n" not in message


def test_missing_trial_list(tmp_path):
    with pytest.raises(ValueError, match="no such trial list"):
        read_trials(tmp_path / "absent.tsv")


# --- plots --------------------------------------------------------------------------------------


def test_det_and_score_histogram_pngs(tmp_path):
    scores, labels = _gaussian_trials(8)
    p_fa, p_miss = M.det_curve(scores, labels)
    value, threshold = M.eer(scores, labels)
    for name, kwargs in (("det.png", {"eer": value, "title": "DET"}), ("det_plain.png", {})):
        plots.det_png(tmp_path / name, p_fa, p_miss, **kwargs)
    edges = np.histogram_bin_edges(scores, bins=40)
    target, nontarget = (np.histogram(scores[m], edges)[0] for m in (labels, ~labels))
    plots.score_histogram_png(tmp_path / "hist.png", edges, target, nontarget, title="scores",
                              threshold=threshold)
    plots.score_histogram_png(tmp_path / "hist_plain.png", edges, target, nontarget)
    for name in ("det.png", "det_plain.png", "hist.png", "hist_plain.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
