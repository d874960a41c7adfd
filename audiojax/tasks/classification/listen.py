"""``audiojax listen``: wake-word detection on audio files or a live stream, chunk by chunk.

The run's model must have a streaming mode (``initial_state``/``step``, as
``experiments/kws_streaming.py``'s): each chunk (``--chunk-ms``, 20 ms) goes through the model
with its carried state, the frames it completes give class probabilities, and a
:class:`~audiojax.tasks.classification.detect.Detector` (smoothing, a threshold per keyword, a
refractory period) turns them into detections, printed as they happen:

    audiojax listen --workdir runs/kws_streaming --keywords yes,no recording.wav
    arecord -f S16_LE -r 16000 -c 1 | audiojax listen --workdir runs/kws_streaming -

With ``-`` it reads raw 16-bit little-endian mono PCM at ``--rate`` from standard input
(resampled to the run's rate as it arrives). ``--output FILE.tsv`` also writes
``file<TAB>time_s<TAB>word<TAB>score`` lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiojax.tasks.commands import add_run_arguments, overrides_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--keywords", default=None,
                        help="comma-separated words that may fire (default: every keyword class)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="smoothed probability at which a keyword fires (default 0.5)")
    parser.add_argument("--smoothing-ms", type=float, default=100.0,
                        help="moving average of the probabilities (default 100 ms)")
    parser.add_argument("--refractory-ms", type=float, default=1000.0,
                        help="no detection this long after one (default 1000 ms)")
    parser.add_argument("--chunk-ms", type=float, default=20.0,
                        help="audio fed to the model per step (default 20 ms)")
    parser.add_argument("--rate", type=int, default=16000,
                        help="sample rate of raw PCM on standard input (with -; default 16000)")
    parser.add_argument("--output", default=None, help="also write the detections to this TSV")
    parser.add_argument("inputs", nargs="+", help="audio files, or - for raw PCM on stdin")


class Listener:
    """A run's streaming model and a detector over one stream at a time.

    ``feed(samples (n,) float32)`` -> detections ``[(time_s, word, score)]`` of the chunks
    completed so far; ``flush()`` pads the rest of a chunk with silence; ``reset()`` starts a
    new stream."""

    def __init__(self, run, thresholds, chunk_seconds: float = 0.02,
                 smoothing_s: float = 0.1, refractory_s: float = 1.0):
        import jax  # noqa: PLC0415 (kept out of the CLI's start-up)

        from audiojax.tasks.classification.detect import Detector  # noqa: PLC0415

        model = run.task.model
        if not hasattr(model, "step"):
            raise ValueError(f"{run.workdir}: model {run.config.model.name!r} has no streaming "
                             f"mode (a causal model such as experiments/kws_streaming.py's)")
        self.rate = run.config.data.sample_rate
        self.chunk = max(1, int(round(chunk_seconds * self.rate)))
        self.model, self.variables = model, run.variables
        self.detector = Detector(run.labels, thresholds, self.rate / model.hop_length,
                                 smoothing_s, refractory_s)
        self._step = jax.jit(lambda v, chunk, state: model.apply(v, chunk, state,
                                                                 method=model.step))
        self.reset()

    def reset(self) -> None:
        import numpy as np  # noqa: PLC0415

        self.state = self.model.initial_state(1)
        self.pending = np.zeros(0, np.float32)
        self.detector.reset()

    def feed(self, samples):
        import jax  # noqa: PLC0415
        import numpy as np  # noqa: PLC0415

        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32)])
        found = []
        while len(self.pending) >= self.chunk:
            chunk, self.pending = self.pending[:self.chunk], self.pending[self.chunk:]
            scores, n, self.state = self._step(self.variables, chunk[None], self.state)
            n = int(n)
            if n:
                found += self.detector.feed(np.asarray(jax.nn.softmax(scores[0, :n], -1)))
        return found

    def flush(self):
        import numpy as np  # noqa: PLC0415

        if not len(self.pending):
            return []
        return self.feed(np.zeros(self.chunk - len(self.pending), np.float32))


def stdin_blocks(rate: int, run_rate: int, seconds: float = 0.02):
    """Raw 16-bit PCM from standard input as float32 blocks at ``run_rate``, as it arrives."""
    import numpy as np  # noqa: PLC0415
    import soxr  # noqa: PLC0415

    resampler = soxr.ResampleStream(rate, run_rate, 1, dtype="float32") if rate != run_rate \
        else None
    size = 2 * max(1, int(rate * seconds))
    leftover = b""
    while True:
        data = sys.stdin.buffer.read1(size) if hasattr(sys.stdin.buffer, "read1") \
            else sys.stdin.buffer.read(size)
        last = not data
        data, leftover = leftover + data, b""
        if len(data) % 2:
            data, leftover = data[:-1], data[-1:]
        y = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
        if resampler is not None:
            y = resampler.resample_chunk(y, last=last)
        yield y
        if last:
            return


def run(args: argparse.Namespace, runs) -> int:
    from audiojax import audio  # noqa: PLC0415

    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, ()))
    thresholds: float | dict = args.threshold
    if args.keywords:
        words = [w.strip() for w in args.keywords.split(",") if w.strip()]
        unknown = [w for w in words if w not in trained.labels]
        if unknown:
            raise ValueError(f"--keywords: {unknown[0]!r} is not a class of the run "
                             f"({', '.join(trained.labels)})")
        thresholds = {w: args.threshold for w in words}
    for name, value in (("--chunk-ms", args.chunk_ms), ("--rate", args.rate)):
        if value <= 0:
            raise ValueError(f"{name} {value}: must be positive")
    listener = Listener(trained, thresholds, args.chunk_ms / 1000, args.smoothing_ms / 1000,
                        args.refractory_ms / 1000)
    rows, status = [], 0

    def report(name, detections):
        for time, word, score in detections:
            print(f"{name}  {time:.2f}  {word}  {score:.3f}", flush=True)
            rows.append(f"{name}\t{time:.3f}\t{word}\t{score:.4f}\n")

    for name in args.inputs:
        listener.reset()
        if name == "-":
            for block in stdin_blocks(args.rate, listener.rate):
                report(name, listener.feed(block))
        else:
            try:
                y, _ = audio.load(name, sr=listener.rate)
            except audio.AudioError as e:
                print(f"audiojax listen: error: {e}", file=sys.stderr)
                status = 2
                continue
            report(name, listener.feed(y))
        report(name, listener.flush())
    if args.output:
        from audiojax.files import atomic_write_bytes  # noqa: PLC0415

        atomic_write_bytes(Path(args.output), "".join(rows).encode())
    return status
