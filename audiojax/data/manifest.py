"""The article's manifest format: one clip per line, ``path<TAB>label[<TAB>speaker]``, and
the same format with other columns that a task declares (:class:`Column`: an enhancement
manifest is ``mixture<TAB>clean``).

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

@dataclass(frozen=True)
class Column:
    """One manifest column: ``name`` is the record key it fills; ``kind`` is ``audio`` (a path,
    relative to the manifest's folder or absolute) or ``text``; ``title`` is what messages call
    it (default: the name). Optional columns come last and may be left out or empty."""

    name: str
    kind: str = "text"
    optional: bool = False
    title: str = ""

    @property
    def heading(self) -> str:
        return self.title or self.name


# The article's clip manifests; a task declares its own columns (``Task.columns``).
CLIP_COLUMNS = (Column("audio", "audio", title="path"), Column("label"),
                Column("speaker", optional=True))


def describe(columns: Sequence[Column]) -> str:
    """``path<TAB>label[<TAB>speaker]``: the columns as a line reads them."""
    required = "<TAB>".join(c.heading for c in columns if not c.optional)
    optional = "".join(f"[<TAB>{c.heading}" for c in columns if c.optional)
    return required + optional + "]" * sum(c.optional for c in columns)


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
    """One manifest line: ``values`` as written per column name (optional ones "" when
    absent) and ``paths``, the audio columns resolved against the manifest's folder."""

    line: int
    values: dict
    paths: dict

    @property
    def path(self) -> str:
        return self.values["audio"]

    @property
    def audio_path(self) -> str:
        return self.paths["audio"]

    @property
    def label(self) -> str:
        return self.values.get("label", "")

    @property
    def speaker(self) -> str:
        return self.values.get("speaker", "")


def _parse_line(text: str, columns: Sequence[Column]) -> dict | str:
    """Returns ``{column name: value}`` or the problem with the line."""
    cols = text.split("\t")
    required = sum(not c.optional for c in columns)
    if not required <= len(cols) <= len(columns):
        got = "1 column (no tab)" if len(cols) == 1 else f"{len(cols)} columns"
        return f"malformed line: expected {describe(columns)}, got {got}"
    values = {}
    for column, value in zip(columns, cols + [""] * (len(columns) - len(cols))):
        empty = not value.strip() if column.kind == "audio" else not value
        if empty and not column.optional:
            return f"malformed line: empty {column.heading}"
        values[column.name] = value
    return values


def parse_manifest(manifest: str | os.PathLike, columns: Sequence[Column] = CLIP_COLUMNS
                   ) -> tuple[list[Entry], list[ManifestError]]:
    """Reads every line, keeping going past malformed ones (for data checks).

    Returns:
      ``(entries, errors)``: the well-formed lines, and one :class:`ManifestError` per malformed
      line, both in file order.

    Raises:
      FileNotFoundError: the manifest itself does not exist.
    """
    manifest = Path(manifest)
    if manifest.is_dir():
        raise ValueError(f"{manifest}: a folder, not a manifest file")
    base = manifest.parent
    entries: list[Entry] = []
    errors: list[ManifestError] = []
    with open(manifest, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                # A byte-order mark (some editors write one) is not part of the first path.
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                errors.append(ManifestError(manifest, number, f"malformed line: not UTF-8 ({e.reason})"))
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            parsed = _parse_line(text, columns)
            if isinstance(parsed, str):
                errors.append(ManifestError(manifest, number, parsed))
                continue
            paths = {c.name: _resolve(base, parsed[c.name]) for c in columns
                     if c.kind == "audio" and parsed[c.name]}
            entries.append(Entry(number, parsed, paths))
    return entries, errors


def _resolve(base: Path, path: str) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else base / p)


def read_manifest(manifest: str | os.PathLike, columns: Sequence[Column] = CLIP_COLUMNS
                  ) -> list[Entry]:
    """Reads a manifest; raises :class:`ManifestError` on the first malformed line."""
    entries, errors = parse_manifest(manifest, columns)
    if errors:
        raise errors[0]
    return entries


def write_manifest(
    manifest: str | os.PathLike,
    rows: Iterable[Sequence[str]],
    *,
    columns: Sequence[Column] = CLIP_COLUMNS,
    relative: bool = True,
) -> int:
    """Writes rows of ``columns`` values (``(path, label)`` or ``(path, label, speaker)`` by
    default; trailing optional values may be left out, None or ""); returns the number written.

    With ``relative`` (default), audio paths under the manifest's folder are written relative
    to it (others stay absolute). Raises ValueError on a field holding a tab or a line break,
    or an empty required field, so that what is written always reads back the same.
    """
    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    base = manifest.parent.resolve()
    required = sum(not c.optional for c in columns)
    lines = []
    for row in rows:
        if not required <= len(row) <= len(columns):
            raise ValueError(f"a manifest row is ({describe(columns).replace('<TAB>', ', ')}), "
                             f"got {row!r}")
        values = ["" if v is None else str(v) for v in row]
        for i, (column, value) in enumerate(zip(columns, values)):
            if column.kind == "audio" and relative and Path(value).is_absolute():
                try:
                    values[i] = value = str(Path(value).resolve().relative_to(base))
                except ValueError:
                    pass
            if any(c in value for c in "\t\r\n"):
                raise ValueError(f"manifest {column.heading} {value!r} holds a tab or line break")
            if not value and not column.optional:
                raise ValueError(f"manifest rows need a non-empty {column.heading}, got {row!r}")
        while len(values) > required and not values[-1]:
            values.pop()
        lines.append("\t".join(values))
    manifest.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
