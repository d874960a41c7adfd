"""The ``instruments`` corpus (NSynth style): notes and short phrases rendered by FluidSynth from
the General MIDI sound fonts Debian ships (``make music``), labelled by instrument family.

Each General MIDI program of :data:`PROGRAMS` belongs to one of the :data:`FAMILIES`. Splits:

- ``test``: every program, rendered with the held-out font (TimGM6mb), which shares no sample
  with any training font (checked at build time on the fonts' sample data: csound's GM bank,
  which holds 329 of TimGM6mb's samples, cannot train; MuseScore General and FluidR3 Mono
  derive from FluidR3 and stay out of the test);
- ``validation``: the programs held out of training (the last of each family's, :func:`split_of`)
  rendered with the training fonts: instruments training never heard, of fonts it did;
- ``train``: the other programs with the training fonts.

A clip (:data:`CLIP_SECONDS`) holds one note (pitch from its family's range, velocity 40-127,
held 0.25-1.5 s, then released) or, for a third of them, a phrase of 2-4 notes of a scale; no
reverb or chorus; peak -20..-1 dBFS. Layout: ``wav/SPLIT/NNNNNN.wav`` (16-bit PCM, 16 kHz mono),
``SPLIT.tsv`` (``path<TAB>family<TAB>font``), ``clips.jsonl`` (each clip's font, program, notes),
``info.json`` (the fonts used, with package and licence, and those left out and why).
A build is deterministic for a seed and the installed fonts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

from audiojax.data.corpora.acoustics import write_wav
from audiojax.data.corpora.sound_events import build_facts

SAMPLE_RATE = 16000
CLIP_SECONDS = 2.0
FORMAT_VERSION = 2  # 2: clips independent of the ones rendered before
FAMILIES = ("keyboard", "mallet", "organ", "guitar", "bass", "strings", "vocal", "brass", "reed",
            "pipe", "synth_lead", "synth_pad")
# General MIDI programs (0-based) by family; the others (harp, timpani, orchestra hit, ethnic,
# percussive and sound effects) are left out: no family of NSynth's, or no pitch.
PROGRAMS = {
    **{p: "keyboard" for p in range(0, 8)},
    **{p: "mallet" for p in range(8, 15)},             # celesta .. tubular bells
    **{p: "organ" for p in range(16, 21)},
    **{p: "reed" for p in (21, 22, 23)},                # accordions, harmonica: free reeds
    **{p: "guitar" for p in range(24, 32)},
    **{p: "bass" for p in range(32, 40)},
    **{p: "strings" for p in (*range(40, 46), 48, 49, 50, 51)},
    **{p: "vocal" for p in (52, 53, 54)},               # choir aahs, voice oohs, synth voice
    **{p: "brass" for p in range(56, 64)},
    **{p: "reed" for p in range(64, 72)},
    **{p: "pipe" for p in range(72, 80)},
    **{p: "synth_lead" for p in range(80, 88)},
    **{p: "synth_pad" for p in range(88, 96)},
}
# MIDI pitches each family is played in (lowest, highest), inside the ranges of the instruments.
PITCHES = {"keyboard": (33, 96), "mallet": (60, 96), "organ": (36, 84), "guitar": (40, 79),
           "bass": (28, 55), "strings": (36, 88), "vocal": (48, 76), "brass": (40, 79),
           "reed": (45, 84), "pipe": (60, 91), "synth_lead": (48, 84), "synth_pad": (36, 84)}
SCALE = (0, 2, 4, 5, 7, 9, 11, 12)
PEAK_DB = (-20.0, -1.0)
REDRAWS = 8


@dataclasses.dataclass(frozen=True)
class Font:
    package: str
    path: str
    licence: str
    role: str        # "test" (held out), "train", or why it is left out


FONTS = (
    Font("timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2", "GPL-2", "test"),
    Font("fluid-soundfont-gm", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "MIT", "train"),
    Font("opl3-soundfont", "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "GPL-3+", "train"),
    Font("csound-soundfont", "/usr/share/sounds/sf2/sf_GMbank.sf2", "public domain", "train"),
)


@dataclasses.dataclass(frozen=True)
class InstrumentsSpec:
    notes: dict[str, int]   # clips per (font, program) of each split


SIZES = {
    "tiny": InstrumentsSpec({"train": 2, "validation": 1, "test": 1}),
    "small": InstrumentsSpec({"train": 12, "validation": 8, "test": 4}),
    "full": InstrumentsSpec({"train": 48, "validation": 16, "test": 8}),
}


def split_of(program: int, programs: dict[int, str] = PROGRAMS) -> str:
    """``validation`` for the last program of its family (families of 2 or more), else ``train``."""
    family = [p for p, f in sorted(programs.items()) if f == programs[program]]
    return "validation" if len(family) > 1 and program == family[-1] else "train"


def sample_digests(path: str | os.PathLike) -> set[str]:
    """SHA-1 of each sample's data in a SoundFont 2 file (``sdta/smpl`` cut by ``pdta/shdr``):
    two fonts that share a digest share a recording."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path}: not a SoundFont 2 file")

    def chunks(start, end):
        while start + 8 <= end:
            cid, size = struct.unpack_from("<4sI", data, start)
            yield cid, start + 8, size
            start += 8 + size + (size & 1)

    found = {}
    for cid, at, size in chunks(12, len(data)):
        if cid == b"LIST":
            found.update({c: (o, s) for c, o, s in chunks(at + 4, at + size)})
    if b"smpl" not in found or b"shdr" not in found:
        raise ValueError(f"{path}: no sample data (smpl) or sample headers (shdr)")
    (smpl, smpl_size), (shdr, shdr_size) = found[b"smpl"], found[b"shdr"]
    pcm = np.frombuffer(data, np.int16, count=smpl_size // 2, offset=smpl)
    out = set()
    for i in range(shdr_size // 46 - 1):   # the last header is the terminal "EOS"
        start, end = struct.unpack_from("<II", data, shdr + 46 * i + 20)
        out.add(hashlib.sha1(pcm[start:end].tobytes()).hexdigest())
    return out


def choose_fonts(fonts=FONTS) -> tuple[Font, list[Font], dict[str, str]]:
    """``(test font, training fonts, {package: why left out})`` of the installed ``fonts``.
    Raises FileNotFoundError when the test font or every training font is missing."""
    installed = [f for f in fonts if os.path.isfile(f.path)]
    left_out = {f.package: "not installed (make music)" for f in fonts if f not in installed}
    test = next((f for f in installed if f.role == "test"), None)
    if test is None:
        wanted = next(f for f in fonts if f.role == "test")
        raise FileNotFoundError(f"{wanted.path}: the held-out test font is not installed "
                                f"(package {wanted.package}: make music)")
    held_out = sample_digests(test.path)
    train = []
    for f in installed:
        if f.role != "train":
            continue
        shared = len(sample_digests(f.path) & held_out)
        if shared:
            left_out[f.package] = f"shares {shared} samples with the test font {test.package}"
        else:
            train.append(f)
    if not train:
        raise FileNotFoundError("no training sound font is installed that shares no sample with "
                                f"the test font: {'; '.join(f'{p}: {w}' for p, w in left_out.items())}")
    return test, train, left_out


def seed_key(seed: int, *key) -> int:
    """A build's seed and a clip's key (font, program, index; a piece) as one integer: each
    clip's draws do not depend on which other clips the build makes."""
    digest = hashlib.sha256(":".join(map(str, (seed, *key))).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def draw_notes(rng: np.random.Generator, family: str) -> list[dict]:
    """A clip's notes ``[{pitch, velocity, onset_s, hold_s}]``: one note, or (a third of the
    clips) a phrase of 2-4 notes of a major scale within the family's range."""
    low, high = PITCHES[family]
    if rng.random() < 2 / 3:
        return [{"pitch": int(rng.integers(low, high + 1)), "velocity": int(rng.integers(40, 128)),
                 "onset_s": round(float(rng.uniform(0, 0.1)), 3),
                 "hold_s": round(float(rng.uniform(0.25, 1.5)), 3)}]
    root = int(rng.integers(low, max(low, high - 12) + 1))
    count = int(rng.integers(2, 5))
    step = round(float(rng.uniform(0.2, 1.4 / count)), 3)
    velocity = int(rng.integers(50, 128))
    return [{"pitch": root + int(rng.choice(SCALE)), "velocity": velocity,
             "onset_s": round(0.05 + k * step, 3), "hold_s": round(0.9 * step, 3)}
            for k in range(count)]


class Renderer:
    """Renders notes of sound fonts with FluidSynth (no reverb, no chorus), each clip by a
    synthesizer of its own: FluidSynth's output depends on what a synthesizer played before
    (reused voices, partly filled blocks, the dither of 16-bit output; a prelude and a reset
    between clips left chords up to 8% of their peak apart), so a clip is a function of its
    own notes only when nothing was played before it. One synthesizer per font stays loaded
    so that FluidSynth's sample cache makes each clip's font load cheap (0.06-0.09 s instead of
    0.2 s for FluidR3's 141 MB); output is float (no dither)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        try:
            import fluidsynth  # noqa: PLC0415 (libfluidsynth: only the music corpora need it)
        except (ImportError, OSError) as e:   # pyfluidsynth raises ImportError without the library
            raise FileNotFoundError(f"FluidSynth cannot be loaded ({e}); install Debian's "
                                    f"libfluidsynth3 (make setup)") from None
        import ctypes  # noqa: PLC0415

        self.rate, self._fluidsynth = sample_rate, fluidsynth
        self._write_float = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1),
            ("len", ctypes.c_int, 1), ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1),
            ("lincr", ctypes.c_int, 1), ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1),
            ("rincr", ctypes.c_int, 1))
        self._kept: dict[str, object] = {}   # font path -> a synthesizer holding it (the cache)

    def _synth(self):
        return self._fluidsynth.Synth(gain=0.5, samplerate=float(self.rate),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})

    def render(self, font: str, programs: dict[int, int], notes: list[dict],
               seconds: float) -> np.ndarray:
        """``(samples,)`` float32 of ``notes`` (``{pitch, velocity, onset_s, hold_s}``, and
        ``channel``, default 0) played on MIDI channels by ``programs`` (``{channel: General
        MIDI program}``) of ``font`` (a path), ``seconds`` long."""
        if font not in self._kept:
            self._kept[font] = self._synth()
            self._kept[font].sfload(font)
        synth = self._synth()
        try:
            sfont = synth.sfload(font)
            for channel, program in programs.items():
                if synth.program_select(channel, sfont, 0, program) != 0:
                    raise ValueError(f"{font}: has no General MIDI program {program} (bank 0)")
            events = sorted([(n["onset_s"], 1, n) for n in notes]
                            + [(n["onset_s"] + n["hold_s"], 0, n) for n in notes],
                            key=lambda e: e[:2])
            out, now = [], 0
            for at, on, note in events:
                frames = int(round(at * self.rate)) - now
                if frames > 0:
                    out.append(self._samples(synth, frames))
                    now += frames
                if on:
                    synth.noteon(note.get("channel", 0), note["pitch"], note["velocity"])
                else:
                    synth.noteoff(note.get("channel", 0), note["pitch"])
            total = int(round(seconds * self.rate))
            if total > now:
                out.append(self._samples(synth, total - now))
        finally:
            synth.delete()
        return np.concatenate(out)[:total].astype(np.float32)

    def _samples(self, synth, frames: int) -> np.ndarray:
        """The next ``frames`` samples, float, mono (the mean of the two channels)."""
        buf = np.zeros(2 * frames, np.float32)
        self._write_float(synth.synth, frames, buf.ctypes.data, 0, 2, buf.ctypes.data, 1, 2)
        return buf.reshape(-1, 2).mean(axis=1)

    def render_audible(self, font: str, draw, seconds: float, what: str):
        """``(audio, drawn, redraws)``: ``draw() -> (programs, notes, ...)`` played by ``font``
        until it sounds, at most :data:`REDRAWS` draws (a font maps a program's keys to samples
        over a range of its own; notes outside it are silent). ValueError naming ``what`` when
        every draw is silent."""
        for redraws in range(REDRAWS):
            drawn = draw()
            y = self.render(font, drawn[0], drawn[1], seconds)
            if np.abs(y).max() >= 1e-4:
                return y, drawn, redraws
        raise ValueError(f"{what}: renders silence {REDRAWS} times (last pitches "
                         f"{[n['pitch'] for n in drawn[1]]})")

    def close(self) -> None:
        for synth in self._kept.values():
            synth.delete()
        self._kept = {}


def write_clip(root: Path, rel: str, y: np.ndarray, rng: np.random.Generator) -> float:
    """Writes ``y`` at a random peak level in :data:`PEAK_DB` to ``root / rel``; the level."""
    peak_db = round(float(rng.uniform(*PEAK_DB)), 2)
    write_wav(root / rel, y * (10 ** (peak_db / 20) / float(np.abs(y).max())), SAMPLE_RATE)
    return peak_db


def write_splits(root: Path, rows: list[dict], group) -> None:
    """``SPLIT.tsv`` (``path<TAB>label<TAB>group(row)``) of each split and ``clips.jsonl``."""
    for split in ("train", "validation", "test"):
        (root / f"{split}.tsv").write_text("".join(
            f"{r['path']}\t{r['label']}\t{group(r)}\n" for r in rows if r["split"] == split))
    with open(root / "clips.jsonl", "w") as f:
        f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def fonts_info(test: Font, train: list[Font], left_out: dict[str, str]) -> dict:
    """The info.json entry of a rendered corpus's fonts (the corpus summary lists them)."""
    def entry(f):
        return {"package": f.package, "licence": f.licence, "path": f.path}

    return {"test": entry(test), "train": [entry(f) for f in train], "left_out": left_out}


def fingerprint(root: Path, name: str, size: str, seed: int, version: int) -> str:
    """Identifies a build: its manifests, name, size, seed and format version."""
    h = hashlib.sha256(json.dumps([name, size, seed, version]).encode())
    for split in ("train", "validation", "test"):
        h.update((root / f"{split}.tsv").read_bytes())
    return h.hexdigest()[:16]


def write_corpus(size: str, seed: int, root: Path, progress: bool = True, fonts=None,
                 programs: dict[int, str] | None = None) -> dict:
    """Builds the corpus into the (empty) folder ``root`` from ``fonts`` (default
    :data:`FONTS`) playing ``programs`` (default :data:`PROGRAMS`); returns the info dict.

    Raises:
      FileNotFoundError: the test font, or every training font, is not installed.
      ValueError: a font lacks a program, or renders it silent (naming both).
    """
    t0 = time.time()
    programs = PROGRAMS if programs is None else programs
    test, train, left_out = choose_fonts(FONTS if fonts is None else fonts)
    renderer = Renderer()
    rows = []
    plan = [("test", test, p) for p in sorted(programs)]
    plan += [(split_of(p, programs), f, p) for f in train for p in sorted(programs)]
    for split, font, program in plan:
        family = programs[program]
        for k in range(SIZES[size].notes[split]):
            rng = np.random.default_rng(seed_key(seed, font.package, program, k))
            y, (_, notes), redraws = renderer.render_audible(
                font.path, lambda: ({0: program}, draw_notes(rng, family)), CLIP_SECONDS,
                f"{font.path}: program {program} ({family})")
            rel = f"wav/{split}/{len(rows):06d}.wav"
            peak_db = write_clip(root, rel, y, rng)
            rows.append({"path": rel, "label": family, "split": split, "font": font.package,
                         "program": program, "notes": notes, "pitch": notes[0]["pitch"],
                         "peak_db": peak_db, "redraws": redraws})
        if progress and len(rows) % 500 < SIZES[size].notes[split]:
            print(f"instruments/{size}: {len(rows)} clips", file=sys.stderr)
    renderer.close()
    write_splits(root, rows, lambda r: r["font"])
    return _info(size, seed, root, rows, test, train, left_out, programs, time.time() - t0)


def _info(size, seed, root, rows, test, train, left_out, programs, seconds) -> dict:
    def summary(rs):
        return {"clips": len(rs), "speakers": len({r["font"] for r in rs}),
                "hours": len(rs) * CLIP_SECONDS / 3600.0, "engines": [],
                "programs": sorted({r["program"] for r in rs}),
                "labels": {f: sum(r["label"] == f for r in rs) for f in FAMILIES}}

    labels = [f for f in FAMILIES if f in set(programs.values())]
    return {
        "name": "instruments", "size": size, "seed": seed, "sample_rate": SAMPLE_RATE,
        "task": "instrument family classification", "clip_seconds": CLIP_SECONDS,
        "grouped_by": "fonts", "labels": labels, "transcript_alphabet": None,
        "splits": {s: summary([r for r in rows if r["split"] == s])
                   for s in ("train", "validation", "test")},
        "fonts": fonts_info(test, train, left_out),
        **build_facts(FORMAT_VERSION, fingerprint(root, "instruments", size, seed, FORMAT_VERSION),
                      seconds),
    }
