"""``audiojax verify``: whether two audio files hold the same speaker, under a speaker run.

Prints the pair's score (as the run scores trials: cosine, or AS-norm'ed) and the decision at
a threshold: by default the equal-error-rate threshold of the checkpoint on the evaluator that
ranks checkpoints (``config.best_metric``'s, the validation trials), recorded in the run's
``metrics.jsonl`` when that checkpoint was evaluated; ``--threshold`` gives another.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiojax.tasks.commands import add_run_arguments, overrides_from


def options():
    from audiojax.tasks.speaker import OPTIONS  # noqa: PLC0415

    return OPTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, options())
    parser.add_argument("--threshold", type=float, default=None,
                        help="decide 'same speaker' at scores >= this (default: the checkpoint's "
                             "equal-error-rate threshold on its validation trials)")
    parser.add_argument("enroll", help="an audio file of the claimed speaker")
    parser.add_argument("test", help="the audio file to verify")


def run(args: argparse.Namespace, runs) -> int:
    overrides = overrides_from(args, options())
    trained = runs.restore(args.workdir, args.checkpoint, overrides)
    if args.threshold is not None:
        threshold, why = args.threshold, "given"
    elif overrides:
        raise ValueError(f"{', '.join(overrides)}: scores other than the run's own need "
                         f"--threshold (its recorded threshold is for its own scoring)")
    else:
        threshold = recorded_threshold(trained, runs.metrics(trained.workdir))
        why = f"the equal-error-rate one of step {trained.step}"
    score = verify(trained, args.enroll, args.test)
    decision = "same speaker" if score >= threshold else "different speakers"
    print(f"{args.enroll}\t{args.test}\tscore {score:.4f}\t{decision} (threshold "
          f"{threshold:.4f}, {why})")
    return 0


def verify(run, enroll: str, test: str) -> float:
    """The score of the pair (higher: more alike) under a restored run."""
    import jax  # noqa: PLC0415

    from audiojax.tasks.speaker.embed import embed  # noqa: PLC0415

    embeddings = embed(run, [enroll, test])
    host = jax.device_get(run.variables)
    return float(run.task.scores(host, embeddings[:1], embeddings[1:])[0])


def recorded_threshold(run, records: list[dict]) -> float:
    """``eer_threshold`` of the run's ranking evaluator at the restored checkpoint's step, from
    the run's metrics ``records`` (``WORKDIR/metrics.jsonl``); ValueError when that step was
    not evaluated on trials."""
    name = run.config.best_metric.partition("/")[0]
    for record in reversed(records):
        if record["step"] == run.step and record["split"] == name and "eer_threshold" in record:
            return float(record["eer_threshold"])
    raise ValueError(f"{Path(run.workdir) / 'metrics.jsonl'}: no trials evaluation by {name} at "
                     f"step {run.step} (the checkpoint restored); give --threshold")
