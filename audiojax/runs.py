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
from audiojax.train.metrics_log import read_metrics
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


def restore_ensemble(workdir: str | Path, checkpoint: str | int = "best",
                     overrides: Sequence[str] = (), ensemble: Sequence[str | Path] = (),
                     last_checkpoints: int = 0) -> list[TrainedRun]:
    """The members of an ensemble, ``workdir``'s run first: it and each run of ``ensemble``
    (workdirs) at ``checkpoint``, or at each of their ``last_checkpoints`` newest checkpoints
    (newest first), all with the inference ``overrides``. A member of another task, with other
    labels or another sample rate than ``workdir``'s run is refused (ValueError naming it);
    they are all fed ``workdir``'s data settings (window, centring)."""
    if last_checkpoints < 0:
        raise ValueError(f"--last-checkpoints {last_checkpoints}: must not be negative")
    members = []
    for folder in [workdir, *ensemble]:
        if not last_checkpoints:
            members.append(restore(folder, checkpoint, overrides))
            continue
        checkpoints = Checkpoints(Path(folder) / "checkpoints", read_only=True)
        try:
            steps = sorted(checkpoints.manager.all_steps(), reverse=True)
        finally:
            checkpoints.close()
        if len(steps) < last_checkpoints:
            held = ", ".join(map(str, sorted(steps))) or "none"
            raise ValueError(f"--last-checkpoints {last_checkpoints}: "
                             f"{Path(folder) / 'checkpoints'} holds {len(steps)} ({held})")
        members += [restore(folder, step, overrides) for step in steps[:last_checkpoints]]
    for member in members[1:]:
        problem = _unlike(members[0], member)
        if problem:
            raise ValueError(f"--ensemble {member.workdir}: {problem} (the runs of an ensemble "
                             f"share task, labels and sample rate)")
    return members


def _unlike(first: TrainedRun, member: TrainedRun) -> str | None:
    """How ``member`` differs from ``first`` in what an ensemble's runs share, or None."""
    if member.config.task != first.config.task:
        return f"a {member.config.task} run, {first.workdir} a {first.config.task} run"
    if member.labels != first.labels:
        at = next((i for i, (a, b) in enumerate(zip(first.labels, member.labels)) if a != b), None)
        return (f"its labels.json differs from {first.workdir}'s ("
                + (f"label {at}: {member.labels[at]!r}, not {first.labels[at]!r})" if at is not None
                   else f"{len(member.labels)} labels, not {len(first.labels)})"))
    if member.config.data.sample_rate != first.config.data.sample_rate:
        return (f"its data.sample_rate is {member.config.data.sample_rate}, "
                f"{first.workdir}'s {first.config.data.sample_rate}")
    return None


class _Opener:
    """The :class:`~audiojax.tasks.commands.RunOpener` given to task commands."""

    restore = staticmethod(restore)
    ensemble = staticmethod(restore_ensemble)
    config = staticmethod(read_config)
    metrics = staticmethod(read_metrics)


OPENER = _Opener()
