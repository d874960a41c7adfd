"""Wake-word detection: smoothing, thresholds and refractory period against a frame-by-frame
transcription of the rule, block-by-block against whole streams, and the scoring of
detections against keyword spans (hits, false alarms per hour, latency)."""

from __future__ import annotations

import numpy as np
import pytest

from audiojax.tasks.classification.detect import (Detector, choose_thresholds,
                                                  detection_metrics, keyword_seconds,
                                                  score_stream, smooth_posteriors)

LABELS = ["_background_", "no", "yes"]
RATE = 100.0


def reference_detections(probs, thresholds, width, refractory):
    """The rule one frame at a time: average of the last ``width`` frames (fewer at the start);
    at a frame not blocked, the class most above its threshold fires, then ``refractory``
    frames are blocked."""
    out, blocked = [], 0
    for t in range(len(probs)):
        avg = probs[max(0, t - width + 1):t + 1].mean(0)
        margin = avg - thresholds
        if t >= blocked and (margin >= 0).any():
            c = int(np.argmax(margin))
            out.append(((t + 1) / RATE, LABELS[c], avg[c]))
            blocked = t + refractory
    return out


def random_stream(rng, frames, bumps):
    """Probabilities ``(frames, 3)``: background mostly, with ``bumps`` of a keyword."""
    logits = rng.normal(0, 1, (frames, 3))
    logits[:, 0] += 3
    for start in rng.integers(0, frames - 60, bumps):
        logits[start:start + rng.integers(5, 60), rng.integers(1, 3)] += rng.uniform(2, 7)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_smoothing_is_a_causal_moving_average_block_by_block():
    probs = np.random.default_rng(0).random((50, 3))
    whole, _ = smooth_posteriors(probs, 7)
    ref = np.stack([probs[max(0, t - 6):t + 1].mean(0) for t in range(50)])
    np.testing.assert_allclose(whole, ref, rtol=1e-12)
    history, parts = None, []
    for size in (3, 1, 10, 2, 20, 14):
        part, history = smooth_posteriors(probs[sum(p.shape[0] for p in parts):][:size], 7, history)
        parts.append(part)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-12)


@pytest.mark.parametrize("width,refractory_s", [(1, 0.3), (10, 1.0)])
def test_detector_follows_the_rule_whole_or_in_blocks(width, refractory_s):
    probs = random_stream(np.random.default_rng(1), 3000, 40)
    thresholds = np.array([np.inf, 0.6, 0.7])
    ref = reference_detections(probs, thresholds, width, int(refractory_s * RATE))
    assert len(ref) > 10
    detector = Detector(LABELS, {"no": 0.6, "yes": 0.7}, RATE, width / RATE, refractory_s)
    whole = detector.feed(probs)
    assert [(t, w) for t, w, _ in whole] == [(pytest.approx(t), w) for t, w, _ in ref]
    np.testing.assert_allclose([s for *_, s in whole], [s for *_, s in ref], rtol=1e-9)
    detector.reset()
    blocks = [detector.feed(probs[i:i + 7]) for i in range(0, 3000, 7)]
    joined = [d for block in blocks for d in block]
    assert [w for _, w, _ in joined] == [w for _, w, _ in whole]
    np.testing.assert_allclose([(t, s) for t, _, s in joined], [(t, s) for t, _, s in whole],
                               rtol=1e-12)
    # The background class never fires, whatever its threshold says.
    assert not Detector(LABELS, 0.5, RATE).feed(np.eye(3)[[0] * 50])
    with pytest.raises(ValueError, match="threshold for 'maybe', not a class"):
        Detector(LABELS, {"maybe": 0.5}, RATE)


def test_scoring_hits_false_alarms_and_repeats():
    events = [(1.0, 1.6, "yes"), (5.0, 5.5, "no"), (9.0, 9.4, "yes")]
    detections = [(1.7, "yes"),     # hit: 0.1 s after the end
                  (1.9, "yes"),     # again inside the span + tolerance: not a false alarm
                  (3.0, "yes"),     # nothing there: false alarm
                  (5.2, "yes"),     # the wrong word in a keyword's span: false alarm
                  (10.5, "yes")]    # 1.1 s after the end, past the tolerance: false alarm
    score = score_stream(detections, events, tolerance=0.5)
    assert score.hits == [True, False, False]
    assert score.latencies == [pytest.approx(0.1)]
    assert score.false_alarms == 3 and score.false_alarm_words == ["yes"] * 3
    assert keyword_seconds(events, 0.5) == pytest.approx(1.1 + 1.0 + 0.9)
    assert keyword_seconds([(0.0, 1.0, "a"), (1.2, 2.0, "b")], 0.5) == pytest.approx(2.5)


def test_thresholds_chosen_on_validation_meet_the_false_alarm_rate_there():
    rng = np.random.default_rng(2)

    def streams(n):
        """Keywords of varied strength at known spans, and weaker bumps of a keyword elsewhere."""
        out = []
        for _ in range(n):
            logits = rng.normal(0, 1, (6000, 3))
            logits[:, 0] += 3
            starts = rng.permutation(np.arange(100, 5900, 200))[:12]
            events = []
            for i, start in enumerate(starts):
                word = 1 + i % 2
                logits[start:start + 50, word] += rng.uniform(1, 7) if i < 8 else rng.uniform(1, 4)
                if i < 8:
                    events.append((start / RATE, (start + 50) / RATE, LABELS[word]))
            e = np.exp(logits - logits.max(1, keepdims=True))
            out.append((e / e.sum(1, keepdims=True), events, 60.0))
        return out

    validation = streams(4)
    for target in (10.0, 60.0):
        chosen = choose_thresholds(validation, LABELS, RATE, target)
        assert set(chosen) == {"no", "yes"}
        metrics = detection_metrics(validation, LABELS, chosen, RATE)
        # Each keyword alone keeps to half the budget; together they keep to it.
        assert metrics["false_alarms_per_hour"] <= target + 1e-9
        hours = metrics["background_hours"]
        assert hours == pytest.approx(sum(60.0 - keyword_seconds(e) for _, e, _ in validation)
                                      / 3600)
        # The metrics' counts, recomputed from the frame-by-frame rule.
        thresholds = np.array([np.inf, chosen["no"], chosen["yes"]])
        alarms = hits = 0
        for probs, events, _ in validation:
            score = score_stream(reference_detections(probs, thresholds, 10, 100), events)
            alarms, hits = alarms + score.false_alarms, hits + sum(score.hits)
        assert metrics["false_alarms"] == alarms
        assert metrics["miss_rate"] == pytest.approx(1 - hits / 32)
        # The next lower threshold on the grid would have broken a keyword's share.
        for word, threshold in chosen.items():
            if threshold > 0.05 + 1e-9:
                alone = detection_metrics(validation, LABELS, {word: threshold - 0.01}, RATE)
                assert alone["false_alarms"] > target / 2 * hours
