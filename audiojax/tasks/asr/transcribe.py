"""``audiojax transcribe``: the text of audio files under a speech-recognition run.

Files of any length, rate and channel count. A file no longer than the run's window
(``data.max_seconds``, above its longest training utterance) is decoded whole; a longer one in
consecutive windows of that length (:mod:`audiojax.windows`, no overlap), whose texts are
joined with spaces (a word cut by a window boundary may come out split or misread).
"""

from __future__ import annotations

import argparse

from audiojax.tasks.commands import add_run_arguments, overrides_from

MAX_BATCH = 16  # windows decoded together


def options():
    from audiojax.tasks.asr import OPTIONS  # noqa: PLC0415

    return OPTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, options())
    parser.add_argument("files", nargs="+", help="audio files")


def run(args: argparse.Namespace, runs) -> int:
    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, options()))
    for path, text in zip(args.files, transcribe(trained, args.files)):
        print(f"{path}\t{text}")
    return 0


def transcribe(run, files: list[str]) -> list[str]:
    """The text of each audio file (``config.decode``'s search); raises AudioError for a file
    that cannot be read."""
    import numpy as np  # noqa: PLC0415

    from audiojax import audio, windows  # noqa: PLC0415

    rate = run.config.data.sample_rate
    window = int(round(run.config.data.max_seconds * rate))
    pieces, owner = [], []
    for i, path in enumerate(files):
        y, _ = audio.load(path, sr=rate)
        chunks, lengths = windows.cut(y, windows.window_offsets(len(y), window, window), window)
        pieces += list(zip(chunks, lengths))
        owner += [i] * len(chunks)
    texts = []
    for start in range(0, len(pieces), MAX_BATCH):
        chunk = pieces[start:start + MAX_BATCH]
        audio_batch = np.stack([c for c, _ in chunk])
        lengths = np.array([n for _, n in chunk], np.int32)
        tokens = np.asarray(run.task.decode(run.variables, audio_batch, lengths).tokens)
        texts += [run.task.tokenizer.decode(t) for t in tokens]
    out = [[] for _ in files]
    for i, text in zip(owner, texts):
        if text:
            out[i].append(text)
    return [" ".join(parts) for parts in out]
