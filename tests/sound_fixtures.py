"""Fake recorded-sound packages for the sound corpora's tests (the Debian packages of `make
sounds` and `make music` are not installed in CI): files of three labels in five sources, one
per fold; SoundFont 2 files of looped waveforms for the instruments corpus."""

import struct
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


# --- SoundFont 2 files for the instruments corpus's tests (CI installs no sound font) -----------

SF2_RATE = 33488            # 128 samples a period of C4 (261.625 Hz): loops without a seam
SF2_KEY = 60


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def _name(text: str, size: int = 20) -> bytes:
    return text.encode()[:size - 1].ljust(size, b"\0")


def write_sf2(path: Path, waveforms: dict[int, np.ndarray]) -> None:
    """A SoundFont 2 file with one preset per ``{program: one period (128 samples) of its
    waveform}``: each a looped sample of C4 at :data:`SF2_RATE` Hz, in bank 0."""
    pcm, headers, phdr, pbag, pgen, inst, ibag, igen = b"", b"", b"", b"", b"", b"", b"", b""
    for i, (program, period) in enumerate(sorted(waveforms.items())):
        cycle = np.asarray(period, np.float64)
        wave = np.round(0.8 * 32767 * np.tile(cycle / np.abs(cycle).max(), 262)).astype("<i2")
        start = len(pcm) // 2
        pcm += wave.tobytes() + b"\0" * 92            # 46 zero points after each sample
        headers += (_name(f"s{program}") + struct.pack(
            "<IIIIIBbHH", start, start + wave.size, start + 1280, start + 1280 + 128 * 200,
            SF2_RATE, SF2_KEY, 0, 0, 1))
        phdr += _name(f"p{program}") + struct.pack("<HHHIII", program, 0, i, 0, 0, 0)
        pbag += struct.pack("<HH", i, 0)
        pgen += struct.pack("<HH", 41, i)             # the preset zone's instrument
        inst += _name(f"i{program}") + struct.pack("<H", i)
        ibag += struct.pack("<HH", 2 * i, 0)
        igen += struct.pack("<HH", 54, 1) + struct.pack("<HH", 53, i)   # loop; sample id last
    n = len(waveforms)
    phdr += _name("EOP") + struct.pack("<HHHIII", 0, 0, n, 0, 0, 0)
    pbag += struct.pack("<HH", n, 0)
    pgen += b"\0" * 4
    inst += _name("EOI") + struct.pack("<H", n)
    ibag += struct.pack("<HH", 2 * n, 0)
    igen += b"\0" * 4
    headers += _name("EOS") + b"\0" * 26
    info = _chunk(b"ifil", struct.pack("<HH", 2, 1)) + _chunk(b"isng", b"EMU8000\0") + \
        _chunk(b"INAM", b"audiojax test\0")
    pdta = b"".join(_chunk(c, b) for c, b in [
        (b"phdr", phdr), (b"pbag", pbag), (b"pmod", b"\0" * 10), (b"pgen", pgen), (b"inst", inst),
        (b"ibag", ibag), (b"imod", b"\0" * 10), (b"igen", igen), (b"shdr", headers)])
    body = b"sfbk" + _chunk(b"LIST", b"INFO" + info) + _chunk(b"LIST", b"sdta" + _chunk(b"smpl", pcm)) \
        + _chunk(b"LIST", b"pdta" + pdta)
    Path(path).write_bytes(_chunk(b"RIFF", body))


def harmonics(*amplitudes: float) -> np.ndarray:
    """One 128-sample period with these harmonic amplitudes."""
    t = np.arange(128) / 128
    return sum(a * np.sin(2 * np.pi * (k + 1) * t) for k, a in enumerate(amplitudes))
