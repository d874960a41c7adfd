"""Manifests for public corpora already on disk in their official layout (`audiojax data
import NAME DIR`): the clips stay where they are; the manifests point at them.

* ``speech_commands``: an extracted Speech Commands release (v0.01 or v0.02), i.e.
  ``DIR/<word>/<speaker>_nohash_<n>.wav``, ``DIR/validation_list.txt`` and
  ``DIR/testing_list.txt`` (paths relative to ``DIR``, one per line); ``_background_noise_/``
  is not a word and is left out.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from audiojax.data import SPLITS, default_data_dir
from audiojax.data.manifest import write_manifest

SPEECH_COMMANDS_LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}
SPEECH_COMMANDS_NOISE = "_background_noise_"
_CLIP_NAME = re.compile(r"(?P<speaker>[^_/]+)_nohash_\d+\.wav")


def _read_list(path: Path, clips: set[str]) -> list[str]:
    """The clips ``path`` lists (relative to its folder, ``/``-separated), each one on disk."""
    listed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        rel = line.strip()
        if not rel:
            continue
        if rel not in clips:
            raise ValueError(f"{path}:{number}: {rel}: not a clip of {path.parent}")
        listed.append(rel)
    return listed


def import_speech_commands(folder: str | os.PathLike, output: str | os.PathLike | None = None
                           ) -> tuple[Path, dict[str, int]]:
    """Writes ``train/validation/test.tsv`` (``path<TAB>word<TAB>speaker``, the speaker being
    the hash before ``_nohash_``) and ``info.json`` (the words, sorted: the run's labels) for
    the extracted Speech Commands ``folder`` into ``output`` (default
    ``$AUDIOJAX_DATA/speech_commands``). Validation and test are the clips of the release's
    lists; train is every other clip. Returns the output folder and the clips per split.

    Raises:
      ValueError: naming the path, for a folder without the layout (no list files, no word
        folders, a clip not named ``SPEAKER_nohash_N.wav``, a listed clip that is missing, a
        clip in both lists).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder (expected an extracted Speech Commands release)")
    for name in SPEECH_COMMANDS_LISTS.values():
        if not (folder / name).is_file():
            raise ValueError(f"{folder / name}: missing; {folder} is not an extracted Speech "
                             f"Commands release (WORD/SPEAKER_nohash_N.wav and the two lists)")
    speaker_of: dict[str, str] = {}
    for word_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if word_dir.name == SPEECH_COMMANDS_NOISE or word_dir.name.startswith("."):
            continue
        for wav in sorted(word_dir.glob("*.wav")):
            match = _CLIP_NAME.fullmatch(wav.name)
            if match is None:
                raise ValueError(f"{wav}: not named SPEAKER_nohash_N.wav, as Speech Commands "
                                 f"clips are")
            speaker_of[f"{word_dir.name}/{wav.name}"] = match["speaker"]
    if not speaker_of:
        raise ValueError(f"{folder}: no WORD/SPEAKER_nohash_N.wav clips")
    clips = set(speaker_of)
    held_out = {split: _read_list(folder / name, clips)
                for split, name in SPEECH_COMMANDS_LISTS.items()}
    both = sorted(set(held_out["validation"]) & set(held_out["test"]))
    if both:
        raise ValueError(f"{folder}: {both[0]} is in both {SPEECH_COMMANDS_LISTS['validation']} "
                         f"and {SPEECH_COMMANDS_LISTS['test']}")
    taken = set(held_out["validation"]) | set(held_out["test"])
    members = {"train": sorted(clips - taken), **{s: sorted(set(held_out[s])) for s in held_out}}
    out = Path(output) if output is not None else default_data_dir() / "speech_commands"
    root = folder.resolve()
    counts = {}
    for split in SPLITS:
        rows = [(str(root / rel), rel.split("/")[0], speaker_of[rel]) for rel in members[split]]
        counts[split] = write_manifest(out / f"{split}.tsv", rows)
    labels = sorted({rel.split("/")[0] for rel in clips})
    info = {"corpus": "speech_commands", "source": str(root), "labels": labels, "clips": counts}
    (out / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    return out, counts


IMPORTERS = {"speech_commands": import_speech_commands}
