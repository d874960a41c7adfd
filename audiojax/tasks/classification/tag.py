"""``audiojax tag`` for a clip-classification run: the top classes of audio files, as
``audiojax predict`` prints them (:mod:`~audiojax.tasks.classification.predict`);
``--output FILE.tsv`` writes each file's top class as a manifest line ``path<TAB>label`` (the
article's format, paths relative to its folder)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from audiojax.tasks.classification import predict as P
from audiojax.tasks.commands import (add_ensemble_arguments, add_files_argument,
                                     add_run_arguments, overrides_from)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, P.options())
    add_ensemble_arguments(parser)
    parser.add_argument("--top-k", type=int, default=3, help="clip runs: classes per file (default 3)")
    parser.add_argument("--output", default=None, help="write the results to this TSV")
    add_files_argument(parser)


def run(args: argparse.Namespace, runs) -> int:
    from audiojax.files import atomic_write_text  # noqa: PLC0415

    trained, *ensemble = runs.ensemble(args.workdir, args.checkpoint,
                                       overrides_from(args, P.options()), args.ensemble,
                                       args.last_checkpoints)
    status, lines = 0, []
    folder = Path(args.output).resolve().parent if args.output else None
    for path, result in zip(args.files, P.predict(trained, args.files, top_k=args.top_k,
                                                  ensemble=ensemble)):
        if isinstance(result, str):
            print(f"audiojax tag: error: {result}", file=sys.stderr)
            status = 2
            continue
        print(path + "\t" + "  ".join(f"{label} {p:.3f}" for label, p in result.top))
        if folder is not None:
            lines.append(f"{os.path.relpath(Path(path).resolve(), folder)}\t{result.top[0][0]}\n")
    if folder is not None:
        atomic_write_text(Path(args.output), "".join(lines))
    return status
