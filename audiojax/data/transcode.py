"""A lossy, small copy of a local corpus, for machines that can take only so many bytes.

    audiojax data transcode ~/.cache/audiojax/commands .gpukws/commands \\
        --splits train validation:640

writes every clip of ``train`` and 640 clips of ``validation`` drawn at random (seeded) as
Ogg/Opus (about 22 kbit/s at the default ``compression_level`` 0.96, against 256 for
16-bit PCM: the full `commands` training split and those 640 clips take 41 MB), with manifests pointing at the
new files and the corpus's ``info.json`` (plus a ``transcoded`` entry saying how), so that
``AUDIOJAX_DATA=.gpukws`` trains on it as on the original. Why: a remote accelerator box that
cannot run the speech synthesizers and takes at most 64 MiB of files (see BENCHMARKS.md). Opus
at this rate keeps speech intelligible; what it does to accuracy is measured in
experiments/README.md (the same recipe, 16 epochs, on the copy: 72.0% test accuracy, on the
WAVs: 71.9%). Evaluate on the original WAVs.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import soundfile as sf

from audiojax import audio as audio_lib
from audiojax.progress import progress


def parse_split_spec(spec: str) -> tuple[str, int | None]:
    """``'train'`` -> ``('train', None)`` (every clip); ``'validation:640'`` -> 640 at random."""
    name, _, count = spec.partition(":")
    if not name or (count and not count.isdigit()) or count == "0":
        raise ValueError(f"--splits: {spec!r} is not SPLIT or SPLIT:COUNT (COUNT a positive integer)")
    return name, int(count) if count else None


def transcode_corpus(source: str | Path, target: str | Path, splits: list[str],
                     compression_level: float = 0.96, seed: int = 0) -> dict[str, int]:
    """Writes the Opus copy of ``source`` (a corpus folder with ``SPLIT.tsv`` manifests) into
    ``target``; ``splits`` as :func:`parse_split_spec` reads them. Returns clips per split."""
    source, target = Path(source), Path(target)
    info_path = source / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path}: not found; SOURCE must be a built corpus folder")
    if not 0.0 <= compression_level <= 1.0:
        raise ValueError(f"--level: {compression_level} is outside [0, 1]")
    specs = [parse_split_spec(s) for s in splits]
    counts = {}
    for name, count in specs:
        manifest = source / f"{name}.tsv"
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: no such split in {source}")
        lines = [line for line in manifest.read_text().splitlines() if line.strip()]
        if count is not None:
            random.Random(seed).shuffle(lines)
            lines = lines[:count]
        written = []
        for number, line in enumerate(progress(lines, desc=f"transcode {name}", unit="clip")):
            path, sep, rest = line.partition("\t")
            if not sep:
                raise ValueError(f"{manifest}: line {number + 1}: no tab; expected path<TAB>label")
            out = Path(path).with_suffix(".ogg")
            (target / out).parent.mkdir(parents=True, exist_ok=True)
            samples, rate = audio_lib.load(source / path)
            sf.write(target / out, samples, rate, format="OGG", subtype="OPUS",
                     compression_level=compression_level)
            written.append(f"{out}\t{rest}")
        (target / f"{name}.tsv").write_text("".join(line + "\n" for line in written))
        counts[name] = len(written)
    info = json.loads(info_path.read_text())
    info["transcoded"] = {"codec": "opus", "compression_level": compression_level,
                          "seed": seed, "clips": counts, "from": str(source)}
    (target / "info.json").write_text(json.dumps(info, indent=1))
    return counts
