"""The ``separate`` corpus (two-talker separation, WSJ0-2mix style): two synthesized sentences
of two different persons, summed, with the two sources as the targets.

Sentences and voices are those of the ``sentences`` corpus (its text pools and voice splits),
each utterance placed dry between silences as in ``enhance``. Every clip of a split is the
first source of one mixture; the second is a clip of the same split by another person (voice
group), drawn at random, so the splits stay disjoint by voice. Both sources start at sample 0;
their relative level (active power of source 1 over source 2) is uniform in :data:`LEVEL_DB`.

Versions, as WSJ0-2mix and WHAM! lay them out, in ``VERSION/SPLIT.tsv``
(``mixture<TAB>source1<TAB>source2``, paths relative to the manifest) and
``VERSION/SPLIT/{mix,s1,s2}/NNNNNN.wav``:

- ``wav8k/min``, ``wav16k/min``: cut to the shorter source; ``wav8k/max``, ``wav16k/max``: the
  shorter padded with silence to the longer;
- ``wav8k/min_noisy``, ``wav16k/min_noisy`` (WHAM-style): noise added at an SNR uniform in
  :data:`NOISE_SNR_DB` relative to the louder source (coloured noise or a recorded non-speech
  source of the split, :mod:`audiojax.data.corpora.noises`); the sources are the ``min`` files.
  The SNR is set at 16 kHz: the 8 kHz version, resampled from it, loses the noise above 4 kHz
  and so has a higher SNR than ``clips.jsonl`` records (by up to about 3 dB for white noise,
  more for blue noise, less for noise whose power lies below 4 kHz).

Every version of a mixture shares one gain, set so that the louder of the 16 kHz ``min`` and
``min_noisy`` mixtures peaks in the corpus's ``peak_dbfs`` range, and ``mixture = source1 +
source2 (+ noise)`` up to 16-bit rounding. The corpus's own ``SPLIT.tsv`` is :data:`DEFAULT`
(8 kHz, min: the condition papers report).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from audiojax.data.corpora import acoustics, noises

SPLITS = ("train", "validation", "test")
LEVEL_DB = (-5.0, 5.0)
NOISE_SNR_DB = (-6.0, 3.0)
RATES = (8000, 16000)
VERSIONS = tuple(f"wav{r // 1000}k/{m}" for r in RATES for m in ("min", "max", "min_noisy"))
DEFAULT = "wav8k/min"
SAMPLE_RATE = 8000  # of DEFAULT


def partners(rng: np.random.Generator, groups: list[str]) -> list[int]:
    """For each clip of a split (its voice group in ``groups``), the index of another clip of a
    different group: the second source of the clip's mixture. ValueError when the split has a
    single group."""
    groups_arr = np.array(groups)
    if len(set(groups)) < 2:
        raise ValueError(f"a separation split needs two persons, got only {groups[0]!r}")
    return [int(rng.choice(np.flatnonzero(groups_arr != g))) for g in groups]


def mix_pair(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, sr: int,
             noise_sources: list[str], peak_dbfs: tuple[float, float]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict]:
    """Two dry sources at ``sr`` -> ``(source1, source2, noise, min length, params)``, each
    signal of the longer length (the shorter source padded), all scaled by the shared gain."""
    level = float(rng.uniform(*LEVEL_DB))
    snr = float(rng.uniform(*NOISE_SNR_DB))
    beta = float(rng.uniform(-1.0, 2.0))
    use_recorded = rng.random() < 0.5 and bool(noise_sources)  # drawn either way
    source = noise_sources[int(rng.integers(len(noise_sources)))] if noise_sources else ""
    peak = acoustics.db_to_amp(float(rng.uniform(*peak_dbfs)))
    noise_rng = np.random.default_rng(rng.integers(2 ** 63))
    n_max, n_min = max(a.size, b.size), min(a.size, b.size)
    s1 = np.pad(a, (0, n_max - a.size)) * acoustics.db_to_amp(level / 2) / np.sqrt(
        acoustics.active_power(a, sr))
    s2 = np.pad(b, (0, n_max - b.size)) * acoustics.db_to_amp(-level / 2) / np.sqrt(
        acoustics.active_power(b, sr))
    if use_recorded:
        noise, what = noises.recorded_noise(noise_rng, source, n_max, sr), {
            "noise": "recorded", "source": Path(source).name}
    else:
        noise, what = acoustics.coloured_noise(noise_rng, n_max, beta), {
            "noise": "colour", "beta": round(beta, 3)}
    louder = max(acoustics.active_power(s1[:n_min], sr), acoustics.active_power(s2[:n_min], sr))
    # The SNR of the min_noisy mixture: noise power over its samples.
    noise = noise * np.sqrt(louder / (np.mean(noise[:n_min].astype(np.float64) ** 2) + acoustics.EPS)
                            / 10 ** (snr / 10))
    gain = peak / (max(np.abs(s1 + s2).max(), np.abs(s1 + s2 + noise).max()) + acoustics.EPS)
    params = {"level_db": round(level, 2), "snr_db": round(snr, 2), **what,
              "peak_dbfs": round(20 * np.log10(peak), 2)}
    return (s1 * gain).astype(np.float32), (s2 * gain).astype(np.float32), \
        (noise * gain).astype(np.float32), n_min, params


def write_versions(root: Path, split: str, index: int, s1: np.ndarray, s2: np.ndarray,
                   noise: np.ndarray, n_min: int, sr: int) -> dict[str, tuple[str, str, str]]:
    """Writes mixture ``index`` of ``split`` in every version; returns ``{version: (mixture,
    source1, source2)}``, paths relative to the version's folder."""
    out = {}
    name = f"{index:06d}.wav"
    for rate in RATES:
        sig = [x if rate == sr else soxr.resample(x, sr, rate, quality="HQ").astype(np.float32)
               for x in (s1, s2, noise)]
        cut = round(n_min * rate / sr)
        for mode in ("min", "max", "min_noisy"):
            version = f"wav{rate // 1000}k/{mode}"
            a, b, n = (x[:cut] if mode != "max" else x for x in sig)
            mixture = a + b + (n if mode == "min_noisy" else 0.0)
            rels = tuple(f"{split}/{part}/{name}" for part in ("mix", "s1", "s2"))
            acoustics.write_wav(root / version / rels[0], mixture, rate)
            if mode == "min_noisy":  # the sources are the min version's
                rels = (rels[0],) + tuple(f"../min/{r}" for r in rels[1:])
            else:
                acoustics.write_wav(root / version / rels[1], a, rate)
                acoustics.write_wav(root / version / rels[2], b, rate)
            out[version] = rels
    return out


def write_manifests(root: Path, rows: list[dict]) -> None:
    """Every version's ``VERSION/SPLIT.tsv`` from the rows' ``versions``."""
    for version in VERSIONS:
        for split in SPLITS:
            with open(root / version / f"{split}.tsv", "w") as f:
                f.writelines("\t".join(r["versions"][version]) + "\n"
                             for r in rows if r["split"] == split)
