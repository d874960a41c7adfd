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
from typing import Sequence

import numpy as np
import soundfile as sf

from audiojax.data.manifest import Column
from audiojax.data.sources import BadExampleError, Signal, info_labels


def read_events(path: str | os.PathLike, labels=None) -> dict[str, list[tuple[float, float, str]]]:
    """``{absolute file: [(onset_s, offset_s, label)] in time order}`` in order of first line.

    Raises ValueError ``"{path}: no such events file"`` when it is missing, and
    ``"{path}:{line}: ..."`` for a line with 2, 3 or more than 4 fields, a time that is not a
    finite number, an onset after its offset or below 0, an empty label, a label not in
    ``labels`` (when given), or a file that does not exist.
    """
    out: dict[str, list[tuple[float, float, str]]] = {}
    for n, parsed in event_lines(path, labels):
        if isinstance(parsed, str):
            raise ValueError(f"{path}:{n}: {parsed}")
        file, event = parsed
        out.setdefault(file, [])
        if event is not None:
            out[file].append(event)
    if not out:
        raise ValueError(f"{path}: no recordings listed")
    return {file: sorted(events) for file, events in out.items()}


def event_lines(path: str | os.PathLike, labels=None):
    """``(line number, (absolute file, (onset_s, offset_s, label) or None))`` of each line of
    an events file, or ``(line number, problem)`` for a line :func:`read_events` refuses."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such events file")
    folder = Path(path).resolve().parent
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip() and not line.lstrip().startswith("#"):
                yield n, _parse_line(line, folder, labels)


def _parse_line(line: str, folder: Path, labels):
    fields = [x.strip() for x in line.split("\t")]
    if len(fields) not in (1, 4):
        return (f"expected file<TAB>onset_s<TAB>offset_s<TAB>label or a file alone, got "
                f"{len(fields)} fields")
    file = str((folder / fields[0]).resolve())
    if not os.path.isfile(file):
        return f"no such audio file {fields[0]!r}"
    if len(fields) == 1:
        return file, None
    try:
        onset, offset = float(fields[1]), float(fields[2])
    except ValueError:
        return f"onset and offset must be seconds, got {fields[1]!r} and {fields[2]!r}"
    if not (math.isfinite(onset) and math.isfinite(offset) and 0 <= onset <= offset):
        return f"need 0 <= onset <= offset, got {onset} and {offset}"
    if not fields[3]:
        return "empty label"
    if labels is not None and fields[3] not in labels:
        return f"{fields[3]!r} is not a class of the run"
    return file, (onset, offset, fields[3])


# The columns of an events file, for tasks whose data are events files (Task.columns): sources
# are then opened as :class:`EventsSource` (``events_SPLIT.tsv`` of a corpus).
EVENT_COLUMNS = (Column("audio", "audio", title="file"), Column("onset_s"), Column("offset_s"),
                 Column("label"))
ROLL_SECONDS = 0.01   # the event roll's frame


def event_roll(events, labels: Sequence[str], frames: int, frame_seconds: float = ROLL_SECONDS
               ) -> np.ndarray:
    """``(frames, len(labels))`` float32: 1 where frame ``i`` (``[i, i + 1) * frame_seconds``)
    overlaps an event ``(onset_s, offset_s, label)`` of that label, else 0."""
    roll = np.zeros((frames, len(labels)), np.float32)
    index = {label: i for i, label in enumerate(labels)}
    for onset, offset, label in events:
        first = int(np.floor(onset / frame_seconds))
        last = max(first + 1, int(np.ceil(offset / frame_seconds)))
        roll[max(first, 0):min(last, frames), index[label]] = 1.0
    return roll


class EventsSource:
    """The recordings of an events file as a source: one record per file, its ``roll``
    (:func:`event_roll` at the run's ``sample_rate``: a frame of ``ROLL_SECONDS``, classes in
    the order of ``labels``) as a frame-rate signal, and ``label`` the comma-joined names of
    the classes it holds ("" for a recording of nothing).

    ``labels`` default: those of an ``info.json`` beside the file (the corpora write one), else
    the file's sorted labels; a label of the file outside ``labels`` is an error naming its line.
    """

    def __init__(self, path: str | os.PathLike, labels: Sequence[str] | None = None,
                 sample_rate: int = 16000):
        self.path = str(path)
        if labels is None:
            labels = info_labels(Path(path).parent) or sorted(
                {e[2] for spans in read_events(path).values() for e in spans})
        self.labels = list(labels)
        self.events = read_events(path, self.labels)
        self.files = list(self.events)
        self.sample_rate = None
        self.rate = int(sample_rate)
        self.hop_length = int(round(ROLL_SECONDS * self.rate))
        self.signals = {"roll": Signal(self.hop_length, (len(self.labels),))}
        self._folder = Path(path).resolve().parent

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        file = self.files[index]
        try:
            info = sf.info(file)
        except (RuntimeError, sf.LibsndfileError) as e:
            raise BadExampleError(self.path, file, f"cannot be read: {e}") from None
        samples = int(round(info.frames * self.rate / info.samplerate))
        spans = self.events[file]
        return {"audio": file, "sample_rate": None,
                "label": ",".join(sorted({label for _, _, label in spans})), "speaker": "",
                "id": os.path.relpath(file, self._folder), "origin": f"{self.path}: {file}",
                "roll": event_roll(spans, self.labels, -(-samples // self.hop_length))}

    def events_of(self, record_id: str) -> list[tuple[float, float, str]]:
        """The events of the record whose ``id`` this is, as the file lists them."""
        return self.events[str((self._folder / record_id).resolve())]

    def durations(self) -> list[float]:
        """Seconds of each recording, in order, from its header (0 for one that cannot be
        read: the loader reports it)."""
        out = []
        for file in self.files:
            try:
                out.append(sf.info(file).duration)
            except (RuntimeError, sf.LibsndfileError):
                out.append(0.0)
        return out

    def unique_labels(self) -> list[str]:
        return sorted({label for spans in self.events.values() for _, _, label in spans})

    def __repr__(self) -> str:
        return f"EventsSource({str(Path(self.path).resolve())!r}, n={len(self)}, rate={self.rate})"
