"""Batched log-mel, MFCC and pseudo-CQT: audiojax (jit-compiled) vs librosa, and the rfft floors.

Usage: .venv/bin/python benchmarks/frontends.py [--quick] [--repeats N]

For each batch shape, every method is timed once per round, rounds interleaved (so machine
load hits all methods alike), and the median over rounds is reported. Compile time is measured
separately (lower + compile). The floor is a compiled bare ``rfft`` + power on already-framed,
already-windowed data of the same size as the STFT frames: what no log-mel can beat (for the
pseudo-CQT: the same on its frames of the lowest bin's FFT size). The mel floor adds the dense
mel projection to it (``power @ filterbank``): all a log-mel computes but framing, window, log
and clipping.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import librosa
import numpy as np

from audiojax import frontends as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cpu_name  # noqa: E402

SR, N_FFT, WIN, HOP, N_MELS, N_MFCC = 16000, 512, 400, 160, 80, 20
MEL = dict(sr=SR, n_fft=N_FFT, win_length=WIN, hop_length=HOP, n_mels=N_MELS)
SHAPES = {"64 x 1 s": (64, SR), "8 x 10 s": (8, 10 * SR)}
CQT = dict(sr=SR, hop_length=HOP, fmin=65.4, n_bins=80)   # LogCQT's defaults: C2 up 80 semitones
CQT_FFT = 16384                                            # its FFT size at 16 kHz


def _block(x):
    return jax.block_until_ready(x) if isinstance(x, jax.Array) else x


def _compile(fn, arg) -> tuple[callable, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(arg).compile()
    return compiled, time.perf_counter() - start


def bench_shape(batch: int, samples: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)
    y_dev = jnp.asarray(y)
    n_frames = int(F.frames_for_length(samples, N_FFT, HOP))
    framed = jnp.asarray(rng.standard_normal((batch, n_frames, N_FFT)).astype(np.float32))

    logmel, c_logmel = _compile(lambda x: F.power_to_db(F.melspectrogram(y=x, **MEL)), y_dev)
    mfcc, c_mfcc = _compile(lambda x: F.mfcc(y=x, n_mfcc=N_MFCC, **MEL), y_dev)
    floor, _ = _compile(lambda f: jnp.square(jnp.abs(jnp.fft.rfft(f, axis=-1))), framed)
    fb = jnp.asarray(F.mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS).T)
    mel_floor, _ = _compile(lambda f: jnp.square(jnp.abs(jnp.fft.rfft(f, axis=-1))) @ fb, framed)
    cqt, c_cqt = _compile(lambda x: F.pseudo_cqt(x, **CQT), y_dev)
    cqt_framed = jnp.asarray(rng.standard_normal((batch, n_frames, CQT_FFT)).astype(np.float32))
    cqt_floor, _ = _compile(lambda f: jnp.abs(jnp.fft.rfft(f, axis=-1)), cqt_framed)

    methods = {
        "audiojax log-mel": lambda: logmel(y_dev),
        "librosa log-mel": lambda: librosa.power_to_db(librosa.feature.melspectrogram(y=y, **MEL)),
        "audiojax MFCC": lambda: mfcc(y_dev),
        "librosa MFCC": lambda: librosa.feature.mfcc(y=y, n_mfcc=N_MFCC, **MEL),
        "floor: rfft + power": lambda: floor(framed),
        "floor: + mel matmul": lambda: mel_floor(framed),
        "audiojax pseudo-CQT": lambda: cqt(y_dev),
        "librosa pseudo-CQT": lambda: librosa.pseudo_cqt(y, **CQT),
        "floor: rfft 16384": lambda: cqt_floor(cqt_framed),
    }
    times = {name: [] for name in methods}
    for name, fn in methods.items():  # warm-up (librosa caches filterbanks, numba compiles)
        _block(fn())
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            _block(fn())
            times[name].append(time.perf_counter() - start)
    result = {name: float(np.median(t)) for name, t in times.items()}
    result["compile log-mel"] = c_logmel
    result["compile MFCC"] = c_mfcc
    result["compile pseudo-CQT"] = c_cqt
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 50, quick 5)")
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 50)
    warnings.filterwarnings("ignore", category=UserWarning)

    print(f"machine: {cpu_name()}, jax {jax.__version__} on {jax.default_backend()}, librosa {librosa.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"features: sr={SR}, n_fft={N_FFT}, win_length={WIN}, hop_length={HOP}, n_mels={N_MELS}, "
          f"n_mfcc={N_MFCC}; pseudo-CQT fmin={CQT['fmin']} Hz, n_bins={CQT['n_bins']}, hop "
          f"{HOP}; float32; median of {repeats} interleaved rounds\n")
    header = (f"{'batch':<10} {'method':<22} {'median ms':>10} {'vs librosa':>11} {'vs floor':>9} "
              f"{'vs mel floor':>13}")
    print(header)
    print("-" * len(header))
    for label, (batch, samples) in SHAPES.items():
        r = bench_shape(batch, samples, repeats)
        mel = "floor: + mel matmul"
        rows = [  # (method, its librosa, its floor, the floor with the mel projection)
            ("audiojax log-mel", "librosa log-mel", "floor: rfft + power", mel),
            ("librosa log-mel", None, "floor: rfft + power", mel),
            ("audiojax MFCC", "librosa MFCC", "floor: rfft + power", mel),
            ("librosa MFCC", None, "floor: rfft + power", mel),
            ("floor: rfft + power", None, "floor: rfft + power", None),
            (mel, None, "floor: rfft + power", mel),
            ("audiojax pseudo-CQT", "librosa pseudo-CQT", "floor: rfft 16384", None),
            ("librosa pseudo-CQT", None, "floor: rfft 16384", None),
            ("floor: rfft 16384", None, "floor: rfft 16384", None),
        ]
        for name, reference, floor, mel_floor in rows:
            sp = f"{r[reference] / r[name]:>10.2f}x" if reference else f"{'':>11}"
            mf = f"{r[name] / r[mel_floor]:>12.2f}x" if mel_floor else ""
            print(f"{label:<10} {name:<22} {1e3 * r[name]:>10.2f} {sp} {r[name] / r[floor]:>8.2f}x {mf}")
        print(f"{label:<10} compile: log-mel {r['compile log-mel']:.2f} s, MFCC "
              f"{r['compile MFCC']:.2f} s, pseudo-CQT {r['compile pseudo-CQT']:.2f} s\n")


if __name__ == "__main__":
    main()
