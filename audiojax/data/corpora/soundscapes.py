"""The ``soundscapes`` corpus (DCASE task 4 style detection): 10 s scenes with 1-5 sound events
of the ``events`` labels at random times over a background, and their strong labels.

The events are the recorded sounds of the ``events`` corpus's tables
(:mod:`~audiojax.data.corpora.sound_events`, ``make sounds``), split by its folds as its fold-1
version is (test: fold 1, validation: fold 2, train: folds 3-5), so the test scenes hold only
recordings of sources that training never heard. Layout under the corpus folder:

- ``scenes/SPLIT/NNNNN.wav``: 16-bit PCM, 16 kHz mono, 10 s;
- ``events_SPLIT.tsv``: ``file<TAB>onset_s<TAB>offset_s<TAB>label`` per event (paths relative
  to the corpus folder; :mod:`audiojax.data.events`): what the ``sed`` task trains on and
  ``audiojax evaluate --events`` reads;
- ``scenes.jsonl``: each scene's background and events (the file, crop and level of each);
  ``info.json``.

A scene's background is coloured noise (a random spectral slope), with synthesized speech of
the split's espeak-ng voices over it in :data:`SPEECH_SHARE` of the scenes; an event's active
power is :data:`EVENT_SNR_DB` above the background's power; events may overlap. A sound
longer than :data:`MAX_EVENT_SECONDS` gives a random segment of 1 s to that length, faded in
and out over :data:`FADE_SECONDS`; the scene is peak-normalized to -12..-1 dBFS.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from audiojax.data.corpora import acoustics, sound_events as E
from audiojax.data.corpora.acoustics import write_wav
from audiojax.data.corpora.streams import events_lines, peak_normalize

SAMPLE_RATE = E.SAMPLE_RATE
SCENE_SECONDS = 10.0
FORMAT_VERSION = 1
SPLITS = ("train", "validation", "test")
EVENTS_PER_SCENE = (1, 5)
EVENT_SNR_DB = (0.0, 24.0)
SPEECH_DB = (-6.0, 6.0)      # background speech's active power against the noise's
SPEECH_SHARE = 0.5
MAX_EVENT_SECONDS = 5.0
FADE_SECONDS = 0.02


@dataclasses.dataclass(frozen=True)
class ScenesSpec:
    """A size: scenes per split, which table rows (as the ``events`` corpus's sizes take
    them) and the speech utterances synthesized per split for the backgrounds."""

    scenes: dict[str, int]
    events_size: str
    speech_utterances: int


SIZES = {
    "tiny": ScenesSpec({"train": 24, "validation": 6, "test": 6}, "tiny", 3),
    "small": ScenesSpec({"train": 1500, "validation": 200, "test": 300}, "full", 40),
    "full": ScenesSpec({"train": 5000, "validation": 500, "test": 1000}, "full", 120),
}


def _rng(seed: int, *key) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps([seed, *key]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def event_piece(rng: np.random.Generator, y: np.ndarray, sr: int = SAMPLE_RATE
                ) -> tuple[np.ndarray, float]:
    """The part of a sound an event plays: all of it, or for a sound longer than
    :data:`MAX_EVENT_SECONDS` a random segment of 1 s to that length with faded ends ->
    ``(samples, start_s in the sound)``."""
    longest = int(MAX_EVENT_SECONDS * sr)
    if y.size <= longest:
        return y, 0.0
    n = int(rng.integers(sr, longest + 1))
    start = int(rng.integers(0, y.size - n + 1))
    piece = y[start:start + n].copy()
    fade = int(FADE_SECONDS * sr)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    piece[:fade] *= ramp
    piece[-fade:] *= ramp[::-1]
    return piece, start / sr


def scene(rng: np.random.Generator, sounds: list[tuple[E.Entry, np.ndarray]], speech: np.ndarray,
          sr: int = SAMPLE_RATE) -> tuple[np.ndarray, list[tuple[float, float, str]], dict]:
    """One scene of :data:`SCENE_SECONDS`: 1-5 events drawn from ``sounds`` (``(entry,
    samples)``) over a background (coloured noise; with ``speech``, a stream of synthesized
    sentences, an excerpt of it in :data:`SPEECH_SHARE` of the scenes) ->
    ``(signal, events [(onset_s, offset_s, label)] in time order, facts)``."""
    n = int(SCENE_SECONDS * sr)
    beta = float(rng.uniform(-1.0, 2.0))
    background = acoustics.coloured_noise(rng, n, beta).astype(np.float64)   # unit RMS
    facts: dict = {"noise_beta": round(beta, 3)}
    if speech.size and rng.random() < SPEECH_SHARE:
        start = int(rng.integers(0, max(1, speech.size - n)))
        talk = np.resize(speech[start:], n) if speech.size - start < n else speech[start:start + n]
        speech_db = float(rng.uniform(*SPEECH_DB))
        background += talk / np.sqrt(acoustics.active_power(talk, sr)) * acoustics.db_to_amp(speech_db)
        facts["speech_db"] = round(speech_db, 2)
    power = float(np.mean(background ** 2))
    out, events, placed = background, [], []
    for _ in range(int(rng.integers(EVENTS_PER_SCENE[0], EVENTS_PER_SCENE[1] + 1))):
        entry, y = sounds[int(rng.integers(len(sounds)))]
        piece, start_s = event_piece(rng, y, sr)
        piece = piece[:n]
        at = int(rng.integers(0, n - piece.size + 1))
        snr = float(rng.uniform(*EVENT_SNR_DB))
        gain = np.sqrt(power * 10 ** (snr / 10) / acoustics.active_power(piece, sr))
        out[at:at + piece.size] += gain * piece
        events.append((round(at / sr, 3), round((at + piece.size) / sr, 3), entry.label))
        placed.append({"file": entry.path, "label": entry.label, "source": entry.source,
                       "start_s": round(start_s, 6), "onset_s": events[-1][0],
                       "offset_s": events[-1][1], "snr_db": round(snr, 2)})
    facts["events"] = placed
    return peak_normalize(rng, out.astype(np.float32)), sorted(events), facts


def speech_stream(split: str, count: int, seed: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``count`` sentences of the split's texts said by its espeak-ng voices (the checked-in
    voice split table), trimmed and joined with short pauses; empty when none is installed."""
    from audiojax.data.corpora import builder, sentences, voices as V  # noqa: PLC0415

    table = builder.split_table()
    speakers = [v for v in V.discover(["espeak"]) if table.get(v.group) == split]
    if not speakers or count == 0:
        return np.zeros(0, np.float32)
    rng = _rng(seed, "speech", split)
    texts = [t for t in sentences.sentence_pool(n_grammar=2000, seed=0)
             if sentences.split_of_text(t) == split]
    gap = np.zeros(int(0.3 * sr), np.float32)
    parts = []
    for _ in range(count):
        voice = speakers[int(rng.integers(len(speakers)))]
        y = V.synthesize(voice, texts[int(rng.integers(len(texts)))], rate=float(rng.uniform(0.8, 1.2)), sr=sr)
        parts += [acoustics.trim_silence(y, sr), gap]
    return np.concatenate(parts).astype(np.float32)


def write_corpus(size: str, seed: int, root: Path, progress: bool = True,
                 table: Path = E.TABLE, source_table: Path = E.SOURCE_TABLE,
                 labels=None, speech: bool = True) -> dict:
    """Builds the corpus into the (empty) folder ``root``; returns the info dict. ``speech``
    False leaves the synthesized speech out of the backgrounds.

    Raises what :func:`audiojax.data.corpora.sound_events.write_corpus` raises for the tables.
    """
    t0 = time.time()
    spec = SIZES[size]
    labels = E.LABELS if labels is None else tuple(labels)
    sources = E.read_sources(source_table)
    entries = E.read_table(table, labels)
    E.check_tables(entries, sources, table)
    chosen = E.select(entries, E.SIZES[spec.events_size])
    E.check_installed(chosen, table)
    folds = E.fold_splits(1)
    loaded = list(E.load_entries(chosen, table))
    rows = []
    for split in SPLITS:
        sounds = [(e, y) for e, y in loaded if sources[e.source].fold in folds[split]]
        stream = speech_stream(split, spec.speech_utterances, seed) if speech else np.zeros(0)
        lines = []
        for k in range(spec.scenes[split]):
            y, events, facts = scene(_rng(seed, split, k), sounds, stream)
            rel = f"scenes/{split}/{k:05d}.wav"
            write_wav(root / rel, y, SAMPLE_RATE)
            lines.append((rel, events))
            rows.append({"path": rel, "split": split, **facts})
            if progress and (k + 1) % 500 == 0:
                print(f"soundscapes/{size} {split}: {k + 1}/{spec.scenes[split]} scenes",
                      file=sys.stderr)
        (root / f"events_{split}.tsv").write_text(events_lines(lines))
    with open(root / "scenes.jsonl", "w") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    return _info(size, seed, root, rows, sources, labels, time.time() - t0)


def _info(size, seed, root, rows, sources, labels, seconds) -> dict:
    def summary(rs):
        events = [e for r in rs for e in r["events"]]
        return {"clips": len(rs), "speakers": len({e["source"] for e in events}),
                "hours": len(rs) * SCENE_SECONDS / 3600.0, "engines": [],
                "events": len(events), "with_speech": sum("speech_db" in r for r in rs),
                "sources": sorted({e["source"] for e in events}),
                "labels": {label: sum(e["label"] == label for e in events) for label in labels}}

    files: dict[str, set[str]] = {}
    for e in (e for r in rows for e in r["events"]):
        files.setdefault(sources[e["source"]].package, set()).add(e["file"])
    return {
        "name": "soundscapes", "size": size, "seed": seed, "sample_rate": SAMPLE_RATE,
        "task": "sound event detection", "clip_seconds": SCENE_SECONDS,
        "labels": list(labels), "transcript_alphabet": None,
        "splits": {s: summary([r for r in rows if r["split"] == s]) for s in SPLITS},
        "scene_folds": E.fold_splits(1), "grouped_by": "sources",
        "packages": E.packages_info(files, sources),
        **E.build_facts(FORMAT_VERSION, fingerprint(root, size, seed), seconds),
    }


def fingerprint(root: Path, size: str, seed: int) -> str:
    """Identifies a build: its events files, size, seed and format version."""
    h = hashlib.sha256(json.dumps(["soundscapes", size, seed, FORMAT_VERSION]).encode())
    for split in SPLITS:
        h.update((root / f"events_{split}.tsv").read_bytes())
    return h.hexdigest()[:16]
