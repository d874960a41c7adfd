"""The inference commands tasks offer (``audiojax predict``, ``transcribe``, ``generate``, ...).

Light on purpose (no jax): the CLI reads every task's commands to build its parser.

A task package lists its commands in ``COMMANDS`` (and its inference options, which also apply
to ``audiojax evaluate``, in ``OPTIONS``). Each :class:`Command` names a module with

    def add_arguments(parser: argparse.ArgumentParser) -> None   # its own options (keep imports light)
    def run(args: argparse.Namespace, runs: RunOpener) -> int     # the exit status

``runs`` restores trained runs (:class:`RunOpener`): a command never imports the trainer. A
command name several tasks offer (``tag``) is dispatched on the task of ``--workdir``'s run.
A researcher's own commands come through the entry-point group ``audiojax.commands``, each
entry point a :class:`Command` (or a tuple of them) whose ``task`` names its task.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence


@dataclasses.dataclass(frozen=True)
class Command:
    """``audiojax NAME``: ``help`` for ``--help``; ``module`` holds ``add_arguments`` and
    ``run``; ``task`` is the task it serves (a built-in package's own name, filled in by the
    registry, or a dotted path ``pkg.mod:Task`` for one that comes through an entry point)."""

    name: str
    help: str
    module: str
    task: str = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        importlib.import_module(self.module).add_arguments(parser)

    def run(self, args: argparse.Namespace, runs: "RunOpener") -> int:
        return importlib.import_module(self.module).run(args, runs)


@dataclasses.dataclass(frozen=True)
class Option:
    """An inference option of a task: ``flag`` sets config key ``key`` (e.g. ``--beam-width``
    -> ``decode.beam_width``) for ``audiojax evaluate`` and the task's commands."""

    flag: str
    key: str
    type: Callable[[str], Any]
    help: str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


class TrainedRun(Protocol):
    """A run restored for inference (see :mod:`audiojax.runs`)."""

    workdir: Path
    config: Any      # its config, with the inference overrides applied
    labels: list[str]
    task: Any        # the Task, built from the config and labels
    variables: Any   # one copy on the default device: ``{"params", "batch_stats"}``
    step: int        # the checkpoint's step


class RunOpener(Protocol):
    """What a command is given to open trained runs."""

    def restore(self, workdir: str | Path, checkpoint: str | int = "best",
                overrides: Sequence[str] = ()) -> TrainedRun: ...

    def ensemble(self, workdir: str | Path, checkpoint: str | int = "best",
                 overrides: Sequence[str] = (), ensemble: Sequence[str | Path] = (),
                 last_checkpoints: int = 0) -> list[TrainedRun]:
        """``workdir``'s run and further runs or checkpoints of the same task and labels
        (:func:`audiojax.runs.restore_ensemble`)."""
        ...

    def config(self, workdir: str | Path) -> Any: ...

    def metrics(self, workdir: str | Path) -> list[dict]:
        """The run's ``metrics.jsonl`` records (``step``, ``split``: the evaluator or train,
        and its scalars), in the order written."""
        ...


def add_run_arguments(parser: argparse.ArgumentParser, options: Sequence[Option] = ()) -> None:
    """``--workdir``, ``--checkpoint`` and the task's inference ``options``."""
    parser.add_argument("--workdir", required=True, help="the run's workdir")
    parser.add_argument("--checkpoint", default="best", help="best, latest or a step (default: best)")
    add_options(parser, options)


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ensemble RUN...`` and ``--last-checkpoints K`` (:meth:`RunOpener.ensemble`)."""
    parser.add_argument("--ensemble", nargs="+", action="extend", default=[], metavar="RUN",
                        help="more runs (workdirs) of the same task and labels, at the same "
                             "--checkpoint: their class probabilities are averaged with the run's")
    parser.add_argument("--last-checkpoints", type=int, default=0, metavar="K",
                        help="average the K newest checkpoints of each run instead of "
                             "--checkpoint's one")


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    for option in options:
        parser.add_argument(option.flag, dest=option.dest, type=option.type, default=None,
                            help=option.help)


def overrides_from(args: argparse.Namespace, options: Sequence[Option]) -> list[str]:
    """``KEY=VALUE`` overrides: the given ``options`` (those left unset are not overrides) and
    the ``--config.KEY=VALUE`` ones of the command line (``args.overrides``)."""
    out = [f"{o.key}={getattr(args, o.dest)!r}" for o in options
           if getattr(args, o.dest, None) is not None]
    return out + list(getattr(args, "overrides", ()))


def add_files_argument(parser: argparse.ArgumentParser, help: str = "audio files") -> None:
    """The positional ``files``, once: commands of one name from several tasks share a parser
    (options are merged by ``conflict_handler="resolve"``, which positionals escape)."""
    if not any(action.dest == "files" for action in parser._actions):
        parser.add_argument("files", nargs="+", help=help)
