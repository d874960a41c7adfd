"""``audiojax tag`` for a sound event detection run: the events in audio files.

Files of any length, rate and channel count (mixed down, resampled to the run's rate) go
through the model whole, zero-padded to a multiple of the run's window (``data.max_seconds``:
fewer compilations; the padding changes no output within the file, as the CRNN masks it),
then the run's post-processing (``sed.median_seconds``, ``sed.threshold``: ``--sed-threshold``,
``--median-seconds``). One line per event, ``file  onset  offset  label  score`` (the score:
the event's mean frame probability); ``--output FILE.tsv`` writes them as an events file
(``file<TAB>onset_s<TAB>offset_s<TAB>label``, a file alone when nothing was detected, paths
relative to its folder) that ``audiojax evaluate --events`` reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from audiojax.tasks.commands import add_files_argument, add_run_arguments, overrides_from


@dataclasses.dataclass
class Tagged:
    """A file's events ``[(onset_s, offset_s, label, score)]`` in time order and its length."""

    events: list[tuple[float, float, str, float]]
    seconds: float


def options():
    from audiojax.tasks.sed import OPTIONS  # noqa: PLC0415

    return OPTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, options())
    parser.add_argument("--output", default=None,
                        help="write the results to this TSV (detection runs: an events file "
                             "file<TAB>onset_s<TAB>offset_s<TAB>label; clip runs: "
                             "path<TAB>label, the top label)")
    add_files_argument(parser)


def run(args: argparse.Namespace, runs) -> int:
    from audiojax.data.corpora.streams import events_lines  # noqa: PLC0415
    from audiojax.files import atomic_write_text  # noqa: PLC0415

    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, options()))
    status, rows = 0, []
    for path, result in zip(args.files, tag(trained, args.files)):
        if isinstance(result, str):
            print(f"audiojax tag: error: {result}", file=sys.stderr)
            status = 2
            continue
        for onset, offset, label, score in result.events:
            print(f"{path}\t{onset:.3f}\t{offset:.3f}\t{label}\t{score:.3f}")
        if not result.events:
            print(f"{path}\t(no event)")
        rows.append((path, [e[:3] for e in result.events]))
    if args.output:
        folder = Path(args.output).resolve().parent
        rel = [(os.path.relpath(Path(p).resolve(), folder), events) for p, events in rows]
        atomic_write_text(Path(args.output), events_lines(rel))
    return status


def tag(run, files: list[str]) -> list[Tagged | str]:
    """A :class:`Tagged` per file, or the one-line problem of a file that cannot be read."""
    import jax  # noqa: PLC0415 (kept out of the CLI's start-up)
    import numpy as np  # noqa: PLC0415

    from audiojax import audio  # noqa: PLC0415

    task = run.task
    rate = run.config.data.sample_rate
    window = int(round(run.config.data.max_seconds * rate))
    probabilities = jax.jit(task.probabilities)
    results: list = []
    for path in files:
        try:
            y, _ = audio.load(path, sr=rate)
        except audio.AudioError as e:
            results.append(str(e))
            continue
        x = np.zeros((1, max(1, -(-len(y) // window)) * window), np.float32)
        x[0, :len(y)] = y
        probs, valid = probabilities(run.variables, x, np.array([len(y)], np.int32))
        probs = np.asarray(probs[0, :int(valid[0])])
        if not np.isfinite(probs).all():
            raise FloatingPointError(f"{run.workdir / 'checkpoints' / str(run.step)}: the model's "
                                     f"outputs for {path} are not finite (NaN/Inf)")
        smooth = task.smooth(probs)
        events = []
        for onset, offset, label in task.detect(smooth):
            a = int(round(onset / task.frame_seconds))
            b = max(a + 1, int(round(offset / task.frame_seconds)))
            score = float(smooth[a:b, task.labels.index(label)].mean())
            events.append((onset, min(offset, len(y) / rate), label, score))
        results.append(Tagged(sorted(events), len(y) / rate))
    return results
