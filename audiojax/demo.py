"""End-to-end front-end demo: speak a phrase with espeak-ng, featurize it on device, plot it.

Also prints how far audiojax's log-mel and MFCC are from librosa's on the same clip, so the
demo doubles as a quick check that an installation computes the right numbers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import librosa
import numpy as np

from audiojax import audio, frontends, plots

# 25 ms windows every 10 ms at 16 kHz: the usual speech front-end.
N_FFT, HOP, N_MELS, N_MFCC = 400, 160, 64, 20


def speak(text: str, voice: str, sample_rate: int) -> np.ndarray:
    """``text`` said by espeak-ng ``voice``, float32 ``(samples,)`` at ``sample_rate`` Hz."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        run = subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text],
                             capture_output=True, text=True)
        if run.returncode != 0 or not wav.exists():
            raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {run.stderr.strip()}")
        y, _ = audio.load(wav, sr=sample_rate)
    return y


@jax.jit
def _features(y):
    mel = frontends.melspectrogram(y=y, sr=16000, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return frontends.power_to_db(mel), frontends.mfcc(
        y=y, sr=16000, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)


def run(out_dir: Path, text: str, voice: str = "en-us", sample_rate: int = 16000) -> Path:
    """Writes ``out_dir/speech.wav`` and ``out_dir/features.png``; returns the PNG's path."""
    if sample_rate != 16000:
        raise ValueError(f"sample_rate: the demo's front-end is set for 16000 Hz, got {sample_rate}")
    out_dir.mkdir(parents=True, exist_ok=True)
    y = speak(text, voice, sample_rate)
    audio.save(out_dir / "speech.wav", y, sample_rate)

    start = time.perf_counter()
    log_mel, mfcc = jax.block_until_ready(_features(y))
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    log_mel, mfcc = jax.block_until_ready(_features(y))
    cached = time.perf_counter() - start
    log_mel, mfcc = np.asarray(log_mel), np.asarray(mfcc)

    ref_mel = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, sr=sample_rate, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS))
    ref_mfcc = librosa.feature.mfcc(y=y, sr=sample_rate, n_mfcc=N_MFCC, n_fft=N_FFT,
                                    hop_length=HOP, n_mels=N_MELS)
    png = out_dir / "features.png"
    plots.features_png(png, y, sample_rate, log_mel, mfcc, HOP, title=f'"{text}" ({voice})')

    print(f"clip: {len(y) / sample_rate:.2f} s at {sample_rate} Hz, voice {voice}")
    print(f"log-mel {log_mel.shape} and MFCC {mfcc.shape}: first call {compiled * 1e3:.0f} ms "
          f"(compile), then {cached * 1e3:.2f} ms")
    print(f"max |audiojax - librosa|: log-mel {np.abs(log_mel - ref_mel).max():.2e} dB, "
          f"MFCC {np.abs(mfcc - ref_mfcc).max():.2e}")
    print(f"wrote {out_dir / 'speech.wav'} and {png}")
    return png
