"""Tasks: what turns a batch into a loss and metrics, one package per task, found by name.

    config.task = "asr"                      # the package audiojax/tasks/asr/
    config.task = "mypkg.tasks:MyTask"       # a researcher's own Task subclass, anywhere

A task package (``audiojax/tasks/NAME/__init__.py``, kept free of heavy imports) says

    TASK = "audiojax.tasks.NAME.task:TheTask"   # a subclass of audiojax.tasks.base.Task
    COMMANDS = (Command(...), ...)              # its inference commands (audiojax.tasks.commands)
    OPTIONS = (Option(...), ...)                # its inference options (also for `evaluate`)

and nothing else in audiojax names it: adding a task is adding its folder. Commands of tasks
outside audiojax come through the entry-point group ``audiojax.commands``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from importlib import metadata
from typing import Iterable

from audiojax.tasks.commands import Command, Option

ENTRY_POINTS = "audiojax.commands"


def builtin_tasks() -> list[str]:
    """The task packages under ``audiojax/tasks/``."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def _package(name: str):
    if name not in builtin_tasks():
        raise ValueError(f"config.task: unknown {name!r}; known: {', '.join(builtin_tasks())}, "
                         f"or a dotted path 'package.module:TaskClass'")
    return importlib.import_module(f"{__name__}.{name}")


def task_class(name: str) -> type:
    """The Task class of ``config.task`` (a built-in name or a dotted path)."""
    from audiojax.config import import_object  # noqa: PLC0415
    from audiojax.tasks.base import Task  # noqa: PLC0415

    target = name if ":" in name else _package(name).TASK
    cls = import_object(target, "config.task") if isinstance(target, str) else target
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(f"config.task: {name!r} is not a subclass of audiojax.tasks.base.Task")
    return cls


def get_task(config, labels):
    """The task named by ``config.task``, for a run with these ``labels``."""
    return task_class(config.task)(config, labels)


def _entry_point_commands() -> Iterable[Command]:
    for entry in metadata.entry_points(group=ENTRY_POINTS):
        loaded = entry.load()
        for command in (loaded if isinstance(loaded, (tuple, list)) else (loaded,)):
            if not isinstance(command, Command) or not command.task:
                raise ValueError(f"entry point {entry.name} ({ENTRY_POINTS}): expected Commands "
                                 f"naming their task, got {command!r}")
            yield command


def all_commands() -> dict[str, list[Command]]:
    """Every inference command by name, each with the task it serves (a name several tasks
    offer lists one command per task)."""
    out: dict[str, list[Command]] = {}
    for name in builtin_tasks():
        for command in getattr(_package(name), "COMMANDS", ()):
            out.setdefault(command.name, []).append(dataclasses.replace(command, task=name))
    for command in _entry_point_commands():
        out.setdefault(command.name, []).append(command)
    return out


def all_options() -> list[Option]:
    """The inference options of every built-in task (for ``audiojax evaluate``)."""
    out: dict[str, Option] = {}
    for name in builtin_tasks():
        for option in getattr(_package(name), "OPTIONS", ()):
            out.setdefault(option.flag, option)
    return list(out.values())


def commands_of(task: str) -> list[Command]:
    """The commands that serve ``config.task``."""
    return [c for commands in all_commands().values() for c in commands if c.task == task]
