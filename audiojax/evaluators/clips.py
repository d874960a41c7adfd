"""The ``clips`` evaluator: the task's ``eval_step`` over every example of a split of the run's
corpus or of a manifest, once each (padding rows masked), then the task's metrics; per speaker
when the source names speakers, and per recording condition (room, noise, channel:
:func:`audiojax.data.corpora.clip_conditions`) for clips of a corpus built here."""

from __future__ import annotations

import jax

from audiojax.data.corpora import conditions_of
from audiojax.data.pipeline import numeric
from audiojax.data.splits import clip_folder, is_split, loader_for, open_data
from audiojax.tasks.base import groups_rows


class ClipsEvaluator:
    """See the module docstring. ``malformed`` lists manifest lines left out (``on_bad=skip``)."""

    def __init__(self, name: str, spec, config, task, parallel, eval_step):
        self.name, self.data = name, spec["data"]
        self.every_steps = int(spec["every_steps"])
        self.task, self.parallel, self.eval_step = task, parallel, eval_step
        self.source = open_data(config, self.data, task.columns, task.labels)
        where = f"config.evals.{name}" if is_split(self.data) else self.data
        task.check_source(self.source, where)
        self.malformed = list(getattr(self.source, "malformed", []))
        batch = spec["batch_size"] or config.batch_size
        self.loader = loader_for(config, self.source, task.label_to_id, train=False,
                                 batch_size=parallel.eval_batch_size(batch))
        self._folder = clip_folder(config, self.source)
        self._conditions: dict | None | bool = False  # read once, on the first run

    def run(self, variables) -> dict:
        task = self.task
        collected, speakers, ids = None, [], []
        for batch in self.loader:
            out = self.eval_step(variables, self.parallel.put_batch(numeric(batch)))
            collected = task.combine(collected, out)
            speakers += batch["speaker"][batch["mask"]].tolist()
            ids += batch["id"][batch["mask"]].tolist()
        if collected is None:
            raise ValueError(f"evaluator {self.name}: {self.data} holds no examples")
        collected = jax.device_get(collected)
        # Each process's loader sees its own rows only; the gathered outputs hold them all.
        collected = task.finish(collected, self.source, ids if jax.process_count() == 1 else None)
        metrics = task.summarize(collected)
        # Per-row groups: one process only (each process sees only its own rows).
        if jax.process_count() == 1 and groups_rows(task):
            if any(speakers):
                metrics["per_speaker"] = task.per_group(collected, speakers)
            if self._conditions is False:
                self._conditions = conditions_of(ids, base=self._folder)
            if self._conditions:
                metrics["per_condition"] = {name: task.per_group(collected, bins)
                                            for name, bins in self._conditions.items()}
        return metrics
