"""Data checks: decode every line of a manifest and report each problem with its line and path.

``audiojax data check MANIFEST`` is :func:`run_check`: it prints one line per problem,

    train.tsv:12: wav/a.wav: truncated: data chunk announces 32000 bytes, file holds 1200
    train.tsv:13: malformed line: expected path<TAB>label[<TAB>speaker], got 1 column (no tab)

and returns a non-zero exit status if there is any. Training with ``on_bad='error'`` stops with
the same wording (see :mod:`audiojax.data.pipeline`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from audiojax import audio as audio_lib
from audiojax.data.manifest import CLIP_COLUMNS, Column, parse_manifest
from audiojax.data.events import EVENT_COLUMNS, event_lines
from audiojax.data.sources import info_labels

__all__ = ["Problem", "check_manifest", "run_check"]


@dataclass(frozen=True)
class Problem:
    """One problem: ``str()`` reads ``MANIFEST:LINE: PATH: MESSAGE`` (no PATH for a bad line)."""

    manifest: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.manifest}:{self.line}" if self.line else self.manifest  # 0: the whole file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


def check_manifest(
    manifest: str | os.PathLike,
    labels: Sequence[str] | None = None,
    expect_channels: int | None = 1,
    progress: bool = True,
    columns: Sequence[Column] | None = None,
) -> list[Problem]:
    """Decodes every clip of ``manifest`` (every audio column of ``columns``, default the clip
    manifest's) and returns its problems in line order.

    Problems: malformed line, missing file, empty file, corrupt/undecodable audio, truncated
    audio, empty clip (0 samples), NaN/Inf samples, wrong channel count (unless
    ``expect_channels`` is None), unknown label (only when ``labels`` is given), and for
    manifests with several audio columns, files of one line that differ in rate or length.

    Raises:
      FileNotFoundError: the manifest itself does not exist.
    """
    name = str(manifest)
    columns = CLIP_COLUMNS if columns is None else columns
    if tuple(columns) == EVENT_COLUMNS:
        return check_events(manifest, labels, expect_channels)
    entries, errors = parse_manifest(manifest, columns)
    problems = [Problem(name, e.line, "", e.problem) for e in errors]
    known = set(labels) if labels is not None else None
    iterator = entries
    if progress:
        from audiojax.progress import progress as progress_bar  # noqa: PLC0415

        iterator = progress_bar(entries, desc=f"checking {Path(name).name}", unit="clip")
    for entry in iterator:
        def add(message: str, column: str = "audio") -> None:
            shown = entry.path if column == "audio" else f"{column} {entry.values[column]}"
            problems.append(Problem(name, entry.line, shown, message))

        if known is not None and entry.label not in known:
            add(f"unknown label {entry.label!r} (not among the {len(known)} labels)")
        first = None  # (column, rate, frames) of the line's first audio file
        for column, path in entry.paths.items():
            header, found = _decode(path, expect_channels)
            for message in found:
                add(message, column)
            if header is None:
                continue
            if first is None:
                first = (column, header.samplerate, header.frames)
            elif (header.samplerate, header.frames) != first[1:]:
                add(f"{header.frames} samples at {header.samplerate} Hz, but {first[0]} has "
                    f"{first[2]} at {first[1]} Hz", column)
    if not entries and not errors:
        problems.append(Problem(name, 0, "", "no clips: the manifest is empty"))
    problems.sort(key=lambda p: p.line)
    return problems


def _decode(path: str, expect_channels: int | None):
    """``(header or None when undecodable, problems)`` of one audio file."""
    try:
        header = audio_lib.info(path)
        problems = ([] if expect_channels is None or header.channels == expect_channels else
                    [f"wrong channel count: {header.channels} channels, expected {expect_channels}"])
        audio_lib.load(path, sr=None, mono=False)
    except audio_lib.AudioError as e:
        return None, [e.problem]
    return header, problems


def check_events(path: str | os.PathLike, labels: Sequence[str] | None = None,
                 expect_channels: int | None = 1) -> list[Problem]:
    """The problems of an events file (``file<TAB>onset_s<TAB>offset_s<TAB>label``, a file
    alone for a recording of nothing): each line :func:`~audiojax.data.events.read_events`
    refuses, an event past its recording's end, and each recording that does not decode (as
    :func:`check_manifest` decodes a clip), at the line that first lists it.

    Raises:
      ValueError: the file itself does not exist.
    """
    name, problems, first_line, ends = str(path), [], {}, {}
    for n, parsed in event_lines(path, labels):
        if isinstance(parsed, str):
            problems.append(Problem(name, n, "", parsed))
            continue
        file, event = parsed
        first_line.setdefault(file, n)
        if event is not None:
            ends.setdefault(file, []).append((n, event))
    for file, n in first_line.items():
        header, found = _decode(file, expect_channels)
        problems += [Problem(name, n, file, message) for message in found]
        seconds = header.frames / header.samplerate if header is not None else float("inf")
        problems += [Problem(name, line, file, f"event ends at {offset:g} s, after the recording's "
                                               f"{seconds:.3f} s")
                     for line, (_, offset, _) in ends.get(file, []) if offset > seconds + 1e-3]
    if not first_line and not problems:
        problems.append(Problem(name, 0, "", "no recordings listed"))
    return sorted(problems, key=lambda p: p.line)


def run_check(
    manifest: str | os.PathLike,
    labels: Sequence[str] | None = None,
    expect_channels: int | None = 1,
    progress: bool = True,
    out: TextIO | None = None,
    columns: Sequence[Column] | None = None,
) -> int:
    """The ``audiojax data check MANIFEST`` command: prints each problem (to ``out``, default
    stdout) and a summary (stderr); returns the exit status, 0 when clean, 1 otherwise.

    ``labels`` None: the ``labels`` of an ``info.json`` next to the manifest when there is one
    (the local corpora write it), else labels are not checked.
    """
    out = out or sys.stdout
    if labels is None:
        labels = info_labels(Path(manifest).parent)
    try:
        problems = check_manifest(manifest, labels, expect_channels, progress, columns)
    except OSError as e:
        print(f"{manifest}: cannot read manifest ({e.strerror or e})", file=out)
        return 2
    for p in problems:
        print(p, file=out)
    lines = len({p.line for p in problems})
    if problems:
        print(f"{manifest}: {len(problems)} problem(s) on {lines} line(s)", file=sys.stderr)
        return 1
    print(f"{manifest}: OK", file=sys.stderr)
    return 0
