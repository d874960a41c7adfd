"""Audio file I/O: load and save waveforms as float32, with one error type for bad files.

Every failure to read a clip (missing, empty, truncated, undecodable, unsupported format,
non-finite samples) raises :class:`AudioError`, whose message names the file and the problem,
so that data checks and training can report it instead of crashing somewhere inside a decoder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Container formats we write; reading accepts whatever libsndfile decodes.
_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}


class AudioError(ValueError):
    """A clip that cannot be used. ``path`` names the file; the message says what is wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resamples ``y`` of shape ``(..., samples)`` from ``orig_sr`` to ``target_sr`` Hz (soxr HQ)."""
    if orig_sr == target_sr:
        return y
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got orig_sr={orig_sr}, target_sr={target_sr}")
    y = np.asarray(y, np.float32)
    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32)
    # soxr takes (samples, channels): move every leading axis into channels.
    flat = y.reshape(-1, y.shape[-1]).T
    out = soxr.resample(np.ascontiguousarray(flat), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out.T).reshape(*y.shape[:-1], -1).astype(np.float32)


def info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Header of an audio file (rate, channels, frames) without decoding it; raises AudioError."""
    _check_exists(path)
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(path, f"cannot decode audio ({_reason(e)})") from None


def load(
    path: str | os.PathLike,
    sr: int | None = None,
    mono: bool = True,
    dtype=np.float32,
) -> tuple[np.ndarray, int]:
    """Reads an audio file.

    Args:
      path: WAV, FLAC, OGG or any other format libsndfile decodes.
      sr: target sample rate in Hz; None keeps the file's rate.
      mono: average the channels into one.
      dtype: float dtype of the returned samples.

    Returns:
      ``(y, sr)``: samples in [-1, 1], shaped ``(samples,)`` if mono or single-channel,
      else ``(channels, samples)`` (librosa's layout), and the sample rate in Hz.

    Raises:
      AudioError: missing, empty, truncated or undecodable file, or NaN/Inf samples.
    """
    _check_exists(path)
    _check_wav_complete(path)
    try:
        with sf.SoundFile(str(path)) as f:  # one open: header and samples
            frames, file_sr = f.frames, f.samplerate
            data = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(path, f"cannot decode audio ({_reason(e)})") from None
    if frames <= 0 or data.shape[0] == 0:
        raise AudioError(path, "empty audio (0 samples)")
    if data.shape[0] < frames:
        raise AudioError(path, f"truncated: header announces {frames} samples, "
                               f"only {data.shape[0]} could be read")
    if not np.all(np.isfinite(data)):
        bad = int(np.sum(~np.isfinite(data)))
        raise AudioError(path, f"{bad} non-finite (NaN/Inf) samples")
    y = data.T  # (channels, samples)
    if mono or y.shape[0] == 1:
        y = y.mean(axis=0)
    if sr is not None and sr != file_sr:
        y = resample(y, file_sr, sr)
        file_sr = sr
    return np.ascontiguousarray(y, dtype=dtype), int(file_sr)


def save(path: str | os.PathLike, samples: np.ndarray, sr: int, subtype: str | None = None) -> None:
    """Writes ``samples`` (``(samples,)`` or ``(channels, samples)``, floats in [-1, 1] or int16).

    The format follows the suffix (.wav, .flac, .ogg); WAV defaults to 16-bit PCM.
    Raises ValueError on an unknown suffix, non-finite samples or a non-positive rate.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported format {path.suffix!r}; use one of {sorted(_WRITE_FORMATS)}")
    if sr <= 0:
        raise ValueError(f"{path}: sample rate must be positive, got {sr}")
    y = np.asarray(samples)
    if y.ndim not in (1, 2):
        raise ValueError(f"{path}: samples must be (samples,) or (channels, samples), got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise ValueError(f"{path}: refusing to write non-finite samples")
    if subtype is None and fmt == "WAV":
        subtype = "PCM_16"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.T if y.ndim == 2 else y, int(sr), format=fmt, subtype=subtype)


def _check_exists(path) -> None:
    p = Path(path)
    if not p.exists():
        raise AudioError(path, "file not found")
    if p.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _check_wav_complete(path) -> None:
    """libsndfile silently shortens a truncated WAV; compare its data chunk with the file size."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return
        size = Path(path).stat().st_size
        order = "little" if head[:4] == b"RIFF" else "big"
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            declared = int.from_bytes(chunk[4:], order)
            if chunk[:4] == b"data":
                available = size - f.tell()
                # 0 and 0xFFFFFFFF mark streams written without a final size.
                if declared not in (0, 0xFFFFFFFF) and declared > available:
                    raise AudioError(path, f"truncated: data chunk announces {declared} bytes, "
                                           f"file holds {available}")
                return
            f.seek(declared + (declared & 1), 1)


def _reason(e: Exception) -> str:
    # libsndfile messages repeat the path; keep only what follows it.
    msg = str(e)
    return msg.split(": ", 1)[-1] if ": " in msg else msg
