"""Planning and writing a synthetic corpus (WAV files + manifests + info.json).

A build is a deterministic function of (corpus, size, seed, installed voices):

1. voices are selected for the size and assigned to splits by the checked-in table
   ``voice_splits.tsv`` (one row per voice *group*: a recorded person or an espeak accent,
   never in two splits, the same in every corpus), with every voice of SVOX pico in test only;
2. the clip plan (clip index -> split, voice, label/text) is laid out in a fixed order;
3. each clip is synthesized once and recorded once (training: ``renders`` times, each with its
   own speed, tempo, placement and acoustics); every random draw comes from
   ``default_rng([seed, corpus, index, k, render])``, so results do not depend on the number
   of worker processes or their scheduling;
4. babble noise for a clip comes from a bank of speech by other voices of the *same* split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import functools
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audiojax.data import CORPUS_SPLITS, SPLITS
from audiojax.data.corpora import (acoustics, commands, enhance, noises, sentences, separate, speakers,
                                   streams, voices as V)

SR = 16000
FORMAT_VERSION = 3  # 2: test_clean.tsv; 3: the checked-in split table, renders, dry clips
_CORPUS_CODE = {"commands": 1, "sentences": 2, "speakers": 3, "enhance": 4, "separate": 5,
                "streams": 6, "dereverb": 7}
# The corpora of dry utterances mixed afterwards (no render per clip, no test_clean), and
# among them the (mixture, clean) pairs of enhancement.
_MIXED = ("enhance", "dereverb", "separate", "streams")
_PAIRS = ("enhance", "dereverb")
SPLIT_TABLE = Path(__file__).with_name("voice_splits.tsv")
TASKS = {"commands": "keyword spotting", "sentences": "speech recognition",
         "speakers": "speaker recognition", "enhance": "speech enhancement",
         "dereverb": "speech enhancement", "separate": "source separation",
         "streams": "wake-word detection"}
# Of one accent's espeak-ng variants together: clips as many as this many base voices.
VARIANTS_WEIGHT = 2.0


@dataclasses.dataclass(frozen=True)
class SizeSpec:
    engines: tuple[str, ...] | None      # None: every installed engine
    voice_names: tuple[str, ...] | None  # restrict base voices (engine-name ids), None: all
    variants_per_accent: int             # espeak-ng variants added per accent
    target_clips: int                    # synthesized clips (before renders)
    train_factor: float = 1.0            # training clips x this: more recordings per voice
    renders: int = 1                     # training recordings of each synthesized clip
    bank_voices: int = 12                # babble bank: voices per split
    bank_utts: int = 4                   # babble bank: utterances per voice
    workers: int | None = None           # None: min(2, cpus)
    # speakers: each voice at these pitch centres is a speaker, speaking this many utterances
    # (training speakers: `identification` more, held out), with this many target trials each.
    pitches: tuple[float, ...] = (1.0,)
    all_languages: bool = False          # voices made for other languages too (MBROLA's)
    utterances: int = 0
    identification: int = 0
    trials_per_speaker: int = 0


# Voices of all three splits of voice_splits.tsv; flite only in test: an engine training never hears.
_TINY_VOICES = ("espeak-en-us", "espeak-en-gb-x-rp", "espeak-en-029", "espeak-en-us-nyc",
                "espeak-en", "espeak-en-gb-scotland", "flite-awb")
SIZES = {
    "commands": {
        "tiny": SizeSpec(("espeak", "flite"), _TINY_VOICES, 0, 28, renders=2, bank_voices=4,
                         bank_utts=2, workers=1),
        "small": SizeSpec(None, None, 6, 3500, renders=3),
        "full": SizeSpec(None, None, 24, 21000, renders=4),
    },
    "sentences": {
        "tiny": SizeSpec(("espeak", "flite"), _TINY_VOICES, 0, 21, bank_voices=4, bank_utts=2,
                         workers=1),
        "small": SizeSpec(None, None, 6, 2000),
        "full": SizeSpec(None, None, 24, 10500),
        # The full corpus's voices, validation and test clip counts, 4x the training recordings
        # (each training sentence read about twice): the recognizer memorizes the full
        # corpus's recordings (experiments/README.md).
        "large": SizeSpec(None, None, 24, 10500, train_factor=4.0),
    },
    "speakers": {
        "tiny": SizeSpec(("espeak", "flite"), _TINY_VOICES + ("flite-rms",), 0, 0, bank_voices=4,
                         bank_utts=2, workers=1, utterances=4, identification=1,
                         trials_per_speaker=3),
        "small": SizeSpec(None, None, 6, 0, pitches=(0.92, 1.08), all_languages=True,
                          utterances=8, identification=2, trials_per_speaker=8),
        "full": SizeSpec(None, None, 24, 0, pitches=(0.88, 1.0, 1.12), all_languages=True,
                         utterances=16, identification=4, trials_per_speaker=12),
    },
    # The sentences corpus's voices and clip counts; each clip once, dry and with noise.
    "enhance": {
        "tiny": SizeSpec(("espeak", "flite"), _TINY_VOICES, 0, 21, bank_voices=4, bank_utts=2,
                         workers=1),
        "small": SizeSpec(None, None, 6, 2000),
        "full": SizeSpec(None, None, 24, 10500),
    },
    # The same; each clip is the first source of one two-talker mixture.
    "separate": {  # tiny: flite-rms too, so that validation has two persons
        "tiny": SizeSpec(("espeak", "flite"), _TINY_VOICES + ("flite-rms",), 0, 21, bank_voices=4, bank_utts=2,
                         workers=1),
        "small": SizeSpec(None, None, 6, 2000),
        "full": SizeSpec(None, None, 24, 10500),
    },
    # Voices only: what each split holds is streams.SIZES's.
    "streams": {
        "tiny": SizeSpec(("espeak", "flite"), _TINY_VOICES + ("flite-rms",), 0, 0, bank_voices=4,
                         bank_utts=2, workers=1),
        "small": SizeSpec(None, None, 6, 0),
        "full": SizeSpec(None, None, 24, 0),
    },
}
SIZES["dereverb"] = SIZES["enhance"]  # the same sizes; its own draws (code 7), heard in rooms


def corpus_splits(name: str) -> tuple[str, ...]:
    """The manifests a corpus has: ``CORPUS_SPLITS``, ``speakers``' identification split;
    the mixed corpora (``enhance``, ``dereverb``, ``separate``, ``streams``) have no test_clean."""
    if name in _MIXED:
        return enhance.SPLITS
    return CORPUS_SPLITS + (("identification",) if name == "speakers" else ())


@dataclasses.dataclass(frozen=True)
class Clip:
    index: int
    split: str
    voice: V.Voice
    label: str           # command word or normalized transcript (speakers: the text spoken)
    rep: int
    speaker: str = ""    # speakers: the voice configuration (default: the voice)
    pitch: float = 0.0   # speakers: the configuration's pitch centre (0: drawn per clip)


# ---------------------------------------------------------------------------------------------
# Voices and splits


def select_voices(spec: SizeSpec) -> list[V.Voice]:
    base = V.discover(spec.engines, spec.all_languages)
    if spec.voice_names is not None:
        base = [v for v in base if v.id in spec.voice_names]
    return sorted(base + V.with_variants(base, spec.variants_per_accent), key=lambda v: v.id)


@functools.lru_cache(maxsize=1)
def split_table() -> dict[str, str]:
    """``{voice group: split}`` from the checked-in :data:`SPLIT_TABLE`."""
    table = {}
    for n, line in enumerate(SPLIT_TABLE.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            group, split = line.split("\t")[:2]
            if split not in SPLITS or group in table:
                raise ValueError(f"{SPLIT_TABLE}:{n}: a group listed once with a split among "
                                 f"{', '.join(SPLITS)}, got {line!r}")
            table[group] = split
    return table


def assign_splits(voices: list[V.Voice]) -> tuple[dict[str, list[V.Voice]], str | None]:
    """Each voice's split from its group's row of :data:`SPLIT_TABLE` (the same for every
    corpus and seed). Returns ``({split: voices}, the engines only the test split has)``."""
    table = split_table()
    unknown = sorted({v.group for v in voices} - set(table))
    if unknown:
        raise ValueError(f"voice groups {', '.join(unknown)} have no split in {SPLIT_TABLE}: "
                         f"add a row for each")
    split_voices = {s: sorted((v for v in voices if table[v.group] == s), key=lambda v: v.id)
                    for s in SPLITS}
    empty = [s for s in SPLITS if not split_voices[s]]
    if empty:
        raise ValueError(f"no installed voice falls in split {', '.join(empty)} "
                         f"({SPLIT_TABLE}); install more voices (see the Makefile's `voices`)")
    heard = {v.engine for s in ("train", "validation") for v in split_voices[s]}
    held = sorted({v.engine for v in split_voices["test"]} - heard)
    return split_voices, ",".join(held) or None


def plan(name: str, spec: SizeSpec, split_voices: dict[str, list[V.Voice]], seed: int,
         size: str) -> list[Clip]:
    weights = {v.id: voice_weight(v, spec) for vs in split_voices.values() for v in vs}
    total_w = sum(weights.values())
    clips: list[Clip] = []
    if name == "commands":
        words = commands.TINY_WORDS if size == "tiny" else commands.WORDS
        base = spec.target_clips / (total_w * len(words))
        for split in SPLITS:
            for v in split_voices[split]:
                reps = max(1, round(base * weights[v.id]))
                for w in words:
                    for r in range(reps):
                        clips.append(Clip(len(clips), split, v, w, r))
    elif name in ("sentences", "enhance", "dereverb", "separate"):
        base = spec.target_clips / total_w
        pools = _text_pools()
        for split in SPLITS:
            pool = pools[split]
            rng = np.random.default_rng([seed, 99, SPLITS.index(split)])
            order = rng.permutation(len(pool))
            k = 0
            factor = spec.train_factor if split == "train" else 1.0
            for v in split_voices[split]:
                for r in range(max(1, round(factor * base * weights[v.id]))):
                    clips.append(Clip(len(clips), split, v, pool[order[k % len(order)]], r))
                    k += 1
    elif name == "streams":
        clips = _streams_plan(streams.SIZES[size], split_voices, seed)
    elif name == "speakers":
        rows = speakers.plan_rows(split_voices, spec.pitches, spec.utterances,
                                  spec.identification, seed, _text_pools())
        for r, (split, voice, speaker, pitch, text) in enumerate(rows):
            clips.append(Clip(len(clips), split, voice, text, r, speaker, pitch))
    else:
        raise ValueError(name)
    return clips


def _streams_plan(spec: streams.StreamsSpec, split_voices: dict[str, list[V.Voice]],
                  seed: int) -> list[Clip]:
    """The ``streams`` corpus's utterances: per split, the keywords of each recording
    (``rep``: the recording, one voice each), the unknown-word clips and the keyword-free
    sentences of the background speech, voices taken in turn."""
    clips: list[Clip] = []
    pools = _text_pools()
    for si, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 66, si])
        vs = [split_voices[split][i] for i in rng.permutation(len(split_voices[split]))]
        plan_ = streams.keyword_plan(rng, spec.streams[split], spec.keywords_per_stream)
        for s, words in enumerate(plan_):
            clips += [Clip(len(clips) + k, split, vs[s % len(vs)], w, s) for k, w in enumerate(words)]
        for k in range(spec.unknown_clips[split]):
            word = streams.UNKNOWN_WORDS[int(rng.integers(len(streams.UNKNOWN_WORDS)))]
            clips.append(Clip(len(clips), split, vs[k % len(vs)], word, k))
        texts = streams.keyword_free(pools[split])
        order = rng.permutation(len(texts))
        for k in range(spec.speech_utterances[split]):
            clips.append(Clip(len(clips), split, vs[(k + 1) % len(vs)], texts[order[k % len(texts)]], k))
    return clips


# Clips per voice, relative: voices built from real recordings of one person count more than
# espeak-ng's formant variants (which all share one synthesizer).
ENGINE_WEIGHT = {"espeak": 1.0, "mbrola": 1.0, "flite": 2.0, "festival": 2.0, "pico": 2.0,
                 "rhvoice": 2.0}


def voice_weight(v: V.Voice, spec: SizeSpec) -> float:
    if v.variant:
        return VARIANTS_WEIGHT / spec.variants_per_accent
    return ENGINE_WEIGHT.get(v.engine, 1.0)


@functools.lru_cache(maxsize=1)
def _text_pools() -> dict[str, list[str]]:
    """Sentences by split (a sentence belongs to one split only). The pool is fixed; a build's
    seed only changes which sentences are drawn from it."""
    pools = {s: [] for s in SPLITS}
    for t in sentences.sentence_pool(n_grammar=8000, seed=0):
        pools[sentences.split_of_text(t)].append(t)
    return pools


# ---------------------------------------------------------------------------------------------
# Babble bank


def babble_bank(split_voices: dict[str, list[V.Voice]], spec: SizeSpec, seed: int,
                workdir: Path) -> dict[str, dict[str, tuple[str, np.ndarray]]]:
    """``{split: {voice_id: (group, speech stream)}}`` from the split's own voices."""
    pools = _text_pools()
    bank = {}
    for si, split in enumerate(SPLITS):
        vs = split_voices[split]
        if len(vs) > spec.bank_voices:
            idx = np.linspace(0, len(vs) - 1, spec.bank_voices).round().astype(int)
            vs = [vs[i] for i in sorted(set(idx))]
        rng = np.random.default_rng([seed, 777, si])
        bank[split] = {}
        for v in vs:
            texts = [pools[split][int(rng.integers(len(pools[split])))] for _ in range(spec.bank_utts)]
            ys = V.synthesize_many(v, [(t, 1.0, 1.0) for t in texts], sr=SR, workdir=workdir)
            gap = np.zeros(int(0.15 * SR), np.float32)
            stream = np.concatenate([np.concatenate([acoustics.trim_silence(y, SR), gap]) for y in ys])
            bank[split][v.id] = (v.group, stream)
    return bank


# ---------------------------------------------------------------------------------------------
# Clips

_STATE: dict = {}


def _init_worker(state):
    _STATE.clear()
    _STATE.update(state)


def _synth_params(seed, code, clip: Clip, aug: acoustics.AugmentConfig) -> tuple[float, float]:
    """A clip's engine speaking rate and pitch factors (one synthesis for all its renders):
    the pitch within ``speakers.PITCH_JITTER`` of a configuration's centre when it has one."""
    rng = np.random.default_rng([seed, code, clip.index, 0])
    rate, pitch = float(rng.uniform(*aug.rate)), float(rng.uniform(*aug.pitch))
    if clip.pitch:
        pitch = clip.pitch * float(rng.uniform(1 - speakers.PITCH_JITTER, 1 + speakers.PITCH_JITTER))
    return rate, pitch


def _render_params(seed, code, index, render, aug: acoustics.AugmentConfig):
    """One recording's speed and tempo factors, and its placement draws: the offset in the
    clip (a fraction of the free room) and the leading and trailing silence (seconds)."""
    rng = np.random.default_rng([seed, code, index, 2, render])
    return (float(rng.uniform(*aug.speed)), float(rng.uniform(*aug.tempo)), float(rng.random()),
            float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.15, 0.6)))


def _place(name: str, y: np.ndarray, u_off: float, lead: float, trail: float, voice, label):
    """The utterance in its clip: a word somewhere in 1 s (sped up to fit, never cut), a
    sentence between silences."""
    if name != "commands":
        off = int(lead * SR)
        buf = np.zeros(off + y.size + int(trail * SR), np.float32)
        buf[off:off + y.size] = y
        return buf
    n, max_len = SR, int(0.96 * SR)
    if y.size > max_len:
        y = acoustics.trim_silence(acoustics.tempo(y, SR, y.size / max_len * 1.03), SR)
        if y.size > max_len:
            raise V.SynthesisError(voice, label, f"{y.size / SR:.2f} s does not fit 1 s")
    margin = min(int(0.02 * SR), (n - y.size) // 2)
    off = margin + int(u_off * (n - y.size - 2 * margin))
    buf = np.zeros(n, np.float32)
    buf[off:off + y.size] = y
    return buf


# Engines without a pitch control: the clip's pitch factor is applied after synthesis.
_PITCH_AFTER = ("flite", "festival")


def _process_unit(unit: list[Clip]) -> list[dict]:
    """Synthesizes the clips of one voice, renders each (training: ``renders`` recordings of
    its own speed, tempo, placement and acoustics) and writes them; returns manifest rows."""
    st = _STATE
    name, seed, root, aug = st["name"], st["seed"], Path(st["root"]), st["aug"]
    code = _CORPUS_CODE[name]
    voice = unit[0].voice
    params = [_synth_params(seed, code, c, aug) for c in unit]
    ys = V.synthesize_many(voice, [(c.label, rate, pitch) for c, (rate, pitch) in zip(unit, params)],
                           sr=SR, workdir=st["tmp"])
    rows = []
    for c, (rate, pitch), y0 in zip(unit, params, ys):
        y0 = acoustics.trim_silence(y0, SR)
        if voice.engine in _PITCH_AFTER:
            y0 = acoustics.pitch_shift(y0, SR, pitch)
        # Held-out utterances of training speakers are recorded with the training babble.
        bank = st["bank"]["train" if c.split == "identification" else c.split]
        others = [s for g, s in bank.values() if g != voice.group]
        unknown = name == "streams" and c.label in streams.UNKNOWN_WORDS
        if name in _MIXED and not unknown:
            rows.append(_dry_row(c, voice, y0, others, rate, pitch))
            continue
        for render in range(st["renders"] if c.split == "train" else 1):
            spd, tmp, u_off, lead, trail = _render_params(seed, code, c.index, render, aug)
            y = acoustics.trim_silence(acoustics.tempo(acoustics.speed(y0, spd), SR, tmp), SR)
            buf = _place("commands" if unknown else name, y / (np.abs(y).max() + 1e-9), u_off,
                         lead, trail, voice, c.label)
            out, aug_params = acoustics.augment(
                np.random.default_rng([seed, code, c.index, 1, render]), buf, SR, aug, others,
                dry_ok=c.split == "train")
            stem = (f"{c.index:06d}_{c.label}" if name == "commands" or unknown else f"{c.index:06d}") \
                + (f"_r{render}" if render else "")
            recordings = [(c.split, out, aug_params)]
            if c.split == "test" and st["clean_test"]:  # the same placed utterance at the same level, nothing added
                level = acoustics.db_to_amp(aug_params["peak_dbfs"])
                recordings.append(("test_clean", buf * level, {"peak_dbfs": aug_params["peak_dbfs"]}))
            speaker = c.speaker or voice.id
            for split, y, rec_params in recordings:
                pcm = acoustics.to_int16(y)
                rel = f"wav/{split}/{speaker}/{stem}.wav"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(path), pcm, SR, subtype="PCM_16")
                text = ({"label": speaker, "text": c.label} if name == "speakers" else
                        {"label": streams.UNKNOWN, "text": c.label} if unknown else
                        {"label": c.label})
                rows.append({"index": c.index, "render": render, "split": split, "path": rel,
                             **text, "speaker": speaker, "voice": voice.id, "engine": voice.engine,
                             "group": voice.group, "seconds": pcm.size / SR,
                             "synth": {"rate": round(rate, 3), "pitch": round(pitch, 3),
                                       "speed": round(spd, 3), "tempo": round(tmp, 3)},
                             "aug": rec_params})
    return rows


def _dry_row(c: Clip, voice, y0: np.ndarray, others, rate: float, pitch: float) -> dict:
    """An ``enhance`` clip: the utterance placed dry, mixed with noise of its split, both
    written; a ``separate`` clip: the placed utterance, kept (``.npy`` under the build's
    temporary folder) for the mixing pass (:func:`_separate_rows`); a ``streams`` utterance
    (a keyword, a background sentence): the same without the silence around it
    (:func:`_streams_rows`)."""
    st = _STATE
    name, seed, aug = st["name"], st["seed"], st["aug"]
    code = _CORPUS_CODE[name]
    spd, tmp, u_off, lead, trail = _render_params(seed, code, c.index, 0, aug)
    y = acoustics.trim_silence(acoustics.tempo(acoustics.speed(y0, spd), SR, tmp), SR)
    buf = y / (np.abs(y).max() + 1e-9)
    if name != "streams":
        buf = _place(name, buf, u_off, lead, trail, voice, c.label)
    row = {"index": c.index, "render": 0, "split": c.split, "text": c.label, "speaker": voice.id,
           "voice": voice.id, "engine": voice.engine, "group": voice.group,
           "seconds": buf.size / SR,
           "synth": {"rate": round(rate, 3), "pitch": round(pitch, 3), "speed": round(spd, 3),
                     "tempo": round(tmp, 3)}}
    if name in ("separate", "streams"):
        path = Path(st["tmp"]) / f"dry_{c.index:06d}.npy"
        np.save(path, buf)
        if name == "streams" and c.label in commands.WORDS:  # a keyword of recording c.rep
            row["stream"] = c.rep
        return {**row, "dry": str(path)}
    mixture, clean, params = enhance.mix(np.random.default_rng([seed, code, c.index, 1]), buf,
                                         SR, others, st["noise_sources"][c.split], aug.peak_dbfs,
                                         room=name == "dereverb")
    mix_rel, clean_rel = enhance.write_pair(Path(st["root"]), f"wav/{c.split}/{voice.id}/{c.index:06d}",
                                            mixture, clean, SR)
    return {**row, "path": mix_rel, "clean": clean_rel, "aug": params}


def _separate_rows(clips: list[dict], root: Path, seed: int, noise_sources: dict[str, list[str]],
                   aug: acoustics.AugmentConfig) -> list[dict]:
    """The ``separate`` corpus's mixtures from its dry clips (:mod:`~audiojax.data.corpora.separate`):
    every clip the first source of one mixture, in every version; one row per mixture, its
    paths those of :data:`~audiojax.data.corpora.separate.DEFAULT` relative to ``root``."""
    code = _CORPUS_CODE["separate"]
    rows = []
    for si, split in enumerate(separate.SPLITS):
        cs = [c for c in clips if c["split"] == split]
        pick = separate.partners(np.random.default_rng([seed, code, 7, si]), [c["group"] for c in cs])
        for c, j in zip(cs, pick):
            other = cs[j]
            s1, s2, noise, n_min, params = separate.mix_pair(
                np.random.default_rng([seed, code, c["index"], 3]), np.load(c["dry"]),
                np.load(other["dry"]), SR, noise_sources.get(split, []), aug.peak_dbfs)
            versions = separate.write_versions(root, split, c["index"], s1, s2, noise, n_min, SR)
            paths = [f"{separate.DEFAULT}/{p}" for p in versions[separate.DEFAULT]]
            rows.append({"index": c["index"], "render": 0, "split": split, "path": paths[0],
                         "source1": paths[1], "source2": paths[2], "versions": versions,
                         "copies": [f"{v}/{p[0]}" for v, p in versions.items() if v != separate.DEFAULT],
                         "speaker": c["speaker"], "voice": c["voice"], "engine": c["engine"],
                         "group": c["group"], "seconds": n_min / SR,
                         "voices": [c["voice"], other["voice"]], "texts": [c["text"], other["text"]],
                         "groups": [c["group"], other["group"]],
                         "engines": [c["engine"], other["engine"]],
                         "synth": [c["synth"], other["synth"]], "aug": params})
    separate.write_manifests(root, rows)
    for r in rows:
        del r["versions"]
    return rows


# Background clips take indices from here on (they are cut from mixtures, not synthesized).
BACKGROUND_INDEX = 2_000_000


def _streams_rows(clips: list[dict], root: Path, seed: int, noise_sources: dict[str, list[str]],
                  bank: dict, size: str) -> tuple[list[dict], list[dict]]:
    """The ``streams`` corpus's recordings (:mod:`~audiojax.data.corpora.streams`) from its
    dry utterances: per split, the keyword recordings and the keyword-free ones with their
    ``events_SPLIT.tsv``, and the background clips. Returns ``(clip rows: the unknown-word
    clips and the background clips, recording rows)``."""
    spec, code = streams.SIZES[size], _CORPUS_CODE["streams"]
    n = int(spec.stream_seconds * SR)
    rows, recordings = [r for r in clips if "dry" not in r], []
    for si, split in enumerate(SPLITS):
        dry = [r for r in clips if r["split"] == split and "dry" in r]
        speech = [(r["group"], np.load(r["dry"])) for r in dry if "stream" not in r]
        babble = list(bank[split].values())
        sources = noise_sources.get(split, [])

        def background(rng, group=None):
            """A background without the speech of the keywords' person (``group``)."""
            return streams.background(rng, n, SR, [y for g, y in speech if g != group],
                                      [y for g, y in babble if g != group], sources)

        def record(rel, y, rng, voice, events, params):
            acoustics.write_wav(root / rel, streams.peak_normalize(rng, y), SR)
            recordings.append({"path": rel, "split": split, "voice": voice, "events": len(events),
                               "seconds": n / SR, "aug": params})
            return rel, events

        events_rows = []
        for s in range(spec.streams[split]):
            words = [r for r in dry if r.get("stream") == s]
            rng = np.random.default_rng([seed, code, 8, si, s])
            bg, params = background(rng, words[0]["group"])
            y, events, room = streams.keyword_recording(
                rng, [(r["text"], np.load(r["dry"])) for r in words], n, SR, bg)
            events_rows.append(record(f"streams/{split}/{s:04d}.wav", y, rng, words[0]["voice"],
                                      events, {**params, **room}))
        for b in range(round(spec.background_seconds[split] / spec.stream_seconds)):
            rng = np.random.default_rng([seed, code, 9, si, b])
            bg, params = background(rng)
            events_rows.append(record(f"background/{split}/{b:04d}.wav", bg, rng, "", [], params))
        if events_rows:
            (root / f"events_{split}.tsv").write_text(streams.events_lines(events_rows))
        count, k, r = spec.background_clips[split], 0, 0
        while k < count:  # 20 crops of each background
            rng = np.random.default_rng([seed, code, 10, si, r])
            bg, params = background(rng)
            for crop in streams.crops(rng, streams.peak_normalize(rng, bg), min(20, count - k), SR):
                rel = f"wav/{split}/{streams.BACKGROUND}/{k:06d}.wav"
                acoustics.write_wav(root / rel, crop, SR)
                rows.append({"index": BACKGROUND_INDEX + si * 100_000 + k, "render": 0,
                             "split": split, "path": rel, "label": streams.BACKGROUND,
                             "speaker": streams.BACKGROUND, "voice": "", "engine": "", "group": "",
                             "seconds": crop.size / SR, "aug": params})
                k += 1
            r += 1
    return rows, recordings


def _streams_info(recordings: list[dict], sources: dict[str, list[str]]) -> dict:
    """A streams corpus's recordings per split: how many, keywords, hours (and of them
    keyword-free), noise packages."""
    out = {"packages": {p: len(files) for p, files in noises.installed().items()},
           "stream_seconds": recordings[0]["seconds"] if recordings else 0.0, "splits": {}}
    for split in SPLITS:
        rs = [r for r in recordings if r["split"] == split]
        if rs:
            out["splits"][split] = {
                "recordings": len(rs), "keywords": sum(r["events"] for r in rs),
                "hours": sum(r["seconds"] for r in rs) / 3600.0,
                "keyword_free_hours": sum(r["seconds"] for r in rs if not r["events"]) / 3600.0,
                "noise_sources": len(sources.get(split, []))}
    return out


def _manifest_line(name: str, row: dict) -> str:
    """A row as its corpus's manifests write it: ``mixture<TAB>clean`` for ``enhance``,
    ``mixture<TAB>source1<TAB>source2`` for ``separate``, else the article's
    ``path<TAB>label<TAB>speaker``."""
    if name in _PAIRS:
        return f"{row['path']}\t{row['clean']}\n"
    if name == "separate":
        return f"{row['path']}\t{row['source1']}\t{row['source2']}\n"
    return f"{row['path']}\t{row['label']}\t{row['speaker']}\n"


def _units(clips: list[Clip], chunk: int) -> list[list[Clip]]:
    by_voice: dict[tuple, list[Clip]] = {}
    for c in clips:
        by_voice.setdefault((c.split, c.voice.id), []).append(c)
    units = []
    for k in sorted(by_voice, key=lambda k: by_voice[k][0].index):
        cs = by_voice[k]
        units += [cs[i:i + chunk] for i in range(0, len(cs), chunk)]
    # Slow engines first so that the workers finish together.
    slow = {"rhvoice": 0, "festival": 1}
    return sorted(units, key=lambda u: (slow.get(u[0].voice.engine, 2), u[0].index))


def _run_units(units: list[list[Clip]], state: dict, workers: int, desc: str,
               progress: bool) -> list[dict]:
    """The manifest rows of every unit, in clip order (progress on stderr)."""
    from audiojax.progress import progress as progress_bar

    rows: list[dict] = []
    with progress_bar(total=sum(map(len, units)), desc=desc, unit="clip", disable=not progress,
                      file=sys.stderr) as bar:
        if workers <= 1:
            _init_worker(state)
            for u in units:
                rows += _process_unit(u)
                bar.update(len(u))
        else:
            # spawn, not fork: the caller may be a trainer with JAX threads running.
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_init_worker, initargs=(state,)) as pool:
                for r in pool.imap_unordered(_process_unit, units):
                    rows += r
                    bar.update(len({row["index"] for row in r}))  # clips, not their recordings
    return sorted(rows, key=lambda r: (r["index"], r["split"], r["render"]))


# Crossed clips take indices from here on, so their random draws are not the corpus's own.
CROSSED_INDEX = 1_000_000


def write_crossed(size: str, seed: int, root: Path, voices_split: str, texts_split: str,
                  count: int, progress: bool = True, workers: int | None = None) -> int:
    """A diagnostic set of the ``sentences`` corpus: ``count`` sentences of ``texts_split``
    spoken by the voices of ``voices_split`` (e.g. training voices reading held-out text),
    with the corpus's synthesis and augmentation, into the folder ``root`` as ``manifest.tsv``
    and ``clips.jsonl``. A held-out split changes voices, sentences and recordings at once;
    these new recordings of chosen voices and sentences tell the three apart. Voices and splits
    are those of the corpus built with the same size and seed; the clips' random draws are
    new. Returns the number of clips."""
    if voices_split not in SPLITS or texts_split not in SPLITS:
        raise ValueError(f"voices and texts: splits among {', '.join(SPLITS)}, got "
                         f"{voices_split!r} and {texts_split!r}")
    spec = SIZES["sentences"][size]
    split_voices, _ = assign_splits(select_voices(spec))
    texts = _text_pools()[texts_split]
    if not 0 < count <= len(texts):
        raise ValueError(f"count: 1 to {len(texts)} (the {texts_split} sentences), got {count}")
    rng = np.random.default_rng([seed, 31337])
    voices = split_voices[voices_split]
    weights = np.array([voice_weight(v, spec) for v in voices])
    picks = rng.choice(len(voices), size=count, p=weights / weights.sum())
    clips = [Clip(CROSSED_INDEX + i, voices_split, voices[v], texts[t], 0)
             for i, (v, t) in enumerate(zip(picks, rng.permutation(len(texts))[:count]))]
    tmp = root / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        state = {"name": "sentences", "seed": seed, "root": str(root),
                 "aug": acoustics.AugmentConfig(), "tmp": str(tmp), "clean_test": False, "renders": 1,
                 "bank": babble_bank(split_voices, spec, seed, tmp)}
        rows = _run_units(_units(clips, 48), state, workers or min(2, os.cpu_count() or 1),
                          f"{voices_split} voices x {texts_split} text", progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(root / "manifest.tsv", "w") as f:
        f.writelines(f"{r['path']}\t{r['label']}\t{r['speaker']}\n" for r in rows)
    with open(root / "clips.jsonl", "w") as f:
        f.writelines(json.dumps(dict(r, texts=texts_split), sort_keys=True) + "\n" for r in rows)
    return len(rows)


def write_corpus(name: str, size: str, seed: int, root: Path, progress: bool = True,
                 workers: int | None = None, aug: acoustics.AugmentConfig | None = None) -> dict:
    """Builds the corpus into the (empty) folder ``root``; returns the info dict."""
    spec = SIZES[name][size]
    aug = aug or acoustics.AugmentConfig()
    t0 = time.time()
    voices = select_voices(spec)
    split_voices, held = assign_splits(voices)
    clips = plan(name, spec, split_voices, seed, size)
    tmp = root / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    bank = babble_bank(split_voices, spec, seed, tmp)
    noise_sources = noises.sources_by_split() if name in _MIXED else {}
    state = {"name": name, "seed": seed, "root": str(root), "aug": aug, "bank": bank,
             "tmp": str(tmp), "clean_test": name != "streams", "renders": spec.renders,
             "noise_sources": noise_sources}
    workers = workers or spec.workers or min(2, os.cpu_count() or 1)
    try:
        rows = _run_units(_units(clips, 16 if size == "tiny" else 48), state, workers,
                          f"{name}/{size}", progress)
        recordings = []
        if name == "separate":
            rows = _separate_rows(rows, root, seed, noise_sources, aug)
        elif name == "streams":
            rows, recordings = _streams_rows(rows, root, seed, noise_sources, bank, size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    splits = corpus_splits(name)
    for split in splits:
        with open(root / f"{split}.tsv", "w") as f:
            for r in rows:
                if r["split"] == split:
                    f.write(_manifest_line(name, r))
    with open(root / "clips.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    if recordings:
        with open(root / "recordings.jsonl", "w") as f:
            f.writelines(json.dumps(r, sort_keys=True) + "\n" for r in recordings)
    split_info = {}
    for split in splits:
        rs = [r for r in rows if r["split"] == split]
        split_info[split] = {
            "clips": len(rs),
            "speakers": len(_voices_of(rs)),
            "hours": sum(r["seconds"] for r in rs) / 3600.0,
            "engines": sorted({e for r in rs for e in r.get("engines", [r["engine"]]) if e}),
            "voice_groups": sorted({g for r in rs for g in r.get("groups", [r["group"]])}),
            "voices": sorted(_voices_of(rs)),
        }
    trials = None
    if name == "speakers":  # the classes: the training split's voice configurations
        labels = split_info["train"]["voices"]
        trials = speakers.write_trial_lists(root, rows, seed, spec.trials_per_speaker)
    else:
        labels = (list(commands.WORDS) if name == "commands" else
                  [streams.BACKGROUND, streams.UNKNOWN] if name == "streams" else None)
    return {
        "name": name, "size": size, "seed": seed,
        "sample_rate": separate.SAMPLE_RATE if name == "separate" else SR,
        "task": TASKS[name],
        "clip_seconds": 1.0 if name == "commands" else None,
        "labels": labels,
        "transcript_alphabet": "abcdefghijklmnopqrstuvwxyz' " if name == "sentences" else None,
        "splits": split_info,
        **({"trials": trials, "pitch_centres": list(spec.pitches)} if trials else {}),
        **({"noise": _noise_info(rows, noise_sources, name)} if name in _PAIRS else {}),
        **({"mixing": _mixing_info(rows, noise_sources)} if name == "separate" else {}),
        **({"streams": _streams_info(recordings, noise_sources)} if name == "streams" else {}),
        "held_out_engine": held,
        "augmentation": dataclasses.asdict(aug),
        "versions": {"format": FORMAT_VERSION, "engines": V.engine_versions(),
                     "python": sys.version.split()[0], "numpy": np.__version__,
                     "pyroomacoustics": _version("pyroomacoustics"), "soxr": _version("soxr")},
        "fingerprint": manifest_fingerprint(root, name, size, seed),
        "build_seconds": round(time.time() - t0, 2),
        "complete": True,
    }


def _voices_of(rows: list[dict]) -> set[str]:
    """The voices speaking in clip rows (a streams background clip names none)."""
    return {v for r in rows for v in r.get("voices", [r["speaker"]]) if v != streams.BACKGROUND}


def _noise_info(rows: list[dict], sources: dict[str, list[str]], name: str) -> dict:
    """An enhance (or dereverb) corpus's noise: SNR range, kinds, the packages of recorded noise
    and how many sources each split drew from; dereverb's range of RT60."""
    packages = {p: len(files) for p, files in noises.installed().items()}
    return {"snr_db": list(enhance.SNR_DB), "packages": packages,
            **({"rt60": list(enhance.ROOM_RT60)} if name == "dereverb" else {}),
            "left_out": list(noises.LEFT_OUT),
            "splits": {s: {"sources": len(sources.get(s, [])),
                           "kinds": {k: sum(r["aug"]["noise"] == k for r in rows if r["split"] == s)
                                     for k in ("colour", "babble", "recorded")}}
                       for s in enhance.SPLITS}}


def _mixing_info(rows: list[dict], sources: dict[str, list[str]]) -> dict:
    """A separate corpus's versions, level and noise ranges, noise packages and kinds."""
    return {"versions": list(separate.VERSIONS), "default": separate.DEFAULT,
            "level_db": list(separate.LEVEL_DB), "noise_snr_db": list(separate.NOISE_SNR_DB),
            "packages": {p: len(files) for p, files in noises.installed().items()},
            "splits": {s: {"sources": len(sources.get(s, [])),
                           "kinds": {k: sum(r["aug"]["noise"] == k for r in rows if r["split"] == s)
                                     for k in ("colour", "recorded")}}
                       for s in separate.SPLITS}}


def manifest_fingerprint(root: Path, name: str, size: str, seed: int) -> str:
    """Identifies a build: its manifests, name, size, seed and format version."""
    h = hashlib.sha256(json.dumps([name, size, seed, FORMAT_VERSION]).encode())
    for split in corpus_splits(name):
        h.update((root / f"{split}.tsv").read_bytes())
    return h.hexdigest()[:16]


def _version(mod):
    try:
        from importlib.metadata import version
        return version(mod)
    except Exception:  # noqa: BLE001
        return ""
