"""Decoded records: a split's waveforms decoded once (resampled to the run's rate, mixed to
mono, 16-bit), so that loaders read memory instead of decoding a WAV or Opus file per example.

    folder = decoded.ensure(source, sample_rate=16000, data_dir=DIR)  # built on first use
    fast = decoded.DecodedSource(source, folder)   # same records, audio as int16 arrays

A folder ``DIR/decoded/KEY`` (KEY from the source's ``repr`` and the rate) holds, for the
audio and for each waveform signal of the source (a clean target, the sources of a mixture),
one flat memory-mapped ``NAME.int16`` of every record's samples end to end, with
``index.npz`` (``starts``, ``lengths``: int64 ``(records,)``, in samples) and ``meta.json``
(the rate, the source it was made from and a fingerprint of its files: paths, sizes and
modification times). A folder whose fingerprint no longer matches its source (a rebuilt
corpus, an edited manifest) is made again.

What a loader reads is what decoding would give, rounded to 16 bits: for 16-bit files at the
run's rate (every corpus built here), exactly the same samples. A record that does not decode
is kept as its source gives it (its length 0 here, its message in ``meta.json``), so the
pipeline meets it as before: an error naming it, or, with ``on_bad='skip'``, a skipped row.

:class:`DecodedSource` keeps its source's ``repr``, so a run's data-iterator state restores
alike with and without the decoded copy (``data.cache`` may change when a run resumes).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from audiojax.data.sources import BadExampleError, Signal, decode_record
from audiojax.progress import progress

FORMAT = 1
AUDIO = "audio"


def waveform_keys(source) -> list[str]:
    """The record keys held as flat arrays: ``audio`` and the source's waveform signals."""
    signals: Mapping[str, Signal] = getattr(source, "signals", {})
    return [AUDIO, *(name for name, s in signals.items() if s.waveform)]


def folder_for(source, sample_rate: int, data_dir: str | os.PathLike) -> Path:
    """Where the decoded copy of ``source`` at ``sample_rate`` lives under ``data_dir``: named
    by the source's ``repr`` and its records' ids (two subsets of one manifest get two)."""
    ids = hashlib.sha1("\n".join(str(source[i]["id"]) for i in range(len(source))).encode())
    key = hashlib.sha1(f"{source!r}|{ids.hexdigest()}|{int(sample_rate)}|{FORMAT}".encode())
    return Path(data_dir) / "decoded" / key.hexdigest()[:16]


def fingerprint(source) -> str:
    """A hash of what the source's records are made of: each waveform's path with its size
    and modification time (an array's bytes), and the record's id, in order."""
    h = hashlib.sha1()
    keys = waveform_keys(source)
    for i in range(len(source)):
        record = source[i]
        h.update(str(record["id"]).encode())
        for key in keys:
            value = record[key]
            if isinstance(value, (str, os.PathLike)):
                try:
                    st = os.stat(value)
                    h.update(f"{os.fspath(value)}|{st.st_size}|{st.st_mtime_ns}".encode())
                except OSError:
                    h.update(f"{os.fspath(value)}|missing".encode())
            else:
                h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def _to_int16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)


def _current(folder: Path, fp: str, sample_rate: int) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("format") == FORMAT and meta.get("fingerprint") == fp
            and meta.get("sample_rate") == int(sample_rate))


def ensure(source, *, sample_rate: int, data_dir: str | os.PathLike, on_bad: str = "error",
           quiet: bool = False) -> Path:
    """The folder of ``source``'s decoded copy at ``sample_rate``, made (or made again, when
    its files changed) first. Several processes may ask at once: one makes it, under a lock,
    while the others wait.

    Raises:
      BadExampleError: with ``on_bad='error'``, the first record that does not decode (its
        file and line), as training would have met it.
    """
    folder = folder_for(source, sample_rate, data_dir)
    fp = fingerprint(source)
    if _current(folder, fp, sample_rate):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits for another process making it
        if not _current(folder, fp, sample_rate):
            for stale in folder.parent.glob(f".{folder.name}.*.tmp"):  # of a killed writer
                shutil.rmtree(stale, ignore_errors=True)
            _write(source, sample_rate, folder, fp, on_bad, quiet)
    return folder


def _write(source, sample_rate: int, folder: Path, fp: str, on_bad: str, quiet: bool) -> None:
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    keys = waveform_keys(source)
    starts = np.zeros(len(source), np.int64)
    lengths = np.zeros(len(source), np.int64)
    errors: dict[str, str] = {}
    files = {key: open(tmp / f"{key}.int16", "wb") for key in keys}
    position = 0
    try:
        for i in progress(range(len(source)), desc=f"decoding {len(source)} records once",
                          unit="rec", disable=quiet):
            record = source[i]
            try:
                waves = [decode_record(record, sample_rate, key=key) for key in keys]
                for key, w in zip(keys[1:], waves[1:]):  # the host pipeline's message
                    if len(w) != len(waves[0]):
                        raise BadExampleError(record["origin"], record["id"],
                                              f"{key}: {len(w)} samples, the audio has "
                                              f"{len(waves[0])}")
            except BadExampleError as e:
                if on_bad == "error":
                    raise
                errors[str(i)] = e.problem
                starts[i] = position
                continue
            for key, w in zip(keys, waves):
                files[key].write(_to_int16(w).tobytes())
            starts[i], lengths[i] = position, len(waves[0])
            position += len(waves[0])
    except BaseException:
        for f in files.values():
            f.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for f in files.values():
        f.close()
    np.savez(tmp / "index.npz", starts=starts, lengths=lengths)
    meta = {"format": FORMAT, "source": repr(source), "sample_rate": int(sample_rate),
            "fingerprint": fp, "records": len(source), "samples": int(position),
            "keys": keys, "errors": errors}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


class Decoded:
    """A decoded folder opened: ``arrays[key]`` flat int16 memory maps, ``starts`` and
    ``lengths`` per record (samples), ``errors`` (record index -> what is wrong with it)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        index = np.load(self.folder / "index.npz")
        self.starts, self.lengths = index["starts"], index["lengths"]
        self.errors = {int(k): v for k, v in self.meta["errors"].items()}
        self.sample_rate = int(self.meta["sample_rate"])
        self.arrays = {key: np.memmap(self.folder / f"{key}.int16", np.int16, mode="r",
                                      shape=(int(self.meta["samples"]),))
                       if self.meta["samples"] else np.zeros(0, np.int16)
                       for key in self.meta["keys"]}

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())

    def waveform(self, index: int, key: str = AUDIO) -> np.ndarray:
        s = int(self.starts[index])
        return self.arrays[key][s:s + int(self.lengths[index])]


class DecodedSource:
    """``source``'s records with every waveform read from its decoded copy in ``folder`` (an
    int16 array at the copy's rate) instead of a file; a record that did not decode is given
    as the source gives it. The same ``labels``, ``signals`` and ``repr`` as ``source``."""

    in_memory = True  # reads are memory copies: loaders read them without threads

    def __init__(self, source, folder: str | os.PathLike):
        self.source, self.folder = source, Path(folder)
        self.labels = getattr(source, "labels", None)
        self.signals = getattr(source, "signals", {})
        self.malformed = getattr(source, "malformed", [])
        self._decoded: Decoded | None = None
        self.fingerprint = None
        if len(self.decoded.starts) != len(source):
            raise ValueError(f"{folder}: {len(self.decoded.starts)} decoded records, the source "
                             f"has {len(source)}")
        self.fingerprint = self.decoded.meta["fingerprint"]
        self.sample_rate = self.decoded.sample_rate

    @property
    def decoded(self) -> Decoded:
        if self._decoded is None:  # opened in each process (grain workers get a pickled copy)
            self._decoded = Decoded(self.folder)
            if self.fingerprint not in (None, self._decoded.meta["fingerprint"]):
                raise RuntimeError(f"{self.folder}: the decoded copy was made again (its files "
                                   f"changed) while this run read it; start the run again")
        return self._decoded

    def __getstate__(self):
        return {**self.__dict__, "_decoded": None}

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.source[index]
        d = self.decoded
        if int(index) in d.errors:
            return record
        waves = {key: d.waveform(index, key) for key in d.arrays}
        return {**record, **waves, "sample_rate": d.sample_rate}

    def unique_labels(self) -> list[str]:
        return self.source.unique_labels()

    def __repr__(self) -> str:
        return repr(self.source)
