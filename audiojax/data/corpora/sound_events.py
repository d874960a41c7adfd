"""The ``events`` corpus (ESC-50 style): 5 s clips of recorded sound effects from Debian ``main``
packages (``make sounds``), one label each, in 5 folds by source.

What goes in is the checked-in table ``sound_events.tsv`` (``package<TAB>source<TAB>path<TAB>label``,
reviewed by file name; files with speech, voice lines or sung vocals were left out of it), and
each source's package, licence and fold come from ``sound_event_sources.tsv``. A *source* (a
package, or one drum kit of a kit package) sits in one fold only, and every label is in at least
two folds, so a test fold's recordings come from sources training never heard.

A file becomes one clip (``crops`` of them when longer than 5 s, from distinct 5 s segments): its
silent ends trimmed, shorter sounds placed at a random offset in 5 s of silence, at a random level
(peak -20..-1 dBFS). Layout under the corpus folder:

- ``wav/foldK/NNNNNN.wav``: 16-bit PCM, 16 kHz mono, 5 s;
- ``foldK.tsv``: ``path<TAB>label<TAB>source`` of fold K (the third column groups results by source);
- ``foldK/{train,validation,test}.tsv``: fold K's cross-validation split (test: fold K,
  validation: the next fold, train: the other three), a corpus version (``events/small/fold3``);
  ``train.tsv`` etc. at the top are fold 1's;
- ``clips.jsonl``: each clip's file, package, source, fold, crop and gain; ``info.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiojax.data.corpora.acoustics import write_wav

SAMPLE_RATE = 16000
CLIP_SECONDS = 5.0
FOLDS = 5
FORMAT_VERSION = 1
TABLE = Path(__file__).with_name("sound_events.tsv")
SOURCE_TABLE = Path(__file__).with_name("sound_event_sources.tsv")
# Environmental and mechanical sounds, then a drum kit's pieces.
LABELS = ("airplane", "bell", "bird", "camera_shutter", "cow", "dog", "door", "engine",
          "explosion", "fire_crackling", "footsteps", "gunshot", "helicopter", "keyboard_typing",
          "rain", "splash", "thunder", "tyre_skid", "vehicle_crash", "water", "wind",
          "cowbell", "cymbal", "hand_clap", "hihat", "kick_drum", "snare_drum", "tom")
MIN_SECONDS = 0.02     # a file shorter than this once its silent ends are trimmed is refused
PEAK_DB = (-20.0, -1.0)


@dataclasses.dataclass(frozen=True)
class EventsSpec:
    per_source_label: int | None  # files of one source with one label (None: every file)
    crops: int                    # clips from a file longer than 5 s (distinct segments)


SIZES = {
    "tiny": EventsSpec(per_source_label=1, crops=1),
    "small": EventsSpec(per_source_label=10, crops=1),
    "full": EventsSpec(per_source_label=None, crops=3),
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of the label table (``line``: its line number, for messages)."""

    package: str
    source: str
    path: str
    label: str
    line: int


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    package: str
    licence: str
    fold: int


def _rows(path: Path, columns: int):
    """``(line number, fields)`` of a TSV's data lines (``#`` comments and blanks skipped);
    a line of another column count is a ValueError naming ``path:line``."""
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise ValueError(f"{path}:{number}: expected {columns} tab-separated columns, "
                             f"got {len(fields)}")
        yield number, fields


def read_table(path: Path = TABLE, labels=None) -> list[Entry]:
    """The label table's rows. Raises ValueError naming ``path:line`` for a label outside
    ``labels`` (default :data:`LABELS`), a relative path or a file listed twice."""
    labels = LABELS if labels is None else tuple(labels)
    entries, seen = [], {}
    for number, (package, source, file, label) in _rows(path, 4):
        if label not in labels:
            raise ValueError(f"{path}:{number}: {file}: label {label!r} is not one of the corpus's "
                             f"labels ({', '.join(labels)})")
        if not os.path.isabs(file):
            raise ValueError(f"{path}:{number}: {file}: give the absolute path the package installs")
        if file in seen:
            raise ValueError(f"{path}:{number}: {file} is listed already at line {seen[file]}")
        seen[file] = number
        entries.append(Entry(package, source, file, label, number))
    return entries


def read_sources(path: Path = SOURCE_TABLE) -> dict[str, SourceInfo]:
    """``{source: SourceInfo}`` of the source table; a fold outside 1..5 or a source listed
    twice is a ValueError naming ``path:line``."""
    out = {}
    for number, (source, package, licence, fold) in _rows(path, 4):
        if not fold.isdigit() or not 1 <= int(fold) <= FOLDS:
            raise ValueError(f"{path}:{number}: fold {fold!r} of {source}: must be 1..{FOLDS}")
        if source in out:
            raise ValueError(f"{path}:{number}: source {source} is listed twice")
        out[source] = SourceInfo(package, licence, int(fold))
    return out


def check_tables(entries: list[Entry], sources: dict[str, SourceInfo],
                 table: Path = TABLE) -> None:
    """Refuses (ValueError) a row whose source is not in the source table or belongs to another
    package, and a label heard in fewer than two folds (its test fold would have no other
    source to learn it from)."""
    folds: dict[str, set[int]] = {}
    for e in entries:
        info = sources.get(e.source)
        if info is None:
            raise ValueError(f"{table}:{e.line}: source {e.source!r} is not in the source table")
        if info.package != e.package:
            raise ValueError(f"{table}:{e.line}: source {e.source!r} belongs to package "
                             f"{info.package}, not {e.package}")
        folds.setdefault(e.label, set()).add(info.fold)
    thin = sorted(label for label, fs in folds.items() if len(fs) < 2)
    if thin:
        raise ValueError(f"{table}: labels heard in one fold only: {', '.join(thin)}")


def select(entries: list[Entry], spec: EventsSpec) -> list[Entry]:
    """The rows a size takes: per (source, label), every row or ``per_source_label`` of them
    spread evenly over the sorted paths (the same for every build)."""
    if spec.per_source_label is None:
        return list(entries)
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.source, e.label), []).append(e)
    out = []
    for group in groups.values():
        group = sorted(group, key=lambda e: e.path)
        k = spec.per_source_label
        idx = np.unique(np.linspace(0, len(group) - 1, min(k, len(group))).round().astype(int))
        out += [group[i] for i in idx]
    return sorted(out, key=lambda e: e.line)


def _rng(seed: int, path: str) -> np.random.Generator:
    """A file's own generator: the build does not depend on which other files it takes."""
    digest = hashlib.sha256(f"{seed}:{path}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def load_sound(path: str, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A file as mono float32 at ``sr`` with its silent ends (below -60 dB of its peak) cut."""
    y, rate = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if rate != sr:
        y = soxr.resample(y, rate, sr).astype(np.float32)
    loud = np.flatnonzero(np.abs(y) > 1e-3 * (np.abs(y).max() + 1e-12))
    return y[loud[0]:loud[-1] + 1] if loud.size else y[:0]


def clips_of(y: np.ndarray, rng: np.random.Generator, crops: int,
             sr: int = SAMPLE_RATE) -> list[tuple[np.ndarray, dict]]:
    """``(clip (5 s,), facts)`` of a sound ``y``: a short sound at a random offset in silence,
    a long one cut into up to ``crops`` distinct random 5 s segments; each at a random peak
    level in :data:`PEAK_DB`. ``facts``: offset_s (of the sound in the clip, or of the crop in
    the sound), peak_db."""
    n = int(round(CLIP_SECONDS * sr))
    out = []
    if y.size <= n:
        pieces = [(y, int(rng.integers(0, n - y.size + 1)), 0)]
    else:
        segments = y.size // n
        starts = sorted(rng.choice(segments, size=min(crops, segments), replace=False))
        pieces = [(y[s * n:(s + 1) * n], 0, s * n) for s in starts]
    for piece, at, start in pieces:
        clip = np.zeros(n, np.float32)
        clip[at:at + piece.size] = piece
        peak_db = float(rng.uniform(*PEAK_DB))
        clip *= 10 ** (peak_db / 20) / (np.abs(clip).max() + 1e-12)
        out.append((clip, {"offset_s": round((at or start) / sr, 6), "peak_db": round(peak_db, 2)}))
    return out


def fold_splits(fold: int) -> dict[str, list[int]]:
    """The folds of fold ``fold``'s cross-validation splits: test it, validation the next one,
    train the other three."""
    validation = fold % FOLDS + 1
    return {"train": [f for f in range(1, FOLDS + 1) if f not in (fold, validation)],
            "validation": [validation], "test": [fold]}


def load_entries(entries: list[Entry], table: Path = TABLE):
    """``(entry, sound)`` of each row in turn (:func:`load_sound`). Raises ValueError naming
    ``table:line`` for a file that cannot be read, holds less than :data:`MIN_SECONDS` of
    sound, or holds the same sound as an earlier row."""
    heard = {}
    for e in entries:
        try:
            y = load_sound(e.path)
        except (RuntimeError, sf.LibsndfileError) as err:
            raise ValueError(f"{table}:{e.line}: {e.path} cannot be read: {err}") from None
        if y.size < MIN_SECONDS * SAMPLE_RATE:
            raise ValueError(f"{table}:{e.line}: {e.path} holds {y.size / SAMPLE_RATE:.3f} s of "
                             f"sound, less than {MIN_SECONDS} s")
        # Packages ship the same sample under other names (a kit copied into another): one
        # copy in two folds would put a test recording in training.
        digest = hashlib.sha1(np.round(y * 2 ** 15).astype(np.int16).tobytes()).hexdigest()
        if digest in heard:
            raise ValueError(f"{table}:{e.line}: {e.path} holds the same sound as line "
                             f"{heard[digest]}; keep one of them")
        heard[digest] = e.line
        yield e, y


def check_installed(entries: list[Entry], table: Path = TABLE) -> None:
    """FileNotFoundError naming the packages of ``entries`` whose files are missing."""
    missing = sorted({e.package for e in entries if not os.path.isfile(e.path)})
    if missing:
        raise FileNotFoundError(f"{table}: files of packages not installed here: "
                                f"{', '.join(missing)} (install them: make sounds)")


def write_corpus(size: str, seed: int, root: Path, progress: bool = True,
                 table: Path = TABLE, source_table: Path = SOURCE_TABLE,
                 labels=None) -> dict:
    """Builds the corpus into the (empty) folder ``root``; returns the info dict.

    Raises:
      FileNotFoundError: a table file is not installed (naming its package: ``make sounds``).
      ValueError: a table row is wrong (``table:line``), or a file holds no sound.
    """
    t0 = time.time()
    labels = LABELS if labels is None else tuple(labels)
    sources = read_sources(source_table)
    entries = read_table(table, labels)
    check_tables(entries, sources, table)
    chosen = select(entries, SIZES[size])
    check_installed(chosen, table)
    rows = []
    for i, (e, y) in enumerate(load_entries(chosen, table)):
        fold = sources[e.source].fold
        for clip, facts in clips_of(y, _rng(seed, e.path), SIZES[size].crops):
            rel = f"wav/fold{fold}/{len(rows):06d}.wav"
            write_wav(root / rel, clip, SAMPLE_RATE)
            rows.append({"path": rel, "label": e.label, "source": e.source, "package": e.package,
                         "file": e.path, "fold": fold, "table_line": e.line,
                         "sound_seconds": round(y.size / SAMPLE_RATE, 3), **facts})
        if progress and (i + 1) % 100 == 0:
            print(f"events/{size}: {i + 1}/{len(chosen)} files", file=sys.stderr)
    _write_manifests(root, rows, labels)
    with open(root / "clips.jsonl", "w") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    return _info(size, seed, root, rows, sources, labels, time.time() - t0)


def _line(row: dict, prefix: str = "") -> str:
    return f"{prefix}{row['path']}\t{row['label']}\t{row['source']}\n"


def _write_manifests(root: Path, rows: list[dict], labels) -> None:
    for fold in range(1, FOLDS + 1):
        (root / f"fold{fold}.tsv").write_text(
            "".join(_line(r) for r in rows if r["fold"] == fold))
        version = root / f"fold{fold}"
        version.mkdir()
        # The version's labels, so that every fold's run has the same class ids.
        (version / "info.json").write_text(json.dumps({"labels": list(labels), "fold": fold,
                                                       "folds": fold_splits(fold)}) + "\n")
        for split, folds in fold_splits(fold).items():
            text = "".join(_line(r, "../") for r in rows if r["fold"] in folds)
            (version / f"{split}.tsv").write_text(text)
            if fold == 1:
                (root / f"{split}.tsv").write_text("".join(_line(r) for r in rows
                                                           if r["fold"] in folds))


def _info(size, seed, root, rows, sources, labels, seconds) -> dict:
    def summary(rs):
        return {"clips": len(rs), "speakers": len({r["source"] for r in rs}),
                "hours": len(rs) * CLIP_SECONDS / 3600.0, "engines": [],
                "sources": sorted({r["source"] for r in rs}),
                "labels": {label: sum(r["label"] == label for r in rs) for label in labels}}

    files: dict[str, set[str]] = {}
    for r in rows:
        files.setdefault(r["package"], set()).add(r["file"])
    return {
        "name": "events", "size": size, "seed": seed, "sample_rate": SAMPLE_RATE,
        "task": "sound event classification", "clip_seconds": CLIP_SECONDS, "grouped_by": "sources",
        "labels": list(labels), "transcript_alphabet": None,
        "splits": {split: summary([r for r in rows if r["fold"] in folds])
                   for split, folds in fold_splits(1).items()},
        "folds": {str(k): summary([r for r in rows if r["fold"] == k]) for k in range(1, FOLDS + 1)},
        "packages": packages_info(files, sources),
        **build_facts(FORMAT_VERSION, fingerprint(root, size, seed), seconds),
    }


def build_facts(format_version: int, fingerprint: str, seconds: float) -> dict:
    """The keys every sound corpus's info.json ends with: versions, fingerprint, build time."""
    return {"held_out_engine": None,
            "versions": {"format": format_version, "python": sys.version.split()[0],
                         "numpy": np.__version__},
            "fingerprint": fingerprint, "build_seconds": round(seconds, 2), "complete": True}


def packages_info(files: dict[str, set[str]], sources: dict[str, SourceInfo]) -> dict:
    """``{package: {"licence": [...], "files": count}}`` of the files a build used, by package
    (the corpus summary's list of packages and licences)."""
    return {p: {"licence": sorted({s.licence for s in sources.values() if s.package == p}),
                "files": len(fs)} for p, fs in sorted(files.items())}


def fingerprint(root: Path, size: str, seed: int) -> str:
    """Identifies a build: its fold manifests, size, seed and format version."""
    h = hashlib.sha256(json.dumps(["events", size, seed, FORMAT_VERSION]).encode())
    for fold in range(1, FOLDS + 1):
        h.update((root / f"fold{fold}.tsv").read_bytes())
    return h.hexdigest()[:16]
