"""The corpus a run trained on, recorded in its workdir: ``WORKDIR/corpus.json``.

A run on a local corpus (``config.data.source = "commands/tiny"``) records, when it starts, the
identity of the build it reads (the corpus's ``info.json``)::

    {"source": "commands/tiny", "name": "commands", "size": "tiny", "seed": 0,
     "fingerprint": "c90d11fee9f3c25f", "format": 2}

A resumed run refuses a corpus rebuilt since (another fingerprint), and ``audiojax evaluate``
on a split of the corpus refuses to score a checkpoint on clips it was not trained for (a
rebuilt corpus can put other voices in test). Runs started before this record evaluate with a
warning. Other sources (manifests, TFDS catalog datasets) are not recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ml_collections

from audiojax.data import splits
from audiojax.files import atomic_write_text

RECORD = "corpus.json"
KEYS = ("name", "size", "seed", "fingerprint", "format")  # what must match (not the folder)


def identity(config: ml_collections.ConfigDict) -> tuple[Path, dict | None] | None:
    """``(folder, identity)`` of the run's local corpus as built now (identity None when the
    folder holds no complete build); None for a source that is not a local corpus."""
    folder = splits.local_corpus(config)
    if folder is None:
        return None
    from audiojax.data.corpora import load_info  # noqa: PLC0415 (imports the builders)

    info = load_info(folder)
    if info is None:
        return folder, None
    return folder, {"source": config.data.source, "name": info.get("name"),
                    "size": info.get("size"), "seed": info.get("seed"),
                    "fingerprint": info.get("fingerprint"),
                    "format": info.get("versions", {}).get("format")}


def read(workdir: Path) -> dict | None:
    """The run's record, None for a run without one."""
    path = Path(workdir) / RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path}: not valid JSON (the record of the corpus the run trained "
                         f"on)") from None


def _same(recorded: dict, found: dict | None) -> bool:
    return found is not None and all(recorded.get(k) == found.get(k) for k in KEYS)


def _mismatch(workdir: Path, config, recorded: dict, folder: Path, found: dict | None) -> str:
    """The shared start of a refusal: what was recorded, what is there, how to rebuild it."""
    data_dir = f" --data-dir {config.data.data_dir}" if config.data.data_dir else ""
    there = (f"holds fingerprint {found['fingerprint']} (seed {found['seed']}, format "
             f"{found['format']})" if found else "holds no complete build")
    return (f"{workdir}: trained on {recorded['source']} with fingerprint "
            f"{recorded['fingerprint']} (seed {recorded['seed']}, format {recorded['format']}), "
            f"but {folder} {there}; rebuild that corpus (move {folder} aside, then audiojax data "
            f"build {recorded['name']} --size {recorded['size']} --seed {recorded['seed']}"
            f"{data_dir})")


def record(config: ml_collections.ConfigDict, workdir: Path, has_checkpoint: bool,
           write: bool = True) -> None:
    """At the start of training (after the corpus is built): writes the record of a new run
    (``write``: process 0), replacing one left by a failed first start; a resumed run must find
    its recorded corpus (ValueError). A resumed run without a record (started before runs had
    one) gets none: what it trained on at first is unknown."""
    found = identity(config)
    if found is None:
        return
    folder, now = found
    recorded = read(workdir) if has_checkpoint else None
    if recorded is not None:
        if not _same(recorded, now):
            raise ValueError(_mismatch(workdir, config, recorded, folder, now)
                             + " to resume it, or train in a new --workdir")
        return
    if not has_checkpoint and write and now is not None:
        atomic_write_text(workdir / RECORD, json.dumps(now, indent=1) + "\n")


def check(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """Before scoring a checkpoint on a split of the run's local corpus: refuses (ValueError) a
    corpus other than the recorded one; a run without a record is scored with a warning."""
    found = identity(config)
    if found is None:
        return
    folder, now = found
    recorded = read(workdir)
    if recorded is None:
        print(f"warning: {workdir}: no {RECORD} (a run started before runs recorded their "
              f"corpus); {folder} is not checked against the corpus it trained on",
              file=sys.stderr)
    elif not _same(recorded, now):
        raise ValueError(_mismatch(workdir, config, recorded, folder, now)
                         + ", or evaluate a --manifest of the clips you mean")
