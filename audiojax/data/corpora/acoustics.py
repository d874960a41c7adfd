"""Acoustic augmentation for synthetic corpora: trimming, speed/tempo, rooms, noise, channels.

Everything takes an explicit ``numpy.random.Generator`` so that a clip's result depends only
on the generator's seed. Rooms are pyroomacoustics shoeboxes (image source method for the early
reflections) with a late-reverberation tail of exponentially decaying noise matched to the
drawn RT60 (the image method alone at high order is slow).
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
import soxr

from audiojax.data.corpora.voices import SynthesisError

EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the per-clip random augmentation."""

    rate: tuple[float, float] = (0.8, 1.3)      # engine speaking rate factor
    pitch: tuple[float, float] = (0.75, 1.3)    # engine pitch factor (where supported)
    speed: tuple[float, float] = (0.9, 1.1)     # resampling: shifts pitch+formants and duration
    tempo: tuple[float, float] = (0.85, 1.15)   # sox WSOLA tempo: duration only
    p_room: float = 0.75                        # probability of a simulated room
    rt60: tuple[float, float] = (0.15, 0.9)     # seconds
    p_clean: float = 0.15                       # probability of no additive noise
    snr_db: tuple[float, float] = (5.0, 30.0)
    p_babble: float = 0.4                       # of noisy clips: babble (else coloured noise,
    p_both: float = 0.2                         # or both)
    babble_talkers: tuple[int, int] = (3, 7)
    p_channel: float = 0.3                      # random band limitation (phone/cheap mic)
    peak_dbfs: tuple[float, float] = (-24.0, -1.0)
    # Probability that a training clip stays dry (no room, noise or channel: as the clean test
    # split records its voices); validation and test clips are never dry by this draw.
    p_dry: float = 0.25


def db_to_amp(db):
    return 10.0 ** (np.asarray(db) / 20.0)


def trim_silence(y: np.ndarray, sr: int, top_db: float = 40.0, frame: float = 0.016,
                 pad: float = 0.01) -> np.ndarray:
    """Cuts leading/trailing frames quieter than ``top_db`` below the loudest frame."""
    n = max(1, int(frame * sr))
    hop = n // 2
    if y.size <= n:
        return y
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::hop]
    e = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + EPS)
    active = np.flatnonzero(e > e.max() - top_db)
    if active.size == 0:
        return y
    p = int(pad * sr)
    start = max(0, active[0] * hop - p)
    end = min(y.size, active[-1] * hop + n + p)
    return y[start:end]


def speed(y: np.ndarray, factor: float) -> np.ndarray:
    """Plays ``factor`` times faster (pitch and formants shift with it), like a tape."""
    if abs(factor - 1.0) < 1e-6:
        return y
    # Treat the samples as recorded at sr*factor and resample to sr.
    return soxr.resample(y.astype(np.float32), 1000.0 * factor, 1000.0, quality="HQ").astype(np.float32)


def pitch_shift(y: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Raises the pitch and formants ``factor`` times keeping the duration (a speed change
    undone by a tempo change), for engines that have no pitch control."""
    return tempo(speed(y, factor), sr, 1.0 / factor)


def tempo(y: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Changes duration by 1/``factor`` keeping the pitch (sox ``tempo -s``, WSOLA)."""
    if abs(factor - 1.0) < 1e-4:
        return y
    cmd = ["sox", "-q", "-t", "raw", "-r", str(sr), "-e", "floating-point", "-b", "32", "-c", "1",
           "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-", "tempo", "-s", f"{factor:.5f}"]
    p = subprocess.run(cmd, input=np.ascontiguousarray(y, np.float32).tobytes(),
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise SynthesisError("sox", f"tempo {factor}", f"sox failed: {p.stderr.decode(errors='replace')}")
    out = np.frombuffer(p.stdout, np.float32).copy()
    if out.size == 0:
        raise SynthesisError("sox", f"tempo {factor}", "sox returned no audio")
    return out


def room_ir(rng: np.random.Generator, sr: int, rt60_range=(0.15, 0.9)) -> tuple[np.ndarray, dict]:
    """A random shoebox room impulse response with no pre-delay: the direct path's peak at
    index 8, after the left half of its fractional-delay filter (``reverberate`` drops those 8)."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(2.5, 10.0), rng.uniform(2.5, 8.0), rng.uniform(2.3, 4.0)])
    rt60 = float(rng.uniform(*rt60_range))
    # Small rooms cannot reach a long RT60 with the Sabine formula: lower it until it can.
    for _ in range(20):
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
            break
        except ValueError:
            rt60 *= 0.8
    else:  # pragma: no cover - tiny rooms
        absorption, max_order = 0.5, 8
    margin = 0.4
    src = np.array([rng.uniform(margin, d - margin) for d in dims])
    mic = np.array([rng.uniform(margin, d - margin) for d in dims])
    src[2] = rng.uniform(1.0, min(1.9, dims[2] - margin))
    mic[2] = rng.uniform(0.5, min(2.0, dims[2] - margin))
    room = pra.ShoeBox(dims.tolist(), fs=sr, materials=pra.Material(float(absorption)),
                       max_order=int(min(max_order, 8)))
    room.add_source(src.tolist())
    room.add_microphone(mic.tolist())
    room.compute_rir()
    h = np.asarray(room.rir[0][0], np.float64)
    # Late tail: decaying noise from where the early part ends, continuing its energy.
    n_tail = int(min(rt60, 1.2) * sr)
    onset = int(np.argmax(np.abs(h)))
    t = np.arange(n_tail) / sr
    tail = rng.standard_normal(n_tail) * np.exp(-6.9078 * t / rt60)
    start = onset + int(0.05 * sr)
    full = np.zeros(max(h.size, start + n_tail))
    full[:h.size] = h
    ref = np.sqrt(np.mean(h[start - int(0.02 * sr):start] ** 2) + EPS) if start <= h.size else 0.0
    full[start:start + n_tail] += tail * (ref if ref > 0 else 1e-3 * np.abs(h).max())
    full = full[max(0, onset - 8):]  # keep the fractional-delay filter's left half
    full /= np.abs(full).max() + EPS
    return full.astype(np.float32), {"rt60": rt60, "room": dims.round(2).tolist(),
                                      "distance": float(np.linalg.norm(src - mic))}


def reverberate(y: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Convolves and keeps ``len(y)`` samples, aligned on the direct path (no shift)."""
    out = scipy.signal.fftconvolve(y, h)[: y.size + 8][8:]  # 8 = the IR's kept pre-onset part
    out = np.pad(out, (0, max(0, y.size - out.size)))[: y.size]
    # Keep the direct-to-reverberant balance but restore a comparable level.
    return (out * (np.abs(y).max() / (np.abs(out).max() + EPS))).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**beta (0 white, 1 pink, 2 brown, -1 blue), unit RMS."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    spec *= f ** (-beta / 2.0)
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + EPS)).astype(np.float32)


def babble(rng: np.random.Generator, streams: list[np.ndarray], n: int, talkers: int) -> np.ndarray:
    """Sum of ``talkers`` random excerpts of ``streams`` (speech of other voices), unit RMS."""
    out = np.zeros(n, np.float64)
    for _ in range(talkers):
        s = streams[int(rng.integers(len(streams)))]
        if s.size <= n:
            seg = np.pad(s, (0, n - s.size), mode="wrap")
        else:
            start = int(rng.integers(0, s.size - n))
            seg = s[start:start + n]
        out += seg / (np.sqrt(np.mean(seg ** 2)) + EPS) * rng.uniform(0.5, 1.0)
    return (out / (np.sqrt(np.mean(out ** 2)) + EPS)).astype(np.float32)


def active_power(y: np.ndarray, sr: int) -> float:
    """Mean power of the frames within 30 dB of the loudest (speech power for an SNR)."""
    n = int(0.02 * sr)
    if y.size < n:
        return float(np.mean(y ** 2) + EPS)
    frames = y[: y.size // n * n].reshape(-1, n).astype(np.float64)
    p = np.mean(frames ** 2, axis=1)
    keep = p > p.max() * 1e-3
    return float(np.mean(p[keep]) + EPS)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, sr: int) -> np.ndarray:
    ps = active_power(speech, sr)
    pn = float(np.mean(noise.astype(np.float64) ** 2) + EPS)
    return (speech + noise * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))).astype(np.float32)


def channel(rng: np.random.Generator, y: np.ndarray, sr: int) -> tuple[np.ndarray, str]:
    """A random band limitation: telephone-like band-pass or a low-pass (cheap microphone)."""
    if rng.random() < 0.5:
        lo, hi = rng.uniform(200, 400), rng.uniform(3200, 3800)
        sos = scipy.signal.butter(4, [lo, hi], "bandpass", fs=sr, output="sos")
        desc = f"bandpass {lo:.0f}-{hi:.0f}"
    else:
        hi = rng.uniform(3500, 7000)
        sos = scipy.signal.butter(4, hi, "lowpass", fs=sr, output="sos")
        desc = f"lowpass {hi:.0f}"
    return scipy.signal.sosfilt(sos, y).astype(np.float32), desc


def augment(rng: np.random.Generator, y: np.ndarray, sr: int, cfg: AugmentConfig,
            babble_streams: list[np.ndarray] | None, dry_ok: bool = False
            ) -> tuple[np.ndarray, dict]:
    """Room, additive noise, channel and level for a placed clip; returns (float32, params).
    With ``dry_ok`` (training clips), the clip keeps only its level with probability
    ``cfg.p_dry``.

    The draws of the choices happen whether or not they are used, so every clip's stream starts
    the same way (robust determinism).
    """
    n = y.size
    u_dry, u_room, u_clean, u_kind, u_chan = rng.random(5)
    if dry_ok and u_dry < cfg.p_dry:
        u_room, u_clean, u_chan = 1.0, 0.0, 1.0
    snr = float(rng.uniform(*cfg.snr_db))
    beta = float(rng.uniform(-1.0, 2.0))
    talkers = int(rng.integers(cfg.babble_talkers[0], cfg.babble_talkers[1] + 1))
    peak_db = float(rng.uniform(*cfg.peak_dbfs))
    params: dict = {}
    if u_room < cfg.p_room:
        h, room = room_ir(rng, sr, cfg.rt60)
        y = reverberate(y, h)
        params["room"] = room
    if u_clean >= cfg.p_clean:
        use_babble = bool(babble_streams) and u_kind < cfg.p_babble + cfg.p_both
        use_colour = not use_babble or u_kind >= cfg.p_babble
        noise = np.zeros(n, np.float32)
        if use_colour:
            noise += coloured_noise(rng, n, beta)
        if use_babble:
            noise += babble(rng, babble_streams, n, talkers)
        y = mix_at_snr(y, noise, snr, sr)
        params.update(snr_db=round(snr, 2), noise=("babble+" if use_babble else "") +
                      (f"colour{beta:+.2f}" if use_colour else ""))
    if u_chan < cfg.p_channel:
        y, desc = channel(rng, y, sr)
        params["channel"] = desc
    y = y * (db_to_amp(peak_db) / (np.abs(y).max() + EPS))
    params["peak_dbfs"] = round(peak_db, 2)
    return y.astype(np.float32), params


def to_int16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.round(y * 32767.0), -32767, 32767).astype(np.int16)


def write_wav(path: Path, y: np.ndarray, sr: int) -> None:
    """``y`` as a 16-bit PCM WAV at ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), to_int16(y), sr, subtype="PCM_16")
