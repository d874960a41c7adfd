"""Recorded sound that is not speech, as noise: the files of Debian ``main`` packages of
instrument samples, drum hits, loops, ambiences and desktop sounds (``make noises``).

Each file is one noise *source*; sources go to splits by a hash of their name (the same in
every build), so the validation and test mixtures carry recordings training never heard. Files
that hold sung or spoken sound, or sound like a voice, are left out (:data:`LEFT_OUT`): speech
in these corpora comes from the synthesizers only.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Package -> (folder, file pattern) as the Debian package installs it.
PACKAGES = {
    "sonic-pi-samples": ("/usr/share/sonic-pi/samples", "*.flac"),
    "oxygen-sounds": ("/usr/share/sounds", "Oxygen-*.ogg"),
}
# Name parts of files left out: a choir, vocal basses, robot and phone voices, a burp, and
# loops that may carry a singer.
LEFT_OUT = ("choir", "voxy", "robot", "phone", "burp", "mika", "garzul")
# Of 20 hash buckets: train 0-13, validation 14-16, test 17-19.
_SPLIT_BUCKETS = (("train", 14), ("validation", 17), ("test", 20))


def split_of(name: str) -> str:
    """The split of the noise source ``name`` (a file name): a fixed function of the name."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest(), 16) % 20
    return next(split for split, end in _SPLIT_BUCKETS if bucket < end)


def installed(packages=PACKAGES) -> dict[str, list[Path]]:
    """``{package: sorted files}`` of the noise packages installed here (absent ones left out),
    without the files :data:`LEFT_OUT` names."""
    out = {}
    for package, (folder, pattern) in packages.items():
        files = sorted(p for p in Path(folder).glob(pattern)
                       if not any(part in p.stem.lower() for part in LEFT_OUT))
        if files:
            out[package] = files
    return out


def sources_by_split(packages=PACKAGES) -> dict[str, list[str]]:
    """``{split: noise files}`` over the installed packages (paths as strings, sorted)."""
    out: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for files in installed(packages).values():
        for p in files:
            out[split_of(p.name)].append(str(p))
    return {s: sorted(v) for s, v in out.items()}


@functools.lru_cache(maxsize=64)
def load(path: str, sr: int) -> np.ndarray:
    """A noise file as mono float32 at ``sr``, silence at its ends trimmed, unit peak."""
    y, rate = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if rate != sr:
        y = soxr.resample(y, rate, sr).astype(np.float32)
    loud = np.flatnonzero(np.abs(y) > 1e-3 * (np.abs(y).max() + 1e-12))
    y = y[loud[0]:loud[-1] + 1] if loud.size else y
    return y / (np.abs(y).max() + 1e-12)


def recorded_noise(rng: np.random.Generator, path: str, n: int, sr: int) -> np.ndarray:
    """``n`` samples of the noise source ``path``: the file from a random point, repeated with
    silent gaps of up to 0.4 s (a short hit becomes a sequence of hits, a long ambience a
    random excerpt); unit RMS over the ``n`` samples."""
    y = load(path, sr)
    out = np.zeros(n, np.float32)
    t = -int(rng.integers(0, y.size))  # start inside the first repetition
    while t < n:
        lo, hi = max(t, 0), min(t + y.size, n)
        out[lo:hi] = y[lo - t:hi - t]
        t += y.size + int(rng.uniform(0.0, 0.4) * sr)
    rms = np.sqrt(np.mean(out.astype(np.float64) ** 2))
    return (out / (rms + 1e-12)).astype(np.float32)
