"""Wake-word detection on streams: per-frame class probabilities -> causal smoothing -> a
threshold per keyword and a refractory period -> detections; and their scoring against the
keywords' spans (misses, false alarms per hour, latency, thresholds for a false-alarm rate).

Conventions: frame ``t`` of a stream ends at ``(t + 1) / frame_rate`` seconds (the causal
front-end's framing); a detection is ``(time_s, class, score)``. A detection is correct when it
names the keyword and falls within the keyword's span plus ``tolerance`` seconds; a second
detection inside that span is neither a hit nor a false alarm; any other detection is a false
alarm. Classes whose threshold is infinite (``_background_``, ``_unknown_``) never fire.
"""

from __future__ import annotations

import dataclasses

import numpy as np

BACKGROUND = "_background_"
NON_KEYWORDS = (BACKGROUND, "_silence_", "_unknown_")


def smooth_posteriors(probs: np.ndarray, width: int, history: np.ndarray | None = None):
    """Causal moving average over ``width`` frames of ``probs (T, C)`` -> ``((T, C), history)``;
    ``history``: the ``width - 1`` frames before (None: the stream's start, where the average
    is over the frames so far), returned updated for the next block."""
    probs = np.asarray(probs, np.float64)
    if history is None:
        history = np.zeros((0, probs.shape[1]))
    joined = np.concatenate([history, probs])
    cumsum = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(joined, 0)])
    end = np.arange(len(history), len(joined)) + 1
    start = np.maximum(end - width, 0)
    smoothed = (cumsum[end] - cumsum[start]) / (end - start)[:, None]
    return smoothed, joined[max(len(joined) - (width - 1), 0):] if width > 1 else joined[:0]


def pick(smoothed: np.ndarray, thresholds: np.ndarray, refractory: int, offset: int = 0,
         blocked_until: int = 0) -> tuple[list[tuple[int, int, float]], int]:
    """Detections in ``smoothed (T, C)`` (frames ``offset .. offset + T - 1`` of a stream): at
    the first frame where some class reaches its threshold (``thresholds (C,)``), the class
    most above it fires, then nothing for ``refractory`` frames. -> ``([(frame, class,
    score)], blocked_until)`` (the first frame allowed to fire next, for the next block)."""
    margin = smoothed - thresholds[None, :]
    candidates = np.nonzero((margin >= 0).any(1))[0] + offset
    found, i = [], np.searchsorted(candidates, blocked_until)
    while i < len(candidates):
        t = int(candidates[i])
        c = int(np.argmax(margin[t - offset]))
        found.append((t, c, float(smoothed[t - offset, c])))
        blocked_until = t + refractory
        i = np.searchsorted(candidates, blocked_until, side="left")
    return found, blocked_until


class Detector:
    """Online detection over blocks of frame probabilities; feeding a stream block by block
    gives the same detections as feeding it whole.

    Args:
      labels: the run's classes; those in :data:`NON_KEYWORDS` never fire.
      thresholds: one per class (an array or ``{label: threshold}``; labels left out never
        fire), or one for every keyword.
      frame_rate: frames per second; smoothing_s, refractory_s: in seconds.
    """

    def __init__(self, labels, thresholds, frame_rate: float, smoothing_s: float = 0.1,
                 refractory_s: float = 1.0):
        self.labels, self.frame_rate = list(labels), frame_rate
        if isinstance(thresholds, dict):
            unknown = sorted(set(thresholds) - set(self.labels))
            if unknown:
                raise ValueError(f"threshold for {unknown[0]!r}, not a class of the run "
                                 f"({', '.join(self.labels)})")
            values = [thresholds.get(label, np.inf) for label in self.labels]
        else:
            values = np.broadcast_to(np.asarray(thresholds, np.float64), (len(self.labels),))
        self.thresholds = np.array([np.inf if label in NON_KEYWORDS else v
                                    for label, v in zip(self.labels, values)], np.float64)
        self.width = max(1, int(round(smoothing_s * frame_rate)))
        self.refractory = max(1, int(round(refractory_s * frame_rate)))
        self.reset()

    def reset(self) -> None:
        self.frames, self.blocked_until, self.history = 0, 0, None

    def feed(self, probs: np.ndarray) -> list[tuple[float, str, float]]:
        """``probs (K, C)``: the stream's next K frames -> ``[(time_s, label, score)]``."""
        smoothed, self.history = smooth_posteriors(probs, self.width, self.history)
        found, self.blocked_until = pick(smoothed, self.thresholds, self.refractory, self.frames,
                                         self.blocked_until)
        self.frames += len(probs)
        return [((t + 1) / self.frame_rate, self.labels[c], s) for t, c, s in found]


@dataclasses.dataclass
class StreamScore:
    """One recording scored: ``hits`` per event (bool), ``latencies`` (seconds after the
    keyword's end, per hit), ``false_alarms``, and ``false_alarm_words`` (the label of each)."""

    hits: list[bool]
    latencies: list[float]
    false_alarms: int
    false_alarm_words: list[str]


def score_stream(detections, events, tolerance: float = 0.5) -> StreamScore:
    """``detections [(time_s, word, ...)]`` against ``events [(onset_s, offset_s, word)]``."""
    hits = [False] * len(events)
    latencies, false_words = [], []
    for time, word, *_ in sorted(detections):
        spans = [i for i, (on, off, _) in enumerate(events) if on <= time <= off + tolerance]
        own = [i for i in spans if events[i][2] == word]
        if not own:
            false_words.append(word)
            continue
        first = next((i for i in own if not hits[i]), None)
        if first is not None:
            hits[first] = True
            latencies.append(time - events[first][1])
    return StreamScore(hits, latencies, len(false_words), false_words)


def keyword_seconds(events, tolerance: float = 0.5) -> float:
    """Seconds of a recording covered by keyword spans (plus tolerance), overlaps merged."""
    total, end = 0.0, -np.inf
    for on, off, _ in sorted(events):
        on, off = max(on, end), off + tolerance
        if off > on:
            total, end = total + off - on, off
    return total


def choose_thresholds(streams, labels, frame_rate: float, false_alarms_per_hour: float,
                      grid=np.linspace(0.05, 0.99, 95), smoothing_s: float = 0.1,
                      refractory_s: float = 1.0) -> dict[str, float]:
    """A threshold per keyword (on validation streams, never test): the lowest on ``grid`` at
    which that keyword alone raises at most its share (``1 / keywords``) of the false-alarm
    rate. ``streams``: ``[(probs (T, C), events, seconds)]``. A keyword that breaks its share
    even at the grid's top gets that top: :func:`detection_metrics` then reports the rate
    actually reached, so nothing is hidden."""
    probe = Detector(labels, 1.0, frame_rate, smoothing_s, refractory_s)
    keywords = [c for c, t in enumerate(probe.thresholds) if np.isfinite(t)]
    hours = sum(seconds - keyword_seconds(events) for _, events, seconds in streams) / 3600.0
    budget = false_alarms_per_hour / len(keywords) * hours
    smoothed = [smooth_posteriors(p, probe.width)[0] for p, _, _ in streams]
    chosen = {}
    for c in keywords:
        word = labels[c]
        chosen[word] = float(grid[-1])
        for threshold in grid:
            alarms = 0
            for column, (_, events, _) in zip(smoothed, streams):
                found, _ = pick(column[:, c:c + 1], np.array([threshold]), probe.refractory)
                alarms += score_stream([((t + 1) / frame_rate, word) for t, _, _ in found],
                                       events).false_alarms
            if alarms <= budget:
                chosen[word] = float(threshold)
                break
    return chosen


def detection_metrics(streams, labels, thresholds, frame_rate: float, **detector_args) -> dict:
    """Miss rate (overall with its 95% bootstrap interval over keywords, and per keyword),
    false alarms per hour and latency of ``streams`` ``[(probs (T, C), events, seconds)]``
    at ``thresholds``."""
    hits, words, latencies, alarms, seconds = [], [], [], 0, 0.0
    for probs, events, duration in streams:
        score = score_stream(Detector(labels, thresholds, frame_rate, **detector_args)
                             .feed(probs), events)
        hits += score.hits
        words += [w for _, _, w in events]
        latencies += score.latencies
        alarms += score.false_alarms
        seconds += duration - keyword_seconds(events)
    from audiojax.tasks.base import bootstrap_interval  # noqa: PLC0415 (jax-free callers)

    hours = seconds / 3600.0
    low, high = bootstrap_interval(np.asarray(hits, np.float64))
    per_word = {w: float(1 - np.mean([h for h, x in zip(hits, words) if x == w]))
                for w in sorted(set(words))}
    return {"miss_rate": float(1 - np.mean(hits)) if hits else float("nan"),
            "miss_rate_ci95": [1.0 - high, 1.0 - low],
            "false_alarms": alarms, "background_hours": hours,
            "false_alarms_per_hour": alarms / hours if hours else float("nan"),
            "latency_median_s": float(np.median(latencies)) if latencies else float("nan"),
            "latency_p90_s": float(np.percentile(latencies, 90)) if latencies else float("nan"),
            "keywords": len(hits), "miss_rate_per_word": per_word}
