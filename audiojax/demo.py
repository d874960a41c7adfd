"""End-to-end front-end demo: speak a phrase with espeak-ng, featurize it on device, plot it.

Also prints how far audiojax's log-mel and MFCC are from librosa's on the same clip, so the
demo doubles as a quick check that an installation computes the right numbers.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import librosa
import numpy as np

from audiojax import audio, frontends, plots
from audiojax.data.corpora import voices

# 25 ms windows every 10 ms at 16 kHz: the usual speech front-end.
SAMPLE_RATE, N_FFT, HOP, N_MELS, N_MFCC = 16000, 400, 160, 64, 20


def speak(text: str, voice: str) -> np.ndarray:
    """``text`` said by espeak-ng voice ``voice`` (``en-us``, ``en-gb+f3``), float32 at 16 kHz."""
    accent, _, variant = voice.partition("+")
    return voices.synthesize(voices.Voice("espeak", accent, accent, variant), text, sr=SAMPLE_RATE)


@jax.jit
def _features(y):
    mel = frontends.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return frontends.power_to_db(mel), frontends.mfcc(
        y=y, sr=SAMPLE_RATE, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)


def run(out_dir: Path, text: str, voice: str = "en-us") -> Path:
    """Writes ``out_dir/speech.wav`` and ``out_dir/features.png``; returns the PNG's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sample_rate = SAMPLE_RATE
    y = speak(text, voice)
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
