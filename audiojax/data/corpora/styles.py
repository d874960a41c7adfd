"""The ``styles`` corpus (genre classification): real scores of music21's corpus rendered by
FluidSynth (:class:`~audiojax.data.corpora.instruments.Renderer`) into 10 s excerpts.

Labels and their pieces (:data:`SOURCES`, paths inside music21's corpus): ``chorale`` (Bach's
four-part chorales), ``renaissance`` (Palestrina's mass movements), and the dances of Ryan's
Mammoth Collection as its file names tag them, ``reel``, ``jig`` and ``hornpipe``. Splits are
by piece (no piece in two): per label, the pieces in a seeded order, 15% each to test and
validation (at least one), the rest to train. An excerpt: a random tempo of its style's range
(:data:`TEMPI`, quarter notes per minute), a transposition of -5..+5 semitones, a random
General MIDI program for each part (from the programs of the instruments corpus), velocities
per part, a random 10 s stretch of the piece (looped when shorter: tunes repeat); test excerpts
are played by the held-out sound font, the others by a training font (the instruments
corpus's fonts, :func:`~audiojax.data.corpora.instruments.choose_fonts`).

Layout: ``wav/SPLIT/NNNNNN.wav`` (16-bit PCM, 16 kHz mono), ``SPLIT.tsv``
(``path<TAB>style<TAB>piece``: results group by piece), ``clips.jsonl`` (piece, font,
programs, tempo, transposition, start), ``info.json`` (pieces per split, fonts, sources).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from audiojax.data.corpora import instruments as I
from audiojax.data.corpora.sound_events import build_facts

SAMPLE_RATE = I.SAMPLE_RATE
EXCERPT_SECONDS = 10.0
FORMAT_VERSION = 2  # 2: clips independent of the ones rendered before (instruments.Renderer)
# style: (folder of music21's corpus, file pattern)
SOURCES = {"chorale": ("bach", "bwv*.mxl"), "renaissance": ("palestrina", "*.krn"),
           "reel": ("ryansMammoth", "*Reel.abc"), "jig": ("ryansMammoth", "*Jig.abc"),
           "hornpipe": ("ryansMammoth", "*Hornpipe.abc")}
LABELS = tuple(SOURCES)
TEMPI = {"chorale": (60, 96), "renaissance": (90, 150), "reel": (170, 230), "jig": (150, 200),
         "hornpipe": (120, 170)}
TRANSPOSE = 5
HELD_OUT = 0.15    # of each style's pieces, to test and to validation each


@dataclasses.dataclass(frozen=True)
class StylesSpec:
    pieces: int | None       # per style (None: every piece)
    excerpts: dict[str, int]  # per piece of each split


SIZES = {
    "tiny": StylesSpec(pieces=3, excerpts={"train": 1, "validation": 1, "test": 1}),
    "small": StylesSpec(pieces=60, excerpts={"train": 3, "validation": 2, "test": 2}),
    "full": StylesSpec(pieces=250, excerpts={"train": 6, "validation": 2, "test": 2}),
}


def corpus_root() -> Path:
    """music21's corpus folder (installed with music21)."""
    from music21 import corpus  # noqa: PLC0415

    return Path(corpus.__file__).parent


def split_pieces(seed: int, root: Path, pieces: int | None,
                 sources: dict[str, tuple[str, str]] = SOURCES) -> dict[str, dict[str, list[str]]]:
    """``{style: {split: [piece path relative to root]}}``: each style's pieces in a seeded
    order, the first ``pieces`` of them, :data:`HELD_OUT` of them (at least one) to test, as
    many to validation, the rest to train. Raises FileNotFoundError for a style without pieces."""
    out = {}
    for style, (folder, pattern) in sources.items():
        found = sorted(str(p.relative_to(root)) for p in (root / folder).glob(pattern))
        if len(found) < 3:
            raise FileNotFoundError(f"{root / folder}/{pattern}: {len(found)} pieces of {style}, "
                                    f"need 3 (a music21 without its corpus?)")
        chosen = sorted(found, key=lambda p: I.seed_key(seed, p))[:pieces]
        k = max(1, int(round(HELD_OUT * len(chosen))))
        out[style] = {"test": sorted(chosen[:k]), "validation": sorted(chosen[k:2 * k]),
                      "train": sorted(chosen[2 * k:])}
    return out


def read_score(path: Path) -> tuple[list[tuple[float, float, int, int]], float]:
    """``([(onset, duration, MIDI pitch, part)] in quarter notes, length in quarter notes)`` of
    a score (ties joined, chords as their notes)."""
    from music21 import converter  # noqa: PLC0415

    score = converter.parse(str(path))
    parts = list(score.parts) or [score]
    notes, end = [], 0.0
    for k, part in enumerate(parts):
        for n in part.stripTies().flatten().notes:
            onset, length = float(n.offset), float(n.quarterLength)
            notes += [(onset, length, int(p.midi), k) for p in n.pitches if length > 0]
            end = max(end, onset + length)
    if not notes:
        raise ValueError(f"{path}: no notes")
    return sorted(notes), end


def excerpt(notes, length_q: float, style: str, programs: list[int], rng: np.random.Generator
            ) -> tuple[dict[int, int], list[dict], dict]:
    """An excerpt's ``{channel: program}``, notes (the instruments renderer's dicts, with
    ``channel``) and facts (tempo, transposition, start)."""
    spq = 60.0 / float(rng.uniform(*TEMPI[style]))          # seconds per quarter note
    transpose = int(rng.integers(-TRANSPOSE, TRANSPOSE + 1))
    parts = sorted({n[3] for n in notes})
    # A channel per part; channel 9 is General MIDI's drum kit.
    channels = {part: c for part, c in zip(parts, [c for c in range(16) if c != 9])}
    chosen = {channels[p]: int(rng.choice(programs)) for p in parts}
    velocity = {p: int(rng.integers(55, 111)) for p in parts}
    loops = int(np.ceil(2 * EXCERPT_SECONDS / (length_q * spq)))
    total = loops * length_q * spq
    start = float(rng.uniform(0, max(0.0, total - EXCERPT_SECONDS)))
    out = []
    for r in range(loops):
        for onset, length, pitch, part in notes:
            at = (onset + r * length_q) * spq - start
            if 0 <= at < EXCERPT_SECONDS and part in channels:
                out.append({"channel": channels[part], "pitch": min(108, max(21, pitch + transpose)),
                            "velocity": int(np.clip(velocity[part] + rng.integers(-8, 9), 1, 127)),
                            "onset_s": round(at, 4),
                            "hold_s": round(min(0.95 * length * spq, EXCERPT_SECONDS - at), 4)})
    facts = {"tempo_qpm": round(60.0 / spq, 6), "transpose": transpose, "start_s": round(start, 6)}
    return chosen, out, facts


def write_corpus(size: str, seed: int, root: Path, progress: bool = True, fonts=None,
                 programs: list[int] | None = None, music=None,
                 sources: dict[str, tuple[str, str]] = SOURCES) -> dict:
    """Builds the corpus into the (empty) folder ``root``: the scores of ``sources`` under
    ``music`` (default music21's corpus), played by ``programs`` (default the instruments
    corpus's) of ``fonts`` (default its fonts); returns the info dict.

    Raises:
      FileNotFoundError: no held-out font, no training font, or a style without pieces.
      ValueError: a score holds no notes, or an excerpt renders silence (naming the piece).
    """
    t0 = time.time()
    music = corpus_root() if music is None else Path(music)
    programs = sorted(I.PROGRAMS) if programs is None else list(programs)
    test_font, train_fonts, left_out = I.choose_fonts(I.FONTS if fonts is None else fonts)
    splits = split_pieces(seed, music, SIZES[size].pieces, sources)
    renderer = I.Renderer()
    rows = []
    for style, by_split in splits.items():
        for split, pieces in by_split.items():
            for piece in pieces:
                notes, length_q = read_score(music / piece)
                for k in range(SIZES[size].excerpts[split]):
                    rng = np.random.default_rng(I.seed_key(seed, piece, k))
                    font = test_font if split == "test" else train_fonts[
                        int(rng.integers(len(train_fonts)))]
                    # (a program outside its range, a contrabass asked for a reel, is silent)
                    y, (chosen, played, facts), redraws = renderer.render_audible(
                        font.path, lambda: excerpt(notes, length_q, style, programs, rng),
                        EXCERPT_SECONDS, f"{music / piece}: excerpt {k}")
                    rel = f"wav/{split}/{len(rows):06d}.wav"
                    peak_db = I.write_clip(root, rel, y, rng)
                    rows.append({"path": rel, "label": style, "split": split, "piece": piece,
                                 "font": font.package, "programs": chosen, "peak_db": peak_db,
                                 "notes": len(played), "redraws": redraws, **facts})
            if progress:
                print(f"styles/{size}: {style} {split}: {len(pieces)} pieces", file=sys.stderr)
    renderer.close()
    I.write_splits(root, rows, lambda r: Path(r["piece"]).with_suffix(""))
    return _info(size, seed, root, rows, test_font, train_fonts, left_out, sources, time.time() - t0)


def _info(size, seed, root, rows, test_font, train_fonts, left_out, sources, seconds) -> dict:
    def summary(rs):
        return {"clips": len(rs), "speakers": len({r["piece"] for r in rs}),
                "hours": len(rs) * EXCERPT_SECONDS / 3600.0, "engines": [],
                "labels": {s: sum(r["label"] == s for r in rs) for s in sources}}

    return {
        "name": "styles", "size": size, "seed": seed, "sample_rate": SAMPLE_RATE,
        "task": "music style classification", "clip_seconds": EXCERPT_SECONDS,
        "grouped_by": "pieces", "labels": list(sources), "transcript_alphabet": None,
        "splits": {s: summary([r for r in rows if r["split"] == s])
                   for s in ("train", "validation", "test")},
        "fonts": I.fonts_info(test_font, train_fonts, left_out),
        "scores": {"from": "music21's corpus (BSD-3-Clause software; the encodings' own terms: "
                           "music21/corpus/license.txt)",
                   "sources": {s: f"{folder}/{pattern}" for s, (folder, pattern) in sources.items()}},
        **build_facts(FORMAT_VERSION, I.fingerprint(root, "styles", size, seed, FORMAT_VERSION),
                      seconds),
    }
