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
