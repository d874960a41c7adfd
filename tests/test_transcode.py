"""The Opus copy of a corpus (`audiojax data transcode`): subsets, manifests, audio it decodes to."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiojax import audio as audio_lib
from audiojax.cli import main
from audiojax.data.sources import open_source
from audiojax.data.transcode import parse_split_spec


def test_transcoded_commands_train_like_the_original(tiny_commands, tmp_path):
    source = tiny_commands.path
    target = tmp_path / "copy" / "commands_tiny"
    with pytest.raises(SystemExit) as stop:
        main(["data", "transcode", str(source), str(target), "--splits", "train", "validation:3"])
    assert stop.value.code in (0, None)
    train_lines = (source / "train.tsv").read_text().splitlines()
    copied = (target / "train.tsv").read_text().splitlines()
    assert len(copied) == len(train_lines)
    for old, new in zip(train_lines, copied):  # same order, labels and speakers; .ogg paths
        old_path, old_rest = old.split("\t", 1)
        new_path, new_rest = new.split("\t", 1)
        assert new_rest == old_rest and new_path == old_path[:-4] + ".ogg"
        x, sr = audio_lib.load(source / old_path)
        y, sr2 = audio_lib.load(target / new_path)
        assert sr2 == sr and len(y) == len(x)
        # Lossy but close: the waveforms correlate (Opus keeps the phase at this bitrate).
        assert np.corrcoef(x, y)[0, 1] > 0.8
    validation = (target / "validation.tsv").read_text().splitlines()
    all_validation = set((source / "validation.tsv").read_text().splitlines())
    assert len(validation) == 3
    assert {v.replace(".ogg\t", ".wav\t") for v in validation} <= all_validation
    info = json.loads((target / "info.json").read_text())
    assert info["labels"] == tiny_commands.info["labels"]
    assert info["transcoded"]["clips"] == {"train": len(train_lines), "validation": 3}
    # The loaders read it as the original (labels from its info.json).
    copy = open_source("commands/tiny", "train", tmp_path / "copy")
    assert len(copy) == len(train_lines) and copy.labels == tiny_commands.info["labels"]


def test_bad_arguments_are_named(tiny_commands, tmp_path):
    from audiojax.data.transcode import transcode_corpus

    with pytest.raises(ValueError, match="'validation:x' is not SPLIT or SPLIT:COUNT"):
        parse_split_spec("validation:x")
    with pytest.raises(FileNotFoundError, match="no such split"):
        transcode_corpus(tiny_commands.path, tmp_path / "out", ["dev"])
    with pytest.raises(FileNotFoundError, match="must be a built corpus folder"):
        transcode_corpus(tmp_path, tmp_path / "out", ["train"])
