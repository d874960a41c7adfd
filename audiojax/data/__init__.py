"""Data: offline corpora, sources (manifests, TFDS), the grain input pipeline, checks."""

from __future__ import annotations

import os
from pathlib import Path

SPLITS = ("train", "validation", "test")


def default_data_dir() -> Path:
    """``$AUDIOJAX_DATA`` or ``~/.cache/audiojax``: where corpora are built and looked for."""
    return Path(os.environ.get("AUDIOJAX_DATA") or Path.home() / ".cache" / "audiojax")


def corpus_dir(data_dir: str | os.PathLike, name: str, size: str = "full") -> Path:
    """Folder of a local corpus: ``DIR/NAME`` for the full size, ``DIR/NAME_SIZE`` otherwise."""
    return Path(data_dir) / (name if size == "full" else f"{name}_{size}")
