"""The ``trials`` evaluator: verification over a trial list (``enroll<TAB>test<TAB>1|0``,
:mod:`audiojax.data.trials`), for tasks that embed (speaker recognition).

Every file of the list is embedded once (the task's ``embed_files`` with its compiled
``embed_step``), then the task scores the pairs (``score_trials``: EER, minDCF, ...). ``data``
is a split of the run's corpus (its ``trials_SPLIT.tsv``) or the path of a trial list.
"""

from __future__ import annotations

from pathlib import Path

import jax

from audiojax.data.splits import is_split, local_corpus
from audiojax.data.trials import read_trials, trial_files

class TrialsEvaluator:
    """See the module docstring."""

    def __init__(self, name: str, spec, config, task, parallel, eval_step):
        del eval_step  # trials are scored from embeddings, not the task's eval step
        if not all(hasattr(task, m) for m in ("embed_step", "embed_files", "score_trials")):
            raise ValueError(f"config.evals.{name}.kind: trials, but a {config.task} run does "
                             f"not embed (its task has no embed_step, embed_files, score_trials)")
        self.name, self.data = name, spec["data"]
        self.every_steps = int(spec["every_steps"])
        self.task, self.parallel, self.config = task, parallel, config
        if is_split(self.data):
            folder = local_corpus(config)
            if folder is None:
                raise ValueError(f"config.evals.{name}: split {self.data!r} of "
                                 f"{config.data.source!r}, which has no trial lists (give a "
                                 f"trial list's path)")
            self.path = Path(folder) / f"trials_{self.data}.tsv"
        else:
            self.path = Path(self.data)
        self.trials = read_trials(self.path)
        missing = [f for f in trial_files(self.trials) if not Path(f).is_file()]
        if missing:
            raise ValueError(f"{self.path}: {len(missing)} listed file(s) not found, the first "
                             f"{missing[0]}")
        self.batch_size = parallel.eval_batch_size(spec["batch_size"] or config.batch_size)
        self._embed_step = parallel.compile_eval_step(task.embed_step)

    def run(self, variables) -> dict:
        embeddings = self.task.embed_files(
            lambda batch: self._embed_step(variables, self.parallel.put_batch(batch)),
            trial_files(self.trials), str(self.path), self.batch_size)
        host = jax.device_get(self.parallel.get_state(variables))
        return {**self.task.score_trials(host, embeddings, self.trials), "count_of": "trials"}
