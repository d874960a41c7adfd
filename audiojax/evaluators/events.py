"""The ``events`` evaluator: wake-word detection on long recordings listed in an events file
(:mod:`audiojax.data.events`), for runs whose model streams (``stream_scores``: per-frame
class scores, as ``experiments/kws_streaming.py``'s).

Each recording goes through the model whole (equal to running it chunk by chunk:
tests/test_streaming.py), a softmax per frame, then the detector of
:mod:`~audiojax.tasks.classification.detect` (causal smoothing, a threshold per keyword, a
refractory period). Metrics:

- with ``tune`` (the events of other recordings: validation, never the scored ones; ``self``
  for the scored ones, which is for validation only): a threshold per keyword chosen there
  for each total false-alarm rate of :data:`RATES`, and at each the miss rate (overall with
  its 95% bootstrap interval over keywords, and per keyword), the false alarms per hour
  reached on the scored recordings and the latency after the keyword's end;
- always: the metrics at one threshold for every keyword (``threshold``, 0.5), and a
  DET-style curve of that common threshold swept (miss rate against false alarms per hour).

``data``: an events file, or a split of the run's corpus (``validation``: the
``events_validation.tsv`` of the first of its joined local corpora that has one).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from audiojax import audio
from audiojax.data import source_parts
from audiojax.data.events import read_events
from audiojax.data.splits import source_corpus, is_split
from audiojax.tasks.classification.detect import choose_thresholds, detection_metrics

RATES = (0.5, 1.0)         # false alarms per hour, over all keywords
SWEEP = np.linspace(0.05, 0.99, 48)
PAD_SECONDS = 10.0         # recordings padded to a multiple (fewer compilations)


def events_path(config, data: str, name: str) -> Path:
    """An evaluator's ``data`` (or ``tune``) as an events file's path."""
    if not is_split(data):
        return Path(data)
    for spec in source_parts(config.data.source):
        folder = source_corpus(config, spec)
        if folder is not None and (folder / f"events_{data}.tsv").is_file():
            return folder / f"events_{data}.tsv"
    raise ValueError(f"config.evals.{name}: no corpus of {config.data.source!r} has "
                     f"events_{data}.tsv (the streams corpus does: audiojax data build streams)")


class EventsEvaluator:
    """See the module docstring."""

    def __init__(self, name: str, spec, config, task, parallel, eval_step):
        del eval_step  # recordings are scored from per-frame probabilities, not clip logits
        model = task.model
        if not hasattr(model, "stream_scores"):
            raise ValueError(f"config.evals.{name}.kind: events, but model "
                             f"{config.model.name!r} has no per-frame scores (a streaming "
                             f"model such as experiments/kws_streaming.py's)")
        self.name, self.every_steps = name, int(spec["every_steps"])
        self.path = events_path(config, spec["data"], name)
        self.data = str(self.path)
        self.events = read_events(self.path, task.labels)
        tune = spec.get("tune", "")
        self.tune_path = self.path if tune == "self" else events_path(config, tune, name) if tune else None
        self.tune = read_events(self.tune_path, task.labels) if self.tune_path else None
        self.threshold = float(spec.get("threshold", 0.5))
        self.task, self.parallel = task, parallel
        self.rate = config.data.sample_rate
        self.hop = model.hop_length
        self.frame_rate = self.rate / self.hop
        self._probs = jax.jit(lambda v, x, n: jax.nn.softmax(
            model.apply(v, x, n, method=model.stream_scores)[0], axis=-1))

    def probabilities(self, variables, events) -> list[tuple[np.ndarray, list, float]]:
        """``[(probs (frames, classes), events, seconds)]`` of every recording listed."""
        out, pad = [], int(PAD_SECONDS * self.rate)
        for file, spans in events.items():
            y, _ = audio.load(file, sr=self.rate)
            x = np.zeros((1, -(-max(y.size, 1) // pad) * pad), np.float32)
            x[0, :y.size] = y
            probs = self._probs(variables, x, np.array([y.size], np.int32))
            out.append((np.asarray(probs[0, :y.size // self.hop]), spans, y.size / self.rate))
        return out

    def run(self, variables) -> dict:
        host = jax.device_get(self.parallel.get_state(variables))
        labels, fr = self.task.labels, self.frame_rate
        scored = self.probabilities(host, self.events)
        fixed = detection_metrics(scored, labels, self.threshold, fr)
        sweep = [detection_metrics(scored, labels, t, fr) for t in SWEEP]
        metrics = {**{k: fixed[k] for k in ("miss_rate", "miss_rate_ci95", "false_alarms_per_hour",
                                            "latency_median_s", "background_hours")},
                   "threshold": self.threshold, "recordings": len(scored),
                   "count": fixed["keywords"], "count_of": "keywords",
                   "miss_rate_per_word": fixed["miss_rate_per_word"],
                   "det_curve": {"thresholds": SWEEP.round(4).tolist(),
                                 "miss_rate": [m["miss_rate"] for m in sweep],
                                 "false_alarms_per_hour": [m["false_alarms_per_hour"] for m in sweep]},
                   "tuned_on": str(self.tune_path) if self.tune_path else None}
        if self.tune is not None:
            tuning = scored if self.tune_path == self.path else self.probabilities(host, self.tune)
            metrics["at_rate"] = {}
            for rate in RATES:
                thresholds = choose_thresholds(tuning, labels, fr, rate)
                metrics["at_rate"][f"{rate:g}"] = {
                    **detection_metrics(scored, labels, thresholds, fr), "thresholds": thresholds}
            for rate, m in metrics["at_rate"].items():  # headline figures, for best_metric
                metrics[f"miss_rate_at_{rate}"] = m["miss_rate"]
        return metrics
