"""Data: offline corpora, sources (manifests, TFDS), the grain input pipeline, checks."""

from __future__ import annotations

import os
from pathlib import Path

SPLITS = ("train", "validation", "test")
# A built corpus's manifests: the three splits and ``test_clean``, the test split's clips as
# spoken (the voice's rate, pitch, speed and tempo kept) without room, noise or channel, so
# clean-speech accuracy and robustness are reported apart.
CORPUS_SPLITS = SPLITS + ("test_clean",)


def default_data_dir() -> Path:
    """``$AUDIOJAX_DATA`` or ``~/.cache/audiojax``: where corpora are built and looked for."""
    return Path(os.environ.get("AUDIOJAX_DATA") or Path.home() / ".cache" / "audiojax")


def source_parts(spec: str) -> list[str]:
    """The sources a ``config.data.source`` joins with ``+`` (``commands/small+streams/small``:
    the clips of both, in that order), or the spec alone."""
    spec = str(spec)
    return [spec] if spec.startswith("python:") else spec.split("+")


def local_spec(spec: str) -> tuple[str, str, str]:
    """``NAME[/SIZE[/VERSION]]`` -> ``(name, size (default full), version (a folder of the
    corpus holding its own manifests, e.g. separate's wav16k/max; default ""))``."""
    name, _, rest = spec.partition("/")
    size, _, version = rest.partition("/")
    return name, size or "full", version


def corpus_dir(data_dir: str | os.PathLike, name: str, size: str = "full") -> Path:
    """Folder of a local corpus: ``DIR/NAME`` for the full size, ``DIR/NAME_SIZE`` otherwise."""
    return Path(data_dir) / (name if size == "full" else f"{name}_{size}")
