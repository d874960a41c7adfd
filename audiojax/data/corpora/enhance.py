"""The ``enhance`` corpus (speech enhancement): a synthesized sentence, dry, and the same
sentence with noise added, as a pair of files.

Sentences and voices are those of the ``sentences`` corpus (its text pools and voice splits);
each clip's utterance is placed between silences and left dry (no room, no channel): it is the
target. The mixture adds one noise at an SNR uniform in :data:`SNR_DB` (speech active power
over the noise's mean power, :func:`~audiojax.data.corpora.acoustics.mix_at_snr`), of a kind
drawn with equal chances among those available: coloured noise (power ~ 1/f**beta, beta in
[-1, 2]), babble of 3 to 7 other voices of the clip's split, and recorded non-speech sound
(:mod:`audiojax.data.corpora.noises`, a source of the clip's split: test noises were never
heard in training). Both files share one gain, so the mixture's peak sits in the corpus's
``peak_dbfs`` range and ``mixture - clean`` is the noise (up to 16-bit rounding).

The ``dereverb`` corpus has pairs of the same kind (the same voices, texts, noise kinds and
sources and SNR range; its own draws of them per clip) with the speech heard in a simulated
room before the noise is added (a shoebox room of RT60 uniform in :data:`ROOM_RT60`, image sources plus a
decaying tail, :func:`~audiojax.data.corpora.acoustics.room_ir`), the target still the dry
utterance, aligned on the room's direct path: denoising and dereverberation in one. Its clips
record the room (``rt60``, ``distance``), so evaluation reports SI-SDRi per RT60 bin.

Manifests ``SPLIT.tsv`` are ``mixture<TAB>clean`` (paths relative to the manifest);
``clips.jsonl`` gives each pair's voice, text, SNR and noise (kind, beta, talkers or source).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiojax.data.corpora import acoustics, noises

SNR_DB = (-5.0, 20.0)
ROOM_RT60 = (0.2, 1.0)  # seconds: the dereverb corpus's rooms
SPLITS = ("train", "validation", "test")


def noise_kinds(streams: list[np.ndarray], sources: list[str]) -> tuple[str, ...]:
    """The kinds a split can draw: colour always, babble with a babble bank, recorded with
    noise sources."""
    return ("colour",) + (("babble",) if streams else ()) + (("recorded",) if sources else ())


def mix(rng: np.random.Generator, clean: np.ndarray, sr: int, streams: list[np.ndarray],
        sources: list[str], peak_dbfs: tuple[float, float], room: bool = False
        ) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(mixture, clean, params)``, float32 of ``clean``'s length, for a placed dry utterance;
    with ``room`` the speech is reverberated first (the SNR is the reverberant speech's) and
    ``params["room"]`` gives the room. Every draw happens whatever the kind, so each clip's
    stream of draws starts the same way (the room's come last)."""
    n = clean.size
    kinds = noise_kinds(streams, sources)
    kind = kinds[int(rng.integers(len(kinds)))]
    snr = float(rng.uniform(*SNR_DB))
    beta = float(rng.uniform(-1.0, 2.0))
    talkers = int(rng.integers(3, 8))
    source = sources[int(rng.integers(len(sources)))] if sources else ""
    peak = acoustics.db_to_amp(float(rng.uniform(*peak_dbfs)))
    noise_rng = np.random.default_rng(rng.integers(2 ** 63))
    if kind == "colour":
        noise, what = acoustics.coloured_noise(noise_rng, n, beta), {"beta": round(beta, 3)}
    elif kind == "babble":
        noise, what = acoustics.babble(noise_rng, streams, n, talkers), {"talkers": talkers}
    else:
        noise = noises.recorded_noise(noise_rng, source, n, sr)
        what = {"source": Path(source).name}
    speech = clean
    if room:
        h, room_params = acoustics.room_ir(np.random.default_rng(rng.integers(2 ** 63)), sr,
                                           ROOM_RT60)
        speech = acoustics.reverberate(clean, h)
        what["room"] = {"rt60": round(room_params["rt60"], 3),
                        "distance": round(room_params["distance"], 2)}
    mixture = acoustics.mix_at_snr(speech, noise, snr, sr)
    gain = peak / (np.abs(mixture).max() + acoustics.EPS)
    return ((mixture * gain).astype(np.float32), (clean * gain).astype(np.float32),
            {"snr_db": round(snr, 2), "noise": kind, **what, "peak_dbfs": round(20 * np.log10(peak), 2)})


def write_pair(root: Path, rel_stem: str, mixture: np.ndarray, clean: np.ndarray,
               sr: int) -> tuple[str, str]:
    """Writes ``rel_stem``'s ``_mix.wav`` and ``_clean.wav`` under ``root`` (16-bit PCM);
    returns their paths relative to ``root``."""
    rels = (f"{rel_stem}_mix.wav", f"{rel_stem}_clean.wav")
    for rel, y in zip(rels, (mixture, clean)):
        acoustics.write_wav(root / rel, y, sr)
    return rels
