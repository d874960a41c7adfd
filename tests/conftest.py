"""Shared fixtures: real speech synthesized in the test session (never committed)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import audiojax

SPEECH_TEXTS = (
    "the quick brown fox jumps over the lazy dog",
    "seven",
    "audio signal processing with neural networks",
)


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> list[tuple[np.ndarray, int]]:
    """A few espeak-ng utterances as ``[(samples float32 (n,), sample_rate), ...]`` at 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: run the README's test command, which installs it")
    out = tmp_path_factory.mktemp("speech")
    clips = []
    for i, (text, voice) in enumerate(zip(SPEECH_TEXTS, ("en-us", "en-gb+f3", "en-us+m3"))):
        path = out / f"utt{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        clips.append(audiojax.load(path, sr=16000))
    return clips


# --- data pipeline fixtures (tests/test_sources.py, test_pipeline.py, test_check.py) ----------

CLIP_LABELS = ("no", "up", "yes")


@pytest.fixture(scope="session")
def clip_corpus(tmp_path_factory):
    """A small manifest corpus: 12 seeded tone+noise WAVs (16 kHz, 16-bit, 0.3-1.4 s).

    Returns ``{"dir", "manifest", "clips": [(rel_path, label, speaker, samples float32)]}``;
    ``samples`` is what ``audiojax.load`` reads back (16-bit quantized).
    """
    root = tmp_path_factory.mktemp("clip_corpus")
    rng = np.random.default_rng(1234)
    clips = []
    for i in range(12):
        n = 4800 + 1600 * i
        t = np.arange(n) / 16000
        y = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.05 * rng.standard_normal(n)
        rel = f"wav/clip{i:02d}.wav"
        audiojax.save(root / rel, y.astype(np.float32), 16000)
        clips.append((rel, CLIP_LABELS[i % 3], f"spk{i % 4}", audiojax.load(root / rel)[0]))
    manifest = root / "train.tsv"
    manifest.write_text("".join(f"{rel}\t{label}\t{spk}\n" for rel, label, spk, _ in clips))
    return {"dir": root, "manifest": manifest, "clips": clips}


# --- local synthetic corpora (audiojax.data.corpora), built once per session -----------------


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A data dir in which the tiny corpora fixtures below are built (WAV + TFDS)."""
    return tmp_path_factory.mktemp("audiojax_data")


@pytest.fixture(scope="session")
def tiny_commands(tiny_data_dir):
    """The tiny ``commands`` corpus: a CorpusSummary (``.path``, ``.info``, ``.tfds_dir``)."""
    from audiojax.data.corpora import build

    return build("commands", tiny_data_dir, size="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny_sentences(tiny_data_dir):
    """The tiny ``sentences`` corpus: a CorpusSummary (``.path``, ``.info``, ``.tfds_dir``)."""
    from audiojax.data.corpora import build

    return build("sentences", tiny_data_dir, size="tiny", seed=0, progress=False)
