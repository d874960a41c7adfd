"""Evaluators: named in ``config.evals``, run by the trainer at their cadence and by
``audiojax evaluate``; one of them ranks checkpoints (``config.best_metric``).

    c.evals.validation = evaluator("validation")                       # a split of the corpus
    c.evals.mine = evaluator("/data/my_recordings.tsv", every_steps=500)  # any manifest
    c.best_metric = "validation/accuracy"                               # EVALUATOR/METRIC

Each entry holds ``kind`` (how it scores: see :data:`KINDS`), ``data`` (a split name or a
manifest path), ``every_steps`` (its cadence in training; 0: never during training but at the
checkpoints it ranks) and ``batch_size`` (0: the run's). A new kind is a module here (or a
dotted path ``pkg.mod:Class``) with the :class:`Evaluator` interface; metrics that are not
sums over examples (EER over trial pairs, mAP) come from the task collecting per-example
outputs (:meth:`audiojax.tasks.base.Task.combine`) and computing them at the end.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import ml_collections

KINDS = {"clips": "audiojax.evaluators.clips:ClipsEvaluator",
         "trials": "audiojax.evaluators.trials:TrialsEvaluator",
         "events": "audiojax.evaluators.events:EventsEvaluator"}
SPEC_KEYS = ("kind", "data", "every_steps", "batch_size")
OPTIONAL_KEYS = ("tune", "threshold")  # of kinds that read them (events)


class Evaluator(Protocol):
    """A named evaluation: ``run(variables) -> metrics`` (JSON: scalars, lists, dicts)."""

    name: str
    every_steps: int
    data: str

    def run(self, variables: Any) -> dict: ...


def evaluator(data: str, every_steps: int = 500, kind: str = "clips",
              batch_size: int = 0, **options) -> ml_collections.ConfigDict:
    """A ``config.evals`` entry (see the module docstring); ``options``: keys of
    :data:`OPTIONAL_KEYS` for the kinds that read them."""
    return ml_collections.ConfigDict(dict(kind=kind, data=data, every_steps=every_steps,
                                          batch_size=batch_size, **options))


def check_spec(name: str, spec) -> None:
    """Refuses an entry with unknown keys, an unknown kind or a negative cadence, by name."""
    unknown = sorted(set(spec.keys()) - set(SPEC_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"config.evals.{name}.{unknown[0]}: not an evaluator key "
                         f"(keys: {', '.join(SPEC_KEYS + OPTIONAL_KEYS)})")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise ValueError(f"config.evals.{name}: missing {', '.join(missing)} (use "
                         f"audiojax.evaluators.evaluator(...))")
    if spec["kind"] not in KINDS and ":" not in spec["kind"]:
        raise ValueError(f"config.evals.{name}.kind: unknown {spec['kind']!r}; known: "
                         f"{', '.join(KINDS)} or a dotted path")
    if spec["every_steps"] < 0 or spec["batch_size"] < 0:
        raise ValueError(f"config.evals.{name}: every_steps and batch_size must be >= 0")


def make(name: str, spec, config, task, parallel, eval_step: Callable) -> Evaluator:
    """The evaluator ``name`` of ``spec`` for a run (its config and task), placing batches with
    ``parallel`` (:class:`audiojax.train.parallel.DataParallel`) and scoring them with the
    compiled ``eval_step(variables, batch)``."""
    from audiojax.config import import_object  # noqa: PLC0415

    check_spec(name, spec)
    cls = import_object(KINDS.get(spec["kind"], spec["kind"]), f"config.evals.{name}.kind")
    return cls(name, spec, config, task, parallel, eval_step)
