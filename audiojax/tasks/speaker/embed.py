"""``audiojax embed``: speaker embeddings of audio files under a speaker-recognition run.

Files of any length, rate and channel count (mixed down, resampled to the run's rate; the
centre ``speaker.eval_seconds`` of a longer one). The ``.npz`` written holds ``embeddings``
``(files, D)`` float32, unit norm, one row per file in the order given, and ``files`` (the
paths as given).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiojax.tasks.commands import add_run_arguments, overrides_from

MAX_BATCH = 16  # files embedded together


def options():
    from audiojax.tasks.speaker import OPTIONS  # noqa: PLC0415

    return OPTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, options())
    parser.add_argument("--out", required=True, help="the .npz to write (embeddings, files)")
    parser.add_argument("files", nargs="+", help="audio files")


def run(args: argparse.Namespace, runs) -> int:
    import numpy as np  # noqa: PLC0415

    from audiojax.files import atomic_write_bytes  # noqa: PLC0415

    if not args.out.endswith(".npz"):
        raise ValueError(f"--out {args.out}: give a file name ending in .npz")
    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, options()))
    embeddings = embed(trained, args.files)
    atomic_write_bytes(Path(args.out), npz_bytes(embeddings=embeddings,
                                                 files=np.array(args.files)))
    print(f"wrote {args.out}: {len(args.files)} embeddings of {embeddings.shape[1]} dimensions")
    return 0


def npz_bytes(**arrays) -> bytes:
    import io  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def embed(run, files: list[str]):
    """``(len(files), D)`` float32 unit-norm embeddings of ``files`` under a restored run; a
    file that cannot be read raises ValueError naming it."""
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    step = jax.jit(lambda batch: run.task.embed_step(run.variables, batch, None))
    paths = [str(Path(f).resolve()) for f in files]
    got = run.task.embed_files(step, paths, "the command line", MAX_BATCH)
    return np.stack([got[p] for p in paths]).astype(np.float32)
