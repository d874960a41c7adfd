"""``audiojax predict``: the top classes of audio files under a clip-classification run.

Files of any length, rate and channel count (mixed down, resampled to the run's rate). A file
no longer than the run's window (``data.max_seconds``) is classified whole, zero-padded; a
longer one window by window (a hop of half a window, :mod:`audiojax.windows`), and the window
whose top class is the most probable is reported, with its start time. A run trained with
``data.center = "energy"`` has each window moved to centre the speech it holds, as in training
(:mod:`audiojax.data.placement`; the start is then negative when the window begins before the
file). Probabilities are those of evaluation: averaged over time shifts with ``--shifts N``
and over the runs or checkpoints of an ensemble (``--ensemble RUN...``,
``--last-checkpoints K``; windows are cut as for the first run).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from audiojax.tasks.commands import add_ensemble_arguments, add_run_arguments, overrides_from

MAX_BATCH = 16  # windows classified together


@dataclasses.dataclass
class Prediction:
    """``top``: ``(label, probability)`` best first; ``start_seconds``: where the reported
    window starts (0 for a file no longer than the window); ``windows``: how many were scored."""

    top: list[tuple[str, float]]
    start_seconds: float
    windows: int


def options():
    from audiojax.tasks.classification import OPTIONS  # noqa: PLC0415

    return OPTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, options())
    add_ensemble_arguments(parser)
    parser.add_argument("--top-k", type=int, default=3, help="classes per file (default 3)")
    parser.add_argument("files", nargs="+", help="audio files")


def run(args: argparse.Namespace, runs) -> int:
    trained, *ensemble = runs.ensemble(args.workdir, args.checkpoint,
                                       overrides_from(args, options()), args.ensemble,
                                       args.last_checkpoints)
    status = 0
    for path, result in zip(args.files, predict(trained, args.files, top_k=args.top_k,
                                                ensemble=ensemble)):
        if isinstance(result, str):
            print(f"audiojax predict: error: {result}", file=sys.stderr)
            status = 2
            continue
        where = f"\t@{result.start_seconds:.2f}s" if result.windows > 1 else ""
        print(path + where + "\t" + "  ".join(f"{label} {p:.3f}" for label, p in result.top))
    return status


def predict(run, files: list[str], top_k: int = 3, ensemble=()) -> list[Prediction | str]:
    """A :class:`Prediction` per file, or the one-line problem of a file that cannot be read;
    with ``ensemble`` (more restored runs of the same labels), of the probabilities averaged
    over ``run`` and them."""
    import jax  # noqa: PLC0415 (kept out of the CLI's start-up)
    import numpy as np  # noqa: PLC0415

    from audiojax import audio, windows  # noqa: PLC0415
    from audiojax.data import placement  # noqa: PLC0415
    from audiojax.tasks.classification.task import ensemble_log_probabilities  # noqa: PLC0415

    rate = run.config.data.sample_rate
    window = int(round(run.config.data.max_seconds * rate))
    members = [run, *ensemble]
    tasks = [m.task for m in members]
    variables = [m.variables for m in members]
    log_probs_fn = jax.jit(lambda v, batch: ensemble_log_probabilities(tasks, v, batch))
    results: list = []
    for path in files:
        try:
            y, _ = audio.load(path, sr=rate)
        except audio.AudioError as e:
            results.append(str(e))
            continue
        if len(y) < window // 10:
            print(f"audiojax predict: warning: {path}: {len(y)} sample{'s' * (len(y) != 1)} "
                  f"({len(y) / rate:.4f} s), "
                  f"padded with silence to the model's {window / rate:g} s window", file=sys.stderr)
        offsets = windows.window_offsets(len(y), window, max(1, window // 2))
        if run.config.data.center == "energy":
            offsets = np.array([start + placement.centred_offset(y[start:start + window], rate, window)
                                for start in offsets])
            chunks = np.stack([placement.place(y, start, window) for start in offsets])
            lengths = np.minimum(len(y) - offsets, window).astype(np.int32)
        else:
            chunks, lengths = windows.cut(y, offsets, window)
        probs = []
        for start in range(0, len(offsets), MAX_BATCH):
            batch = {"audio": chunks[start:start + MAX_BATCH], "length": lengths[start:start + MAX_BATCH]}
            probs.append(np.exp(np.asarray(log_probs_fn(variables, batch))))
        probs = np.concatenate(probs)
        if not np.isfinite(probs).all():
            raise FloatingPointError(f"{run.workdir / 'checkpoints' / str(run.step)}: the model's "
                                     f"outputs for {path} are not finite (NaN/Inf)")
        best = int(probs.max(-1).argmax())
        top = np.argsort(probs[best])[::-1][:top_k]
        results.append(Prediction([(run.labels[i], float(probs[best, i])) for i in top],
                                  float(offsets[best]) / rate, len(offsets)))
    return results
