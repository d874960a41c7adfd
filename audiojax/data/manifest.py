"""The article's manifest format: one clip per line, ``path<TAB>label[<TAB>speaker]``.

Rules (read and written the same way everywhere in audiojax):

* UTF-8 text, no header, one clip per line; ``\\n`` or ``\\r\\n`` line ends.
* Two or three tab-separated columns: ``path``, ``label`` and optionally ``speaker``.
  The label is any non-empty string (the article writes integer ids; words work too; for speech
  recognition it is the transcript). An empty third column means "no speaker".
* ``path`` is relative to the folder holding the manifest, or absolute.
* Blank lines (empty or whitespace only) are allowed and skipped; line numbers in messages are
  physical line numbers (1-based), so they match what an editor shows. There are no comments:
  a line starting with ``#`` is a clip like any other.
* Fields are taken verbatim (no whitespace stripping): ``"yes "`` is a different label from
  ``"yes"``, which the data check then reports as an unknown label.
* Anything else (one column, four or more, empty path, empty label, undecodable bytes) is a
  malformed line: :class:`ManifestError` naming ``file:line``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

COLUMNS = "path<TAB>label[<TAB>speaker]"


class ManifestError(ValueError):
    """A malformed manifest line; the message reads ``FILE:LINE: malformed line: ...``."""

    def __init__(self, manifest: str | os.PathLike, line: int, problem: str):
        self.manifest = str(manifest)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.manifest}:{line}: {problem}")

    def __reduce__(self):  # picklable across grain worker processes
        return (ManifestError, (self.manifest, self.line, self.problem))


@dataclass(frozen=True)
class Entry:
    """One manifest line: ``path`` as written, resolved ``audio_path``, label, speaker ("" if none)."""

    line: int
    path: str
    audio_path: str
    label: str
    speaker: str = ""


def _parse_line(text: str) -> tuple[str, str, str] | str:
    """Returns ``(path, label, speaker)`` or the problem with the line."""
    cols = text.split("\t")
    if len(cols) < 2:
        return f"malformed line: expected {COLUMNS}, got 1 column (no tab)"
    if len(cols) > 3:
        return f"malformed line: expected {COLUMNS}, got {len(cols)} columns"
    path, label = cols[0], cols[1]
    speaker = cols[2] if len(cols) == 3 else ""
    if not path.strip():
        return "malformed line: empty path"
    if not label:
        return "malformed line: empty label"
    return path, label, speaker


def parse_manifest(manifest: str | os.PathLike) -> tuple[list[Entry], list[ManifestError]]:
    """Reads every line, keeping going past malformed ones (for data checks).

    Returns:
      ``(entries, errors)``: the well-formed lines, and one :class:`ManifestError` per malformed
      line, both in file order.

    Raises:
      FileNotFoundError: the manifest itself does not exist.
    """
    manifest = Path(manifest)
    base = manifest.parent
    entries: list[Entry] = []
    errors: list[ManifestError] = []
    with open(manifest, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                errors.append(ManifestError(manifest, number, f"malformed line: not UTF-8 ({e.reason})"))
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            parsed = _parse_line(text)
            if isinstance(parsed, str):
                errors.append(ManifestError(manifest, number, parsed))
                continue
            path, label, speaker = parsed
            p = Path(path)
            audio_path = str(p if p.is_absolute() else base / p)
            entries.append(Entry(number, path, audio_path, label, speaker))
    return entries, errors


def read_manifest(manifest: str | os.PathLike) -> list[Entry]:
    """Reads a manifest; raises :class:`ManifestError` on the first malformed line."""
    entries, errors = parse_manifest(manifest)
    if errors:
        raise errors[0]
    return entries


def write_manifest(
    manifest: str | os.PathLike,
    rows: Iterable[Sequence[str]],
    *,
    relative: bool = True,
) -> int:
    """Writes ``(path, label)`` or ``(path, label, speaker)`` rows; returns the number written.

    With ``relative`` (default), paths under the manifest's folder are written relative to it
    (others stay absolute). Raises ValueError on a field holding a tab or a line break, or an
    empty path or label, so that what is written always reads back the same.
    """
    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    base = manifest.parent.resolve()
    lines = []
    for row in rows:
        if len(row) not in (2, 3):
            raise ValueError(f"a manifest row is (path, label[, speaker]), got {row!r}")
        path, label = str(row[0]), str(row[1])
        speaker = str(row[2]) if len(row) == 3 and row[2] is not None else ""
        if relative and Path(path).is_absolute():
            try:
                path = str(Path(path).resolve().relative_to(base))
            except ValueError:
                pass
        for name, value in (("path", path), ("label", label), ("speaker", speaker)):
            if any(c in value for c in "\t\r\n"):
                raise ValueError(f"manifest {name} {value!r} holds a tab or line break")
        if not path or not label:
            raise ValueError(f"manifest rows need a non-empty path and label, got {row!r}")
        lines.append("\t".join([path, label, speaker]) if speaker else f"{path}\t{label}")
    manifest.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
