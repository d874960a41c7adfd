"""Speaker-verification trial lists: one trial per line, ``enroll<TAB>test<TAB>1|0``.

Paths are relative to the list's folder (absolute paths are kept as they are); ``1`` marks a
target trial (same speaker), ``0`` a non-target one. Blank lines and lines starting with ``#``
are skipped. Reading checks the format only: whether the audio files exist is left to the
evaluator, which reports every missing file at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Trial:
    """One trial: absolute paths of the enrollment and test recordings, and whether they are
    the same speaker."""

    enroll: str
    test: str
    target: bool


def read_trials(path: str | os.PathLike) -> list[Trial]:
    """The trials of the list at ``path``, in file order.

    Raises ValueError ``"{path}: no such trial list"`` when the file is missing, and
    ``"{path}:{line_no}: ..."`` (1-based line numbers) for a line without exactly three
    tab-separated fields, with a label other than 0/1 or with an empty path.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such trial list")
    folder = os.path.dirname(os.path.abspath(path))
    trials = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [field.strip() for field in line.split("\t")]
            if len(fields) != 3:
                raise ValueError(f"{path}:{line_no}: expected 3 tab-separated fields "
                                 f"enroll<TAB>test<TAB>1|0, got {len(fields)}")
            enroll, test, label = fields
            for name, value in (("enroll", enroll), ("test", test)):
                if not value:
                    raise ValueError(f"{path}:{line_no}: empty {name} path")
            if label not in ("0", "1"):
                raise ValueError(f"{path}:{line_no}: label must be 1 (target) or 0 "
                                 f"(non-target), got {label!r}")
            # join keeps an absolute path as it is
            trials.append(Trial(os.path.abspath(os.path.join(folder, enroll)),
                                os.path.abspath(os.path.join(folder, test)), label == "1"))
    return trials


def write_trials(path: str | os.PathLike, trials_rows) -> None:
    """Write ``trials_rows``, an iterable of ``(enroll_rel, test_rel, target)``, as a trial list
    at ``path`` (paths as given: relative ones are read back against ``path``'s folder)."""
    lines = []
    for enroll, test, target in trials_rows:
        enroll, test = str(enroll), str(test)
        # what read_trials would strip, split on or take for a comment would not read back
        bad = [v for v in (enroll, test) if not v or v != v.strip() or any(c in v for c in "\t\r\n")]
        if bad or enroll.startswith("#"):
            raise ValueError(f"trial path {(bad or [enroll])[0]!r} cannot be written to a trial "
                             "list: empty, surrounding spaces, a tab or line break, or a leading '#'")
        lines.append(f"{enroll}\t{test}\t{int(bool(target))}\n")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


def trial_files(trials: list[Trial]) -> list[str]:
    """The distinct files the trials use, enroll and test alike, in order of first use."""
    return list(dict.fromkeys(p for t in trials for p in (t.enroll, t.test)))
