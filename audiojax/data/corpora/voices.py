"""Offline speech synthesizers as corpus "speakers": discovery and synthesis.

Engines (each used only when installed): espeak-ng (8 English accents, plus formant variants),
flite, festival, MBROLA voices through espeak-ng, SVOX pico (``pico2wave``) and RHVoice.

A :class:`Voice` is one speaker of a corpus. Voices that come from the same recorded person
(CMU ARCTIC ``slt`` exists in flite, festival and RHVoice; ``kal`` in flite and festival; ...)
share a ``group``, and corpus splits are disjoint by group, so one person never sits on both
sides of a split. espeak-ng variants of one accent share that accent's group too.

:func:`synthesize` / :func:`synthesize_many` return float32 mono samples at the requested rate,
with a speaking-rate factor and a pitch factor applied by the engine where it has the control.
festival utterances are synthesized in one ``festival --batch`` process per call of
:func:`synthesize_many`. Failed or silent output raises :class:`SynthesisError` naming the voice
and the text.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from audiojax.audio import resample

ENGINES = ("espeak", "flite", "festival", "mbrola", "pico", "rhvoice")

# espeak-ng English accents (File column of `espeak-ng --voices=en` under gmw/).
ESPEAK_ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# Human-sounding espeak-ng variants (no robots, whispers or croaks), in a fixed order.
ESPEAK_VARIANTS = ("m1", "f1", "m3", "f2", "m5", "f3", "m2", "f4", "m7", "f5", "m4", "m6",
                   "klatt", "klatt3", "Andy", "Annie", "john", "linda", "steph", "max",
                   "paul", "rob", "david", "edward")
FLITE_VOICES = {"slt": "cmu-slt", "awb": "cmu-awb", "rms": "cmu-rms", "kal16": "cmu-kal"}
FESTIVAL_VOICES = {  # festival voice function -> group; directory that proves it is installed
    "kal_diphone": ("cmu-kal", "english/kal_diphone"),
    "ked_diphone": ("ked", "english/ked_diphone"),
    "cmu_us_slt_arctic_hts": ("cmu-slt", "us/cmu_us_slt_arctic_hts"),
}
# MBROLA databases usable for English through espeak-ng: espeak voice -> mbrola database.
MBROLA_VOICES = {
    "mb-us1": "us1", "mb-us2": "us2", "mb-us3": "us3", "mb-en1": "en1",
    "mb-af1-en": "af1", "mb-de1-en": "de1", "mb-de2-en": "de2", "mb-de3-en": "de3",
    "mb-de4-en": "de4", "mb-de5-en": "de5", "mb-de6-en": "de6", "mb-fr1-en": "fr1",
    "mb-fr4-en": "fr4", "mb-gr2-en": "gr2", "mb-hu1-en": "hu1", "mb-nl2-en": "nl2",
    "mb-pl1-en": "pl1", "mb-ro1-en": "ro1", "mb-sw1-en": "sw1", "mb-sw2-en": "sw2",
}
# MBROLA databases of other languages, each a recorded person, spoken through espeak-ng's
# voice for its language (English text read with that language's rules): more persons for the
# speakers corpus (speaker identity does not depend on the language spoken), where
# :func:`discover` is asked for ``all_languages``. Not the Hindi ones (in1, in2): silent on
# some English words.
MBROLA_OTHER_VOICES = {f"mb-{db}": db for db in (
    "ar1", "ar2", "br1", "br2", "br3", "br4", "ca1", "ca2", "cr1", "cz1", "cz2", "ee1", "es1",
    "es2", "es3", "es4", "fr2", "fr3", "fr5", "fr6", "fr7", "de7", "de8", "gr1", "hb1", "hb2",
    "ic1", "id1", "ir1", "it1", "it2", "it3", "it4", "jp1", "jp2", "jp3", "la1",
    "lt1", "lt2", "ma1", "mx1", "mx2", "nl1", "nl3", "nz1", "pt1", "tl1", "tr1", "tr2", "vz1")}
PICO_VOICES = {"en-US": "pico-us", "en-GB": "pico-gb"}
RHVOICE_VOICES = {"alan": "cmu-awb", "bdl": "cmu-bdl", "clb": "cmu-clb", "slt": "cmu-slt",
                  "evgeniy-eng": "rh-evgeniy", "lyubov": "rh-lyubov"}

MBROLA_DIRS = ("/usr/share/mbrola", "/usr/lib/x86_64-linux-gnu/espeak-ng-data/mbrola",
               "/usr/local/share/mbrola")
FESTIVAL_DIRS = ("/usr/share/festival/voices", "/usr/local/share/festival/voices")
RHVOICE_DIRS = ("/usr/share/RHVoice/voices", "/usr/local/share/RHVoice/voices")
PICO_LANG_DIRS = ("/usr/share/pico/lang",)

_TIMEOUT = 120


class SynthesisError(RuntimeError):
    """An engine failed for a voice and a text, or returned silence."""

    def __init__(self, voice: "Voice | str", text: str, problem: str):
        self.voice = str(voice)
        self.text, self.problem = text, problem
        super().__init__(f"voice {self.voice}: synthesizing {text!r} failed: {problem}")

    def __reduce__(self):  # survives the trip back from a corpus builder's worker process
        return (SynthesisError, (self.voice, self.text, self.problem))


@dataclasses.dataclass(frozen=True, order=True)
class Voice:
    engine: str    # one of ENGINES
    name: str      # engine's own voice name (espeak: accent, mbrola: espeak voice name)
    group: str     # recorded person / base voice; splits are disjoint by group
    variant: str = ""  # espeak-ng variant (e.g. "m3"), "" for the base voice

    @property
    def id(self) -> str:
        """File-system safe speaker id, e.g. ``espeak-en-us-m3``, ``flite-slt``."""
        s = f"{self.engine}-{self.name}" + (f"-{self.variant}" if self.variant else "")
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in s).lower()

    def __str__(self) -> str:
        return self.id


def _which(cmd: str) -> bool:
    return shutil.which(cmd) is not None


def _first_dir(dirs, sub) -> Path | None:
    for d in dirs:
        p = Path(d) / sub
        if p.exists():
            return p
    return None


@functools.lru_cache(maxsize=None)
def _espeak_voice_files() -> frozenset[str]:
    """The voice names espeak-ng lists for English (accents and mbrola voices)."""
    if not _which("espeak-ng"):
        return frozenset()
    names = set()
    for opt in ("--voices=en", "--voices=mb"):
        out = subprocess.run(["espeak-ng", opt], capture_output=True, text=True).stdout
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 5:  # Pty Language Age/Gender VoiceName File [Other languages]
                names.add(parts[1].lower())
                names.add(parts[4].split("/")[-1].lower())
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def _flite_voices() -> frozenset[str]:
    """flite's built-in voices (it silently falls back to its default for unknown names)."""
    if not _which("flite"):
        return frozenset()
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    return frozenset(out.replace("Voices available:", "").split())


def discover(engines: Sequence[str] | None = None, all_languages: bool = False) -> list[Voice]:
    """Installed base voices (no espeak-ng variants), in a fixed order.

    ``engines`` restricts the engines looked at (default: all of :data:`ENGINES`);
    ``all_languages`` adds the voices made for other languages (:data:`MBROLA_OTHER_VOICES`).
    """
    engines = ENGINES if engines is None else tuple(engines)
    found: list[Voice] = []
    if "espeak" in engines and _which("espeak-ng"):
        known = _espeak_voice_files()
        for acc in ESPEAK_ACCENTS:
            if acc in known or acc == "en-us":
                found.append(Voice("espeak", acc, f"espeak-{acc}"))
    if "flite" in engines and _which("flite"):
        out = _flite_voices()
        for v, g in FLITE_VOICES.items():
            if v in out:
                found.append(Voice("flite", v, g))
    if "festival" in engines and _which("festival"):
        for v, (g, sub) in FESTIVAL_VOICES.items():
            if _first_dir(FESTIVAL_DIRS, sub):
                found.append(Voice("festival", v, g))
    if "mbrola" in engines and _which("espeak-ng") and _which("mbrola"):
        known = _espeak_voice_files()
        for v, db in MBROLA_VOICES.items():
            if _first_dir(MBROLA_DIRS, db) and (v in known or v.removesuffix("-en") in known):
                found.append(Voice("mbrola", v, f"mbrola-{db}"))
        for v, db in MBROLA_OTHER_VOICES.items() if all_languages else ():
            if _first_dir(MBROLA_DIRS, db) and v in known:
                found.append(Voice("mbrola", v, f"mbrola-{db}"))
    if "pico" in engines and _which("pico2wave"):
        for v, g in PICO_VOICES.items():
            found.append(Voice("pico", v, g))
    if "rhvoice" in engines and _which("RHVoice-test"):
        for v, g in RHVOICE_VOICES.items():
            if _first_dir(RHVOICE_DIRS, v):
                found.append(Voice("rhvoice", v, g))
    return found


def with_variants(voices: Sequence[Voice], per_accent: int, start: int = 0) -> list[Voice]:
    """espeak-ng variants of the espeak accents in ``voices``: ``per_accent`` each.

    Accent ``i`` takes variants from :data:`ESPEAK_VARIANTS` starting at ``start + 3 * i``
    (cyclically), so different accents get different variant mixes.
    """
    out = []
    accents = [v for v in voices if v.engine == "espeak" and not v.variant]
    for i, v in enumerate(accents):
        for k in range(per_accent):
            var = ESPEAK_VARIANTS[(start + 3 * i + k) % len(ESPEAK_VARIANTS)]
            out.append(dataclasses.replace(v, variant=var))
    return out


@functools.lru_cache(maxsize=None)
def engine_versions() -> dict[str, str]:
    """Installed engine versions (for info.json)."""
    def run(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (p.stdout + p.stderr).strip().splitlines()
        except (OSError, subprocess.SubprocessError):
            return []

    def dpkg(pkg):
        lines = run(["dpkg-query", "-W", "-f=${Version}", pkg])
        return lines[0] if lines else ""

    vers = {}
    if _which("espeak-ng"):
        vers["espeak-ng"] = " ".join((run(["espeak-ng", "--version"]) or [""])[0].split()[2:4])
    if _which("flite"):
        vers["flite"] = next((l.strip() for l in run(["flite", "--version"]) if "version" in l), "")
    for name, pkg in (("festival", "festival"), ("mbrola", "mbrola"),
                      ("pico", "libttspico-utils"), ("rhvoice", "rhvoice")):
        if (name != "pico" or _which("pico2wave")) and (name != "rhvoice" or _which("RHVoice-test")):
            v = dpkg(pkg)
            if v:
                vers[name] = v
    return vers


# --------------------------------------------------------------------------------------------
# Synthesis


def _read_wav_bytes(data: bytes, voice, text) -> tuple[np.ndarray, int]:
    if len(data) <= 44:
        raise SynthesisError(voice, text, "the engine wrote no audio")
    try:
        y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types
        raise SynthesisError(voice, text, f"unreadable output ({e})") from None
    return y.mean(axis=1), sr


def _read_wav_file(path: Path, voice, text) -> tuple[np.ndarray, int]:
    if not path.exists():
        raise SynthesisError(voice, text, "the engine wrote no file")
    return _read_wav_bytes(path.read_bytes(), voice, text)


def _run(cmd, voice, text, **kw) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT, **kw)
    except (OSError, subprocess.SubprocessError) as e:
        raise SynthesisError(voice, text, f"{cmd[0]} could not run ({e})") from None
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip()[-300:]
        raise SynthesisError(voice, text, f"{cmd[0]} exited with {p.returncode}: {err}")
    return p


def _check(y: np.ndarray, sr: int, voice, text) -> np.ndarray:
    if y.size < 0.03 * sr:
        raise SynthesisError(voice, text, f"only {y.size} samples")
    if not np.all(np.isfinite(y)):
        raise SynthesisError(voice, text, "non-finite samples")
    peak = float(np.max(np.abs(y)))
    if peak < 1e-3:
        raise SynthesisError(voice, text, f"silent output (peak {peak:.2e})")
    return y


def _espeak_cmd(voice: Voice, text: str, rate: float, pitch: float) -> list[str]:
    name = voice.name + (f"+{voice.variant}" if voice.variant else "")
    wpm = int(np.clip(round(175 * rate), 80, 450))
    p = int(np.clip(round(50 + 100 * (pitch - 1.0)), 0, 99))
    return ["espeak-ng", "-v", name, "-s", str(wpm), "-p", str(p), "--stdout", text]


def synthesize(voice: Voice, text: str, rate: float = 1.0, pitch: float = 1.0,
               sr: int = 16000, workdir: str | os.PathLike | None = None) -> np.ndarray:
    """One utterance as float32 samples at ``sr``.

    ``rate`` > 1 speaks faster (engine speaking rate; all engines), ``pitch`` > 1 raises the
    voice (espeak-ng, mbrola, pico, RHVoice; flite and festival ignore it: apply pitch after).
    """
    return synthesize_many(voice, [(text, rate, pitch)], sr=sr, workdir=workdir)[0]


def synthesize_many(voice: Voice, items: Sequence[tuple[str, float, float]], sr: int = 16000,
                    workdir: str | os.PathLike | None = None) -> list[np.ndarray]:
    """Several ``(text, rate, pitch)`` utterances of one voice (festival: one process)."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="synth-") as tmp:
        tmp = Path(tmp)
        if voice.engine == "festival":
            raw = _festival_batch(voice, items, tmp)
        else:
            raw = [_synth_one(voice, t, r, p, tmp) for t, r, p in items]
    out = []
    for (y, native), (text, _, _) in zip(raw, items):
        y = _check(y, native, voice, text)
        out.append(resample(y, native, sr).astype(np.float32))
    return out


def _synth_one(voice: Voice, text: str, rate: float, pitch: float, tmp: Path):
    if not text.strip():
        raise SynthesisError(voice, text, "empty text")
    if voice.engine in ("espeak", "mbrola"):
        p = _run(_espeak_cmd(voice, text, rate, pitch), voice, text)
        return _read_wav_bytes(p.stdout, voice, text)
    if voice.engine == "flite":
        if voice.name not in _flite_voices():
            raise SynthesisError(voice, text, f"flite has no voice {voice.name!r} "
                                              f"(it has {sorted(_flite_voices())})")
        out = tmp / "flite.wav"
        out.unlink(missing_ok=True)
        _run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / rate:.4f}",
              "-t", text, "-o", str(out)], voice, text)
        return _read_wav_file(out, voice, text)
    if voice.engine == "pico":
        out = tmp / "pico.wav"
        out.unlink(missing_ok=True)
        markup = (f"<speed level='{int(round(100 * rate))}'><pitch level='{int(round(100 * pitch))}'>"
                  f"{text}</pitch></speed>")
        _run(["pico2wave", "-l", voice.name, "-w", str(out), markup], voice, text)
        return _read_wav_file(out, voice, text)
    if voice.engine == "rhvoice":
        out = tmp / "rh.wav"
        out.unlink(missing_ok=True)
        _run(["RHVoice-test", "-p", voice.name, "-r", str(int(round(100 * rate))),
              "-t", str(int(round(100 * pitch))), "-o", str(out)], voice, text,
             input=text.encode())
        return _read_wav_file(out, voice, text)
    raise SynthesisError(voice, text, f"unknown engine {voice.engine!r}")


def _festival_batch(voice: Voice, items, tmp: Path):
    lines = [f"(voice_{voice.name})"]
    paths = []
    for i, (text, rate, _pitch) in enumerate(items):
        if not text.strip() or '"' in text or "\\" in text:
            raise SynthesisError(voice, text, "text is empty or holds quotes/backslashes")
        path = tmp / f"u{i:05d}.wav"
        paths.append(path)
        lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)')
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n")
    first = items[0][0] if items else ""
    p = _run(["festival", "--batch", str(script)], voice, first)
    err = p.stderr.decode(errors="replace")
    out = []
    for path, (text, _, _) in zip(paths, items):
        if not path.exists():
            raise SynthesisError(voice, text, f"festival wrote no file ({err.strip()[-300:]})")
        out.append(_read_wav_file(path, voice, text))
    return out
