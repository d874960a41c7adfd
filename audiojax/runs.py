"""Trained runs restored for inference: a workdir's config (migrated to this version), its
labels, its task, and a checkpoint's variables. What ``audiojax evaluate`` and every task's
commands open (they get :data:`OPENER`, the :class:`~audiojax.tasks.commands.RunOpener`)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

import jax
import ml_collections

from audiojax.config import apply_override, read_json
from audiojax.tasks import task_class
from audiojax.train.checkpoint import Checkpoints
from audiojax.train.defaults import validate
from audiojax.train.loop import optimizer_for, read_run_config, state_template
from audiojax.train.step import all_finite


@dataclasses.dataclass
class TrainedRun:
    """A run restored for inference (see :class:`audiojax.tasks.commands.TrainedRun`);
    ``state`` is the whole restored TrainState, on the default device."""

    workdir: Path
    config: Any
    labels: list[str]
    task: Any
    state: Any
    step: int

    @property
    def variables(self) -> dict:
        return self.state.variables


def read_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """A run's config, migrated (:func:`audiojax.train.defaults.migrate`)."""
    if Path(workdir).exists() and not Path(workdir).is_dir():
        raise ValueError(f"--workdir {workdir}: a file, not a run's folder")
    return read_run_config(workdir)


def apply_overrides(config: ml_collections.ConfigDict, overrides: Sequence[str], allowed: Sequence[str]) -> None:
    """``KEY=VALUE`` inference overrides of ``allowed`` keys (a key, or a section and all its
    keys); any other key is refused by name, as is a key the config lacks."""
    for item in overrides:
        key = item.removeprefix("--config.").partition("=")[0]
        if not any(key == a or key.startswith(a + ".") for a in allowed):
            raise ValueError(f"--config.{key}: cannot change at inference for a {config.task} run "
                             f"(what can: {', '.join(allowed)})")
        apply_override(config, item)


def restore(workdir: str | Path, checkpoint: str | int = "best",
            overrides: Sequence[str] = ()) -> TrainedRun:
    """A run's checkpoint (``best``, ``latest`` or a step), ready for inference, with the
    inference ``overrides`` (``KEY=VALUE``, of the task's ``inference_keys``) applied. A damaged
    ``best`` or ``latest`` checkpoint is passed over, with a warning, for the newest that
    restores."""
    workdir = Path(workdir)
    config = read_config(workdir)
    cls = task_class(config.task)
    apply_overrides(config, overrides, cls.inference_keys)
    validate(config)  # an override's value is checked as in training (names the key)
    with config.unlocked():
        cls.inference_config(config, workdir)
    labels_path = workdir / "labels.json"
    if not labels_path.is_file():
        raise FileNotFoundError(f"--workdir {workdir}: no labels.json; is it a training run's folder?")
    labels = read_json(labels_path, "list of labels")
    task = cls(config, labels)
    checkpoints = Checkpoints(workdir / "checkpoints", best_metric=config.best_metric,
                              best_mode=config.best_mode, read_only=True)
    try:
        step, state, _ = checkpoints.restore_newest(
            checkpoint, state_template(config, task, optimizer_for(config, 1)[0]),
            warn=lambda message: print(message, file=sys.stderr))
    finally:
        checkpoints.close()
    state = jax.device_put(state)
    if not bool(all_finite(state.variables)):
        raise FloatingPointError(f"{workdir / 'checkpoints' / str(step)}: the parameters are not "
                                 f"finite (NaN/Inf), a diverged run's checkpoint")
    return TrainedRun(workdir, config, labels, task, state, step)


class _Opener:
    """The :class:`~audiojax.tasks.commands.RunOpener` given to task commands."""

    restore = staticmethod(restore)
    config = staticmethod(read_config)


OPENER = _Opener()
