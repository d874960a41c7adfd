"""``audiojax lm``: a character n-gram language model (:mod:`audiojax.tasks.asr.lm`) of a
speech-recognition run's training transcripts and/or text files, for shallow fusion in beam
search (``audiojax evaluate --lm-weight``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=None,
                        help="a speech-recognition run: its training transcripts (output default: "
                             "WORKDIR/lm.npz)")
    parser.add_argument("--text", nargs="*", default=(),
                        help="more text: .tsv manifests (their transcripts) or plain text, a "
                             "sentence per line")
    parser.add_argument("--order", type=int, default=6, help="n-gram order (default 6)")
    parser.add_argument("--output", default=None, help="the .npz to write")


def run(args: argparse.Namespace, runs) -> int:
    config = runs.config(args.workdir) if args.workdir else None
    path, lm = build_language_model(args.output, args.order, config=config, workdir=args.workdir,
                                    text_files=args.text)
    sizes = ", ".join(str(len(k)) for k in lm.keys)
    print(f"wrote {path}: order {lm.order}, contexts seen per length 1..{lm.order - 1}: {sizes}")
    return 0


def fit_language_model(texts: Iterable[str], order: int = 6):
    """A :class:`~audiojax.tasks.asr.lm.CharNgramLM` over :class:`CharTokenizer` ids of
    ``texts`` (normalized: lower case, other characters than a-z and apostrophe become spaces)."""
    from audiojax.data.corpora.sentences import normalize  # noqa: PLC0415
    from audiojax.tasks.asr.lm import CharNgramLM  # noqa: PLC0415
    from audiojax.tasks.asr.tokenizer import CharTokenizer  # noqa: PLC0415

    tokenizer = CharTokenizer(max_length=0)
    return CharNgramLM.fit((tokenizer.ids(normalize(t)) for t in texts), order=order,
                           vocab_size=len(CharTokenizer.vocabulary), sos_id=CharTokenizer.sos_id,
                           eos_id=CharTokenizer.eos_id)


def read_texts(path: str | Path) -> list[str]:
    """Sentences of a text file (one per line) or the transcripts of a ``.tsv`` manifest."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--text {path}: no such file")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".tsv":
        bad = next((i for i, line in enumerate(lines, 1) if line.count("\t") < 1), None)
        if bad:
            raise ValueError(f"{path}:{bad}: a manifest line needs path<TAB>transcript")
        return [line.split("\t")[1] for line in lines]
    return lines


def build_language_model(output: str | Path | None, order: int, config=None,
                         workdir: str | Path | None = None, text_files: Iterable[str | Path] = ()):
    """Fits :func:`fit_language_model` on the training transcripts of a run (its ``config``,
    from ``workdir``) and/or text files and saves it (default ``WORKDIR/lm.npz``). Returns the
    path and the model."""
    from audiojax.data.splits import open_split  # noqa: PLC0415

    texts: list[str] = []
    if config is not None:
        if config.task != "asr":
            raise ValueError(f"--workdir {workdir}: a {config.task} run has no transcripts")
        texts += open_split(config, "train").unique_labels()
    for path in text_files:
        texts += read_texts(path)
    if output is None:
        if workdir is None:
            raise ValueError("--output: needed without --workdir")
        output = Path(workdir) / "lm.npz"
    lm = fit_language_model(texts, order)
    lm.save(output)
    return Path(output), lm
