"""Events files: what happens when in long recordings, one event per line,
``file<TAB>onset_s<TAB>offset_s<TAB>label`` (a keyword, a sound event's class).

A line holding a file alone lists a recording in which nothing happens (it counts toward the
false alarms). Paths are relative to the events file's folder (absolute paths are kept as they
are); blank lines and lines starting with ``#`` are skipped. The ``streams`` corpus writes one
per split (``events_test.tsv``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def read_events(path: str | os.PathLike, labels=None) -> dict[str, list[tuple[float, float, str]]]:
    """``{absolute file: [(onset_s, offset_s, label)] in time order}`` in order of first line.

    Raises ValueError ``"{path}: no such events file"`` when it is missing, and
    ``"{path}:{line}: ..."`` for a line with 2, 3 or more than 4 fields, a time that is not a
    finite number, an onset after its offset or below 0, an empty label, a label not in
    ``labels`` (when given), or a file that does not exist.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such events file")
    folder = Path(path).resolve().parent
    out: dict[str, list[tuple[float, float, str]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [x.strip() for x in line.split("\t")]
            if len(fields) not in (1, 4):
                raise ValueError(f"{path}:{n}: expected file<TAB>onset_s<TAB>offset_s<TAB>label "
                                 f"or a file alone, got {len(fields)} fields")
            file = str((folder / fields[0]).resolve())
            if not os.path.isfile(file):
                raise ValueError(f"{path}:{n}: no such audio file {fields[0]!r}")
            events = out.setdefault(file, [])
            if len(fields) == 1:
                continue
            try:
                onset, offset = float(fields[1]), float(fields[2])
            except ValueError:
                raise ValueError(f"{path}:{n}: onset and offset must be seconds, got "
                                 f"{fields[1]!r} and {fields[2]!r}") from None
            if not (math.isfinite(onset) and math.isfinite(offset) and 0 <= onset <= offset):
                raise ValueError(f"{path}:{n}: need 0 <= onset <= offset, got {onset} and {offset}")
            if not fields[3]:
                raise ValueError(f"{path}:{n}: empty label")
            if labels is not None and fields[3] not in labels:
                raise ValueError(f"{path}:{n}: {fields[3]!r} is not a class of the run")
            events.append((onset, offset, fields[3]))
    if not out:
        raise ValueError(f"{path}: no recordings listed")
    return {file: sorted(events) for file, events in out.items()}
