"""Orbax checkpoints in ``WORKDIR/checkpoints``: train state + data-iterator position + metrics.

Saves are asynchronous; the last ``keep`` checkpoints and the best one by a validation metric
are kept. A save interrupted by a kill leaves only a temporary folder that orbax ignores, and a
checkpoint damaged afterwards (a truncated file) is passed over, with a warning, for the newest
one that restores (:meth:`Checkpoints.restore_newest`).
"""

from __future__ import annotations

import dataclasses
import sys
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


def _reason(error: Exception) -> str:
    """An exception's first line, short enough for a one-line message."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _silence_abandoned_reads() -> None:
    """After a failed restore, the reads orbax abandoned still complete, later, in tensorstore's
    threads, and their callbacks find orbax's event loop closed: each prints a "RuntimeError:
    Event loop is closed" traceback (dozens per checkpoint). They are noise, so they are dropped;
    every other unraisable exception still reaches the previous hook."""
    previous = sys.unraisablehook
    if getattr(previous, "audiojax_filter", False):
        return

    def hook(unraisable):
        error = unraisable.exc_value
        if isinstance(error, RuntimeError) and "Event loop is closed" in str(error):
            return
        previous(unraisable)

    hook.audiojax_filter = True
    sys.unraisablehook = hook


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
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(self.directory, options=options,
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
        checkpoints from before such a field existed restore alike. A step that does not
        restore (damaged, or not of this model) raises ValueError naming it and why."""
        template = jax.tree.map(lambda x: np.zeros(np.shape(x), x.dtype), _present_fields(like))
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(template), meta=ocp.args.JsonRestore()))
        except Exception as e:  # noqa: BLE001 - orbax raises many kinds; each is a bad step
            _silence_abandoned_reads()
            raise ValueError(f"{self.directory / str(step)}: does not restore ({_reason(e)})") from None
        restored = like.replace(**out.state)
        for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(like),
                                     jax.tree.leaves(restored)):
            if np.shape(got) != tuple(want.shape):  # orbax restores the saved shape as is
                raise ValueError(f"{self.directory / str(step)}: does not match this run's config "
                                 f"and labels.json ({jax.tree_util.keystr(path)} has shape "
                                 f"{np.shape(got)} in the checkpoint, {tuple(want.shape)} in the model)")
        return restored, out.meta

    def restore_newest(self, which: str | int, like: Any, warn=print) -> tuple[int, Any, dict]:
        """``(step, state, meta)`` of ``which`` (``latest``, ``best`` or a step); for
        ``latest`` and ``best``, a step that does not restore is passed over with a warning
        for the newest one that does (best first, for ``best``). An explicit step does not
        fall back. Raises ValueError when none restores, FileNotFoundError when none is saved."""
        if which not in ("latest", "best"):
            step = self.step_for(which)
            return (step, *self.restore(step, like))
        steps = sorted(self.manager.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"{self.directory}: no checkpoint saved yet")
        if which == "best":
            best = self.step_for("best")
            steps = [best] + [s for s in steps if s != best]
        problems = []
        for step in steps:
            try:
                restored = self.restore(step, like)
            except ValueError as e:
                problems.append(str(e))
                continue
            for problem in problems:  # said once a fallback has worked; else the error says it
                warn(f"warning: {problem}; fell back to step {step}")
            return (step, *restored)
        raise ValueError(f"{self.directory}: no checkpoint restores: " + "; ".join(problems))

    def delete_after(self, step: int) -> None:
        """Deletes the checkpoints newer than ``step`` (damaged ones a resumed run redoes)."""
        for newer in [s for s in self.manager.all_steps() if s > step]:
            self.manager.delete(newer)

    def check_saves(self) -> None:
        """Raises, naming the folder, if a background save has failed (called every step)."""
        try:
            self.manager.check_for_errors()
        except Exception as e:  # noqa: BLE001
            raise OSError(f"{self.directory}: saving a checkpoint failed ({_reason(e)})") from None

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
