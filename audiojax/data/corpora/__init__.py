"""Local corpora built offline: synthetic speech, ``commands`` (keyword spotting), ``sentences``
(ASR), ``speakers``, ``enhance``, ``separate`` and ``streams`` (wake words on long recordings:
:mod:`~audiojax.data.corpora.streams`); recorded sound of Debian packages, ``events`` (clips,
:mod:`~audiojax.data.corpora.sound_events`) and ``soundscapes`` (scenes with strong labels,
:mod:`~audiojax.data.corpora.soundscapes`); notes and scores rendered from sound fonts, ``instruments`` and ``styles``
(:mod:`~audiojax.data.corpora.instruments`, :mod:`~audiojax.data.corpora.styles`). These have
layouts of their own.

The speech corpora:

``build(name, data_dir=None, size='small', seed=0, progress=True)`` writes, under
``corpus_dir(data_dir, name, size)``:

- ``train.tsv``, ``validation.tsv``, ``test.tsv``: one line per clip,
  ``relative/path.wav<TAB>label<TAB>speaker`` (no header; label = word or transcript);
- ``test_clean.tsv``: the test clips again as spoken, at the same level, without the room,
  noise and channel of ``test.tsv`` (clean-speech accuracy apart from robustness);
- ``wav/<split>/<speaker>/<id>.wav``: 16-bit PCM, 16 kHz mono;
- ``info.json``: name, size, seed, sample_rate, labels (commands: the 35 words in Speech
  Commands order), per-split clips/speakers/hours/engines/voices, augmentation, versions;
- ``clips.jsonl``: every clip's synthesis and augmentation parameters;

and the TFDS copy ``DATA_DIR/tfds/audiojax_<name>/<size>/1.3.0`` (array_record), readable with
``tfds.data_source('audiojax_<name>/<size>', data_dir=DATA_DIR/'tfds')`` once
:mod:`audiojax.data.corpora.tfds_builders` is imported.

Speakers are synthesizer voices; splits are disjoint by voice group (recorded person) and come
from the checked-in table ``voice_splits.tsv``, the same for every corpus; the test split holds
every voice of one engine that train never hears. Each training clip is recorded
``renders`` times (small: 3, full: 4), each recording with its own speed, tempo, placement and
acoustics; a quarter of the training recordings stay dry. A build is deterministic for
a seed (given the installed voices) and independent of the number of worker processes. An
existing complete build with the same name/size/seed is reused; a build is written to a
temporary folder and renamed into place at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np

from audiojax.data import SPLITS, corpus_dir, default_data_dir
from audiojax.data.corpora.commands import WORDS
from audiojax.data.corpora.voices import SynthesisError, Voice

CORPORA = {
    "commands": "keyword spotting: the 35 Speech Commands v2 words, 1 s at 16 kHz",
    "sentences": "speech recognition: short English sentences, normalized transcripts",
    "speakers": "speaker recognition: voice configurations reading sentences, with trial lists",
    "enhance": "speech enhancement: sentences with noise at -5..20 dB, and dry (mixture, clean)",
    "dereverb": "speech enhancement and dereverberation: enhance's sentences in simulated rooms "
                "(RT60 0.2-1.0 s) with noise, and dry (mixture, clean)",
    "separate": "source separation: two talkers' sentences summed, WSJ0-2mix style, 8/16 kHz, min/max, noisy",
    "streams": "wake-word detection: long recordings with keywords at known times (events files), "
               "keyword-free hours, background and unknown-word clips",
    "events": "sound event classification: 5 s clips of recorded sound effects, 5 folds by source "
              "(ESC-50 style; make sounds)",
    "soundscapes": "sound event detection: 10 s scenes of 1-5 recorded sound events over noise "
                   "and speech, strong labels (DCASE task 4 style; make sounds)",
    "instruments": "instrument family classification: 2 s notes and phrases rendered from "
                   "General MIDI sound fonts, test font held out (NSynth style; make music)",
    "styles": "music style classification: 10 s excerpts of music21's scores (chorales, "
              "Renaissance masses, reels, jigs, hornpipes) rendered from sound fonts (make music)",
}
TFDS_CORPORA = ("commands", "sentences")  # the corpora with a TFDS copy
SIZES = ("tiny", "small", "full", "large")   # large: sentences only

__all__ = ["CORPORA", "SIZES", "WORDS", "CorpusSummary", "SynthesisError", "Voice", "build",
           "load_info", "read_clips", "sample_clips", "voice_families", "voice_subset"]


@dataclasses.dataclass
class CorpusSummary:
    """What :func:`build` made (or found). ``str()`` gives the per-split table."""

    name: str
    size: str
    seed: int
    path: Path
    tfds_dir: Path | None
    info: dict
    seconds: float
    reused: bool

    @property
    def splits(self) -> dict:
        return self.info["splits"]

    def __str__(self) -> str:
        how = "already built" if self.reused else f"built in {self.seconds:.1f} s"
        lines = [f"{self.name} ({self.size}, seed {self.seed}) at {self.path}  [{how}]",
                 f"{'split':<14} {'clips':>7} {self.info.get('grouped_by', 'speakers'):>8} "
                 f"{'hours':>7}  engines"]
        tot = [0, 0, 0.0]
        for s in self.splits:
            if s == "test_clean":  # the test clips again, not more of them
                continue
            d = self.splits[s]
            lines.append(f"{s:<14} {d['clips']:>7} {d['speakers']:>8} {d['hours']:>7.3f}  "
                         + ",".join(d["engines"]))
            tot[0] += d["clips"]
            tot[1] += d["speakers"] if s in SPLITS else 0  # identification: training speakers
            tot[2] += d["hours"]
        lines.append(f"{'total':<14} {tot[0]:>7} {tot[1]:>8} {tot[2]:>7.3f}  "
                     f"(test-only engine: {self.info.get('held_out_engine')})")
        if "trials" in self.info:  # speakers: how many persons the configurations come from
            groups = {s: len(d["voice_groups"]) for s, d in self.splits.items()}
            lines.append(f"speakers are voice configurations (pitch centres "
                         f"{', '.join(map(str, self.info['pitch_centres']))}) of voice groups "
                         f"(persons): {', '.join(f'{s} {n}' for s, n in groups.items())}")
            lines += [f"trials_{s}.tsv: {c['target']} target, {c['nontarget']} different-person; "
                      f"siblings: {c['sibling']} same-person pairs" for s, c in self.info["trials"].items()]
        if "noise" in self.info:  # enhance: the noise kinds and recorded sources per split
            noise = self.info["noise"]
            packages = ", ".join(f"{p} ({n} files)" for p, n in noise["packages"].items())
            if "rt60" in noise:
                lines.append(f"speech in simulated rooms of RT60 {noise['rt60'][0]:g} to "
                             f"{noise['rt60'][1]:g} s; the target dry")
            lines.append(f"noise at SNR {noise['snr_db'][0]:g} to {noise['snr_db'][1]:g} dB; "
                         f"recorded noise from: {packages or 'none installed (make noises)'}")
            lines += [f"{s}: {d['sources']} recorded sources; "
                      + ", ".join(f"{k} {n}" for k, n in d["kinds"].items())
                      for s, d in noise["splits"].items()]
        if "mixing" in self.info:  # separate: the versions, levels and WHAM-style noise
            m = self.info["mixing"]
            packages = ", ".join(f"{p} ({n} files)" for p, n in m["packages"].items())
            lines.append(f"versions: {', '.join(m['versions'])} (SPLIT.tsv: {m['default']}); "
                         f"level {m['level_db'][0]:g} to {m['level_db'][1]:g} dB; noisy: SNR "
                         f"{m['noise_snr_db'][0]:g} to {m['noise_snr_db'][1]:g} dB, recorded "
                         f"noise from: {packages or 'none installed (make noises)'}")
        if "streams" in self.info:  # streams: the long recordings beside the clips
            st = self.info["streams"]
            lines += [f"events_{s}.tsv: {d['recordings']} recordings of {st['stream_seconds']:g} s, "
                      f"{d['keywords']} keywords, {d['hours']:.2f} h ({d['keyword_free_hours']:.2f} h "
                      f"without a keyword), {d['noise_sources']} recorded noise sources"
                      for s, d in st["splits"].items()]
        if "folds" in self.info:  # events: the folds by source, and the packages heard
            lines += [f"fold{k}: {d['clips']} clips from {d['speakers']} sources"
                      for k, d in self.info["folds"].items()]
        if "fonts" in self.info:  # instruments: the sound fonts heard, held out and left out
            fonts = self.info["fonts"]
            lines.append(f"test font (held out): {fonts['test']['package']} "
                         f"({fonts['test']['licence']}); training fonts: "
                         + ", ".join(f"{f['package']} ({f['licence']})" for f in fonts["train"]))
            lines += [f"left out: {p}: {why}" for p, why in fonts["left_out"].items()]
        if "scores" in self.info:  # styles: where the scores come from
            lines.append(f"scores: {self.info['scores']['from']}: " + ", ".join(
                f"{s} {g}" for s, g in self.info["scores"]["sources"].items()))
        if "scene_folds" in self.info:  # soundscapes: the events' folds, and their number
            lines += [f"events_{s}.tsv: {d['clips']} scenes, {d['events']} events from "
                      f"{d['speakers']} sources of folds "
                      f"{','.join(map(str, self.info['scene_folds'][s]))}, {d['with_speech']} "
                      f"with speech" for s, d in self.splits.items()]
        if "packages" in self.info:  # events, soundscapes: the recorded sound's packages
            lines.append("recorded sound from: " + ", ".join(
                f"{p} ({d['files']} files, {'/'.join(d['licence'])})"
                for p, d in self.info["packages"].items()))
        if self.tfds_dir is not None:
            lines.append(f"tfds: audiojax_{self.name}/{self.size} in {self.tfds_dir}")
        return "\n".join(lines)


def load_info(path: str | os.PathLike) -> dict | None:
    """A corpus folder's info.json if the build completed, else None."""
    p = Path(path) / "info.json"
    try:
        info = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("complete") else None


def build(name: str, data_dir: str | os.PathLike | None = None, size: str = "small",
          seed: int = 0, progress: bool = True, workers: int | None = None,
          tfds: bool = True) -> CorpusSummary:
    """Builds corpus ``name`` (``commands`` or ``sentences``) of ``size`` (tiny/small/full).

    Args:
      name: corpus name, a key of :data:`CORPORA`.
      data_dir: root data folder (default ``$AUDIOJAX_DATA`` or ``~/.cache/audiojax``).
      size: ``tiny`` (seconds, for tests), ``small`` (ablations), ``full``, or ``large``
        (sentences: the full corpus with 4x the training clips).
      seed: the build is a deterministic function of the seed (and installed voices).
      progress: show a tqdm progress bar on stderr.
      workers: processes (default: 2 or the CPU count if lower; tiny uses 1). Does not change
        the result.
      tfds: also write the TFDS (array_record) copy under ``DATA_DIR/tfds`` (of the
        :data:`TFDS_CORPORA`).

    Returns:
      A :class:`CorpusSummary`; ``print()`` it for the per-split table.

    Raises:
      SynthesisError: an engine failed or produced silence for a voice and text.
      RuntimeError: too few engines/voices installed to make the splits.
    """
    from audiojax.data.corpora import builder, instruments, sound_events, soundscapes, styles

    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of {sorted(CORPORA)}")
    # The speech corpora come from the synthesizers (builder); the sound corpora from recorded
    # sound (their own writers).
    writer = {"events": sound_events, "soundscapes": soundscapes,
              "instruments": instruments, "styles": styles}.get(name, builder)
    sizes = builder.SIZES[name] if writer is builder else writer.SIZES
    if size not in sizes:
        raise ValueError(f"unknown size {size!r} of {name}; choose one of {tuple(sizes)}")
    t0 = time.time()
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    out = corpus_dir(data_dir, name, size)
    info = load_info(out)
    reused = (info is not None and info.get("name") == name and info.get("size") == size
              and info.get("seed") == seed
              and info.get("versions", {}).get("format") == writer.FORMAT_VERSION)
    if not reused:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            if writer is not builder:
                info = writer.write_corpus(size, seed, tmp, progress=progress)
            else:
                info = builder.write_corpus(name, size, seed, tmp, progress=progress,
                                            workers=workers)
            (tmp / "info.json").write_text(json.dumps(info, indent=1) + "\n")
            if out.exists():
                old = out.parent / f".{out.name}.old-{os.getpid()}"
                out.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    tfds_dir = None
    if tfds and name in TFDS_CORPORA:
        from audiojax.data.corpora import tfds_builders
        tfds_builders.prepare(name, size, data_dir, out, info["fingerprint"], progress=progress)
        tfds_dir = data_dir / "tfds"
    summary = CorpusSummary(name, size, seed, out, tfds_dir, info, time.time() - t0, reused)
    return summary


def read_clips(folder: str | os.PathLike) -> list[dict]:
    """Every clip's record (path, label, speaker, split, engine, group, synthesis and
    augmentation parameters) from a built corpus's ``clips.jsonl``, in build order."""
    path = Path(folder) / "clips.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no clips.jsonl (only a corpus built by `audiojax data "
                                f"build` records its clips' voices and conditions)")
    with path.open() as f:
        return [json.loads(line) for line in f]


NOISE_KINDS = ("none", "colour", "babble", "babble+colour")


def noise_kind(clip: dict) -> str:
    """One of :data:`NOISE_KINDS`: the noise the builder mixed into a clip."""
    noise = clip.get("aug", {}).get("noise")
    return "none" if noise is None else noise.rstrip("+-.0123456789")


# How ``clip_conditions`` bins a clip's acoustics, in table order.
CONDITIONS = {
    "room": ("none", "RT60 < 0.4 s", "RT60 0.4-0.65 s", "RT60 >= 0.65 s"),
    "noise": ("none", "SNR >= 20 dB", "SNR 10-20 dB", "SNR < 10 dB"),
    "noise kind": NOISE_KINDS,
    "channel": ("full band", "lowpass", "bandpass"),
    "dry": ("dry", "not dry"),
    # Two-talker mixtures (the separate corpus):
    "level": ("|level| < 2.5 dB", "|level| >= 2.5 dB"),
    "talkers": ("same engine", "different engines"),
    # Rendered notes (the instruments corpus): the first note's MIDI pitch.
    "pitch range": ("below C3", "C3-B4", "C5 and up"),
}


def clip_conditions(clip: dict) -> dict[str, str]:
    """The bins of :data:`CONDITIONS` a clip's recording falls in: its simulated room (by RT60),
    added noise (by SNR, and by kind), band limitation, and ``dry`` (none of the three); for a
    two-talker mixture, the sources' relative level and whether one synthesizer speaks both."""
    aug = clip.get("aug", {})
    if "piece" in clip:     # an excerpt of a score (styles): no recording conditions
        return {}
    if "program" in clip:   # a rendered note or phrase (instruments): its first note's pitch
        pitch = clip["pitch"]
        return {"pitch range": "below C3" if pitch < 48 else "C3-B4" if pitch < 72 else "C5 and up"}
    if "voices" in clip:
        return {"level": "|level| < 2.5 dB" if abs(aug["level_db"]) < 2.5 else "|level| >= 2.5 dB",
                "talkers": ("same engine" if len(set(clip["engines"])) == 1
                            else "different engines")}
    room, snr, channel = aug.get("room"), aug.get("snr_db"), aug.get("channel")
    rt60 = room["rt60"] if room else None
    return {
        "room": ("none" if rt60 is None else "RT60 < 0.4 s" if rt60 < 0.4
                 else "RT60 0.4-0.65 s" if rt60 < 0.65 else "RT60 >= 0.65 s"),
        "noise": ("none" if snr is None else "SNR >= 20 dB" if snr >= 20
                  else "SNR 10-20 dB" if snr >= 10 else "SNR < 10 dB"),
        "noise kind": noise_kind(clip),
        "channel": "full band" if channel is None else channel.split()[0],
        "dry": "dry" if not (room or snr is not None or channel) else "not dry",
    }


def conditions_of(ids: list[str], base: str | os.PathLike = "") -> dict[str, list[str]] | None:
    """``{condition: [bin of each id]}`` (:func:`clip_conditions`) for evaluated clips, or None
    when they are not all clips of one built corpus (only its ``clips.jsonl`` records them).

    ``ids``: WAV paths, absolute or relative to ``base`` (a corpus folder for a split's ids, a
    manifest's folder for its paths), with or without ``.wav`` (a TFDS copy's ids drop it). The
    corpus is the first folder above the first clip that holds a ``clips.jsonl`` (also where
    `audiojax data sample` or `cross` manifests point); a clip's ``copies`` are the paths of
    its other versions (the separate corpus's)."""
    if not ids:
        return None
    paths = [Path(base, i if i.endswith(".wav") else i + ".wav").resolve() for i in ids]
    root = next((d for d in paths[0].parents if (d / "clips.jsonl").is_file()), None)
    if root is None:
        return None
    by_path = {(root / p).resolve(): clip_conditions(c) for c in read_clips(root)
               for p in [c["path"], *c.get("copies", ())]}
    rows = [by_path.get(p) for p in paths]
    if any(r is None for r in rows):
        return None
    return {name: [r[name] for r in rows] for name in rows[0]}


def sample_clips(folder: str | os.PathLike, split: str, count: int, seed: int = 0,
                 noise: str | None = None, snr_db: tuple[float, float] | None = None
                 ) -> list[tuple[str, str, str]]:
    """``count`` clips of ``split`` drawn at random without replacement (``random.Random(seed)
    .sample`` over the matching clips in build order), as manifest rows ``(path, transcript or
    word, speaker)``: a small evaluation set of one condition, e.g. 150 clean validation clips
    (``noise='none'``) or babble below 15 dB (``noise='babble', snr_db=(-inf, 15)``; the range is
    [low, high) in dB)."""
    if noise is not None and noise not in NOISE_KINDS:
        raise ValueError(f"noise: one of {', '.join(NOISE_KINDS)}, got {noise!r}")
    if snr_db is not None and noise in (None, "none"):
        raise ValueError("snr_db (--snr): give the noise kind it applies to (not none)")
    clips = [c for c in read_clips(folder) if c["split"] == split
             and (noise is None or noise_kind(c) == noise)
             and (snr_db is None or snr_db[0] <= c["aug"]["snr_db"] < snr_db[1])]
    if not 0 < count <= len(clips):
        where = (f" noise={noise}" if noise else "") + (f" snr_db={snr_db}" if snr_db else "")
        raise ValueError(f"count (--count): {count} clips asked, {len(clips)} of split {split!r} "
                         f"match{where}")
    root = Path(folder).resolve()
    return [(str(root / c["path"]), c["label"], c["speaker"])
            for c in random.Random(seed).sample(clips, count)]


def voice_families(folder: str | os.PathLike, split: str = "train") -> dict[str, dict[str, list[str]]]:
    """``{family: {group: [speakers]}}`` of a built corpus's split, from its ``clips.jsonl``.
    Families: ``espeak`` (formant synthesis), ``mbrola`` (diphones) and ``other`` (the voices of
    recorded people: flite, festival, RHVoice, pico)."""
    families: dict[str, dict[str, set[str]]] = {}
    for clip in read_clips(folder):
        if clip["split"] == split:
            family = clip["engine"] if clip["engine"] in ("espeak", "mbrola") else "other"
            families.setdefault(family, {}).setdefault(clip["group"], set()).add(clip["speaker"])
    return {f: {g: sorted(s) for g, s in groups.items()} for f, groups in families.items()}


def voice_subset(folder: str | os.PathLike, fraction: float, seed: int = 0) -> list[str]:
    """The speakers of a random ``fraction`` of the training split's voice groups (a recorded
    person, or an espeak accent with its variants), drawn per family (:func:`voice_families`,
    at least one group each) so the mix of synthesizer kinds stays. Subsets for one seed are
    nested: a smaller fraction keeps a prefix of the same shuffled groups."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"data.train_voices: a fraction in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    speakers = []
    for family, groups in sorted(voice_families(folder).items()):
        names = sorted(groups)
        rng.shuffle(names)
        for group in names[:max(1, round(fraction * len(names)))]:
            speakers += groups[group]
    return sorted(speakers)
