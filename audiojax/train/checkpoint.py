"""Orbax checkpoints in ``WORKDIR/checkpoints``: train state + data-iterator position + metrics.

Saves are asynchronous; the last ``keep`` checkpoints and the best one by a validation metric
are kept. A save interrupted by a kill leaves only a temporary folder that orbax ignores, so
the newest complete checkpoint is always the one restored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies


def _present_fields(state) -> dict:
    """A dataclass pytree's fields that are not None, as a dict (what a checkpoint holds)."""
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)
            if getattr(state, f.name) is not None}


class Checkpoints:
    """One run's checkpoints.

    Args:
      directory: ``WORKDIR/checkpoints``.
      keep: how many of the latest checkpoints to keep.
      best_metric: ``EVALUATOR/METRIC`` (a key of the metrics passed to ``save``) ranking
        checkpoints for ``best``; ``best_mode`` 'max' or 'min'. Checkpoints saved before
        evaluators were named (config version 1) hold the metric without its evaluator.
    """

    def __init__(self, directory: str | Path, keep: int = 2, best_metric: str = "validation/accuracy",
                 best_mode: str = "max", read_only: bool = False):
        self.best_metric = best_metric
        legacy = best_metric.partition("/")[2]

        def score(m):
            return float(m[best_metric] if best_metric in m else m[legacy])

        options = ocp.CheckpointManagerOptions(
            best_fn=score, best_mode=best_mode, read_only=read_only, create=not read_only,
            cleanup_tmp_directories=True,
            preservation_policy=policies.AnyPreservationPolicy([
                policies.LatestN(n=keep),
                policies.BestN(get_metric_fn=score, reverse=best_mode == "min", n=1,
                               keep_checkpoints_without_metrics=False),
            ]))
        self.manager = ocp.CheckpointManager(Path(directory).absolute(), options=options,
                                             item_names=("state", "meta"))

    def save(self, step: int, state: Any, meta: dict, metrics: dict | None = None) -> None:
        """Starts saving ``state`` (a dataclass pytree such as TrainState) and ``meta`` (JSON:
        data position, ...) at ``step``."""
        # Host copies carry no device layout, so a checkpoint restores on any device count.
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_present_fields(jax.device_get(state))),
            meta=ocp.args.JsonSave(meta)), metrics=metrics, force=True)

    def step_for(self, which: str | int) -> int | None:
        """'latest', 'best' or an explicit step -> a saved step (None if nothing is saved)."""
        if which == "latest":
            return self.manager.latest_step()
        if which == "best":
            best = self.manager.best_step()
            return best if best is not None else self.manager.latest_step()
        try:
            step = int(which)
        except ValueError:
            raise ValueError(f"--checkpoint {which}: expected best, latest or a step number") from None
        steps = self.manager.all_steps()
        if step not in steps:
            raise ValueError(f"--checkpoint {step}: no such checkpoint; saved steps: {sorted(steps)}")
        return step

    def restore(self, step: int, like: Any) -> tuple[Any, dict]:
        """Restores ``(state, meta)`` at ``step``; ``like`` (a dataclass pytree of arrays or
        ``jax.ShapeDtypeStruct``s) gives the state's structure. Fields that are None (optional
        state that is off, e.g. averaged parameters) are neither saved nor restored, so
        checkpoints from before such a field existed restore alike."""
        template = jax.tree.map(lambda x: np.zeros(np.shape(x), x.dtype), _present_fields(like))
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()))
        return like.replace(**out.state), out.meta

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
