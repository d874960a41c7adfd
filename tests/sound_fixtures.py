"""Fake recorded-sound packages for the sound corpora's tests (the Debian packages of `make
sounds` are not installed in CI): files of three labels in five sources, one per fold."""

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiojax.data.corpora import sound_events as se

LABELS = ("tone", "noise", "clicks")
SR = se.SAMPLE_RATE


def sound(label: str, seconds: float, rng) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    if label == "tone":
        return 0.5 * np.sin(2 * np.pi * rng.uniform(300, 900) * t)
    if label == "noise":
        return 0.3 * rng.standard_normal(t.size)
    y = np.zeros(t.size)
    y[::int(SR * rng.uniform(0.05, 0.2))] = 0.9
    return y


def fake_packages(tmp_path: Path, n_per_source: int = 3):
    """Five sources (one per fold), each with every label; one long stereo 44.1 kHz file.
    Returns (table, source table, {path: samples at 16 kHz})."""
    rng = np.random.default_rng(0)
    rows, sources, audio = [], [], {}
    for k in range(1, se.FOLDS + 1):
        package = f"pkg{k}"
        sources.append(f"src{k}\t{package}\tGPL-2+\t{k}")
        for label in LABELS:
            for i in range(n_per_source):
                seconds = 12.0 if (k, label, i) == (3, "noise", 0) else rng.uniform(0.3, 3.0)
                y = sound(label, seconds, rng).astype(np.float32)
                path = tmp_path / package / f"{label}{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                if seconds > 5:  # stereo at 44.1 kHz: the build must downmix and resample
                    stereo = soxr.resample(y, SR, 44100).astype(np.float32)
                    sf.write(path, np.stack([stereo, stereo], 1), 44100, subtype="FLOAT")
                    audio[str(path)] = soxr.resample(stereo, 44100, SR)
                else:
                    sf.write(path, y, SR, subtype="FLOAT")
                    audio[str(path)] = y
                rows.append(f"{package}\tsrc{k}\t{path}\t{label}")
    table, source_table = tmp_path / "table.tsv", tmp_path / "sources.tsv"
    table.write_text("# package source path label\n" + "\n".join(rows) + "\n")
    source_table.write_text("\n".join(sources) + "\n")
    return table, source_table, audio
