"""``audiojax evaluate``: a run's checkpoint scored by one evaluator, on a split of its corpus,
on any manifest, or as one of its config's named evaluators; and every run of a folder. An
ensemble (``--ensemble RUN...``, ``--last-checkpoints K``) is scored as one model.

Everything comes from the run's workdir: ``config.json``, ``labels.json``, ``corpus.json``
(the corpus build it trained on: a split of another build is refused) and a checkpoint
(``best``, ``latest`` or a step).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Sequence

from audiojax import evaluators
from audiojax.data.corpora import CONDITIONS
from audiojax.data.events import EVENT_COLUMNS, read_events
from audiojax.data.splits import is_split
from audiojax.data.trials import read_trials
from audiojax.files import FileLock, atomic_write_text
from audiojax.runs import restore_ensemble
from audiojax.train import corpus_record
from audiojax.train.checkpoint import Checkpoints
from audiojax.train.parallel import DataParallel


def evaluate(workdir: str | Path, checkpoint: str | int = "best", split: str | None = None,
             manifest: str | Path | None = None, evaluator: str | None = None,
             output: str | Path | None = None, batch_size: int | None = None,
             overrides: Sequence[str] = (), ensemble: Sequence[str | Path] = (),
             last_checkpoints: int = 0, trials: str | Path | None = None,
             events: str | Path | None = None, tune_events: str | Path | None = None,
             threshold: float = 0.5) -> dict:
    """Metrics of a run's checkpoint on a split of its corpus (default ``test``), a manifest
    (the task's columns: ``path<TAB>label`` for clip tasks), ``trials``, a trial list
    (``enroll<TAB>test<TAB>1|0``: runs that embed, such as speaker recognition), or
    ``evaluator``, one of the run's ``config.evals``. A split or manifest is scored by the
    evaluator kind the task names for it (:meth:`~audiojax.tasks.base.Task.evaluator_kind`).
    ``events``, an events file of long recordings (``file<TAB>onset_s<TAB>offset_s<TAB>word``:
    streaming keyword runs), is scored by the ``events`` evaluator, its thresholds chosen on
    ``tune_events`` (default: the ``events_validation.tsv`` beside it, if there is one and it is
    not the file itself; else only the metrics at ``threshold`` and the curve).

    Writes ``output`` (default :func:`result_path`: named by what was evaluated, so results of
    different data or settings never overwrite each other) and the task's plots beside it,
    atomically and under a lock of its own (a live training run may be evaluated);
    ``overrides`` (``KEY=VALUE``) change what the task allows at inference (decoding options,
    shift averaging, ...) and are recorded; returns the metrics, with ``files`` listing what
    was written and ``headline`` a one-line summary. Metrics per speaker come with
    sources that name speakers, and per recording condition (``per_condition``: room, noise,
    channel) with clips of a corpus built here. A split of the run's local corpus is refused
    when the corpus was rebuilt since the run recorded it (:mod:`audiojax.train.corpus_record`).

    With ``ensemble`` (more workdirs) or ``last_checkpoints`` (K), the members of
    :func:`~audiojax.runs.restore_ensemble` are scored as one model
    (:meth:`~audiojax.tasks.base.Task.ensemble_step`: classification averages their class
    probabilities) on ``workdir``'s data; the metrics list them under ``ensemble``.
    """
    given = [x for x in (split, manifest, evaluator, trials, events) if x is not None]
    if len(given) > 1:
        raise ValueError("--split, --manifest, --trials, --events, --evaluator: give one")
    if tune_events is not None and events is None:
        raise ValueError("--tune-events: only with --events")
    given_tune = tune_events is not None
    if events is not None:
        read_events(events)  # a malformed file is refused before any checkpoint is read
        tune_events = tune_events or default_tuning(events)
        if tune_events is not None:
            read_events(tune_events)
    if trials is not None:
        read_trials(trials)  # a malformed list is refused before any checkpoint is read
    runs = restore_ensemble(workdir, checkpoint, overrides, ensemble, last_checkpoints)
    run = runs[0]
    if evaluator is not None:
        if evaluator not in run.config.evals:
            raise ValueError(f"--evaluator {evaluator}: not one of the run's evaluators "
                             f"({', '.join(run.config.evals)})")
        spec, name = run.config.evals[evaluator], evaluator
    elif events is not None and tuple(run.task.columns) == EVENT_COLUMNS:
        # The task's data are events files (sound event detection): scored as its data.
        if given_tune:
            raise ValueError(f"--tune-events: a {run.config.task} run has no thresholds to tune")
        data = str(Path(events).resolve())
        spec = evaluators.evaluator(data, every_steps=0, kind=run.task.evaluator_kind(data))
        name = f"events-{Path(events).stem}"
    elif events is not None:
        tune = "" if tune_events is None else str(Path(tune_events).resolve())
        spec = evaluators.evaluator(str(Path(events).resolve()), every_steps=0, kind="events",
                                    tune="self" if tune == str(Path(events).resolve()) else tune,
                                    threshold=threshold)
        name = f"events-{Path(events).stem}"
    elif trials is not None:
        spec = evaluators.evaluator(str(Path(trials).resolve()), every_steps=0, kind="trials")
        name = f"trials-{Path(trials).stem}"
    elif manifest is not None:
        data = str(Path(manifest).resolve())
        spec = evaluators.evaluator(data, every_steps=0, kind=run.task.evaluator_kind(data))
        name = f"manifest-{Path(manifest).stem}"
    else:
        name = split or "test"
        spec = evaluators.evaluator(name, every_steps=0, kind=run.task.evaluator_kind(name))
    if batch_size:
        spec = {**spec.to_dict(), "batch_size": batch_size}
    if is_split(spec["data"]):
        corpus_record.check(run.config, run.workdir)
    parallel = DataParallel(run.config.parallel)
    if len(runs) == 1:
        step, variables = run.task.eval_step, run.variables
    else:
        step = run.task.ensemble_step([r.task for r in runs])
        variables = tuple(r.variables for r in runs)
    scorer = evaluators.make(name, spec, run.config, run.task, parallel,
                             parallel.compile_eval_step(step))
    metrics = scorer.run(parallel.put_state(variables))
    who = (f"step {run.step}" if len(runs) == 1 else
           f"steps {', '.join(str(r.step) for r in runs)} (an ensemble of {len(runs)} checkpoints)")
    if not math.isfinite(metrics.get("loss", 0.0)):  # trials: embeddings are checked instead
        raise FloatingPointError(f"{run.workdir / 'checkpoints' / str(run.step)}: its loss on "
                                 f"{scorer.data} is {metrics['loss']} (a diverged checkpoint"
                                 f"{' in the ensemble' if len(runs) > 1 else ''})")
    metrics = {"workdir": str(run.workdir), "checkpoint_step": run.step, "data": scorer.data,
               "overrides": list(overrides), **metrics}
    if len(runs) > 1:
        metrics["ensemble"] = [{"workdir": str(r.workdir.resolve()), "checkpoint_step": r.step}
                               for r in runs]
    output = Path(output) if output else result_path(run.workdir, name, metrics["data"], overrides,
                                                     ensemble, last_checkpoints)
    output.parent.mkdir(parents=True, exist_ok=True)
    plot_data = metrics.pop("plot_data", None)  # arrays for the plots only, not for the JSON
    with FileLock(output.with_name(f".{output.name}.lock"), what=f"an evaluation writing {output.name}"):
        atomic_write_text(output, json.dumps(metrics, indent=1) + "\n")
        plotted = run.task.write_plots(output, {**metrics, "plot_data": plot_data},
                                       title=f"{run.workdir.name} {who} on {name}")
    metrics["files"] = [str(output), *map(str, plotted)]
    metrics["headline"] = (f"{metrics['data']} at {who}: {run.task.headline(metrics)} "
                           f"over {metrics['count']} {metrics.get('count_of', 'clips')}")
    return metrics


def default_tuning(events: str | Path) -> Path | None:
    """The events file an ``--events`` evaluation tunes its thresholds on: the
    ``events_validation.tsv`` beside it unless it is that file; None when there is none."""
    beside = Path(events).resolve().with_name("events_validation.tsv")
    return beside if beside.is_file() and beside != Path(events).resolve() else None


def result_path(workdir: Path, name: str, data: str, overrides: Sequence[str],
                ensemble: Sequence[str | Path] = (), last_checkpoints: int = 0) -> Path:
    """``WORKDIR/eval_NAME[+ensemble=RUN,...][+last_checkpoints=K][+KEY=VALUE...].json``: NAME
    is the split, ``manifest-STEM`` or the evaluator, then an ensemble's other runs (by folder
    name) and checkpoints per run, then the overrides. A file of that name holding results of
    other data (a manifest of the same stem elsewhere) or of another ensemble (runs of the same
    folder names elsewhere) is never overwritten: ValueError, asking for ``--output``."""
    settings = "".join(f"+{item.removeprefix('--config.')}" for item in overrides)
    if last_checkpoints:
        settings = f"+last_checkpoints={last_checkpoints}{settings}"
    if ensemble:
        settings = f"+ensemble={','.join(Path(w).name for w in ensemble)}{settings}"
    path = workdir / (re.sub(r"[^A-Za-z0-9._=+,-]+", "-", f"eval_{name}{settings}") + ".json")
    if path.is_file():
        try:
            held = json.loads(path.read_text())
            held_data = held.get("data")
            held_runs = sorted({m["workdir"] for m in held.get("ensemble", ())})
        except (ValueError, AttributeError, KeyError, TypeError):
            held_data, held_runs = None, None
        runs = (sorted({str(Path(w).resolve()) for w in (workdir, *ensemble)})
                if ensemble or last_checkpoints else [])
        if held_data != data or held_runs != runs:
            what = held_data or "something else"
            if held_runs:
                what += f" by an ensemble of {', '.join(held_runs)}"
            raise ValueError(f"{path} holds the results of {what}, not of {data}"
                             f"{' by an ensemble of ' + ', '.join(runs) if runs else ''}; give "
                             f"--output to write these elsewhere")
    return path


def _values(m: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items())


def speaker_table(per_speaker: dict, metric: str, mode: str) -> str:
    """``per_speaker`` metrics as aligned lines, worst speaker first by ``metric`` (the run's
    ranking metric; ``mode`` 'max' when higher is better)."""
    def badness(item):
        value = item[1].get(metric, 0.0)
        return -value if mode == "max" else value

    width = max(len(s) for s in per_speaker)
    lines = [f"per speaker (worst first), {len(per_speaker)} speakers:"]
    for speaker, m in sorted(per_speaker.items(), key=badness, reverse=True):
        lines.append(f"  {speaker:{width}s}  {_values(m)}")
    return "\n".join(lines)


def class_table(per_class: dict[str, float], columns: int = 4) -> str:
    """Per-class accuracy as aligned columns, worst class first."""
    items = sorted(per_class.items(), key=lambda kv: (kv[1], kv[0]))
    width = max(len(k) for k in per_class)
    cells = [f"{k:{width}s} {v:6.1%}" for k, v in items]
    rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
    return "\n".join([f"per class (worst first), {len(items)} classes:"]
                     + ["  " + "   ".join(r) for r in rows])


def condition_table(per_condition: dict) -> str:
    """``per_condition`` metrics as aligned lines: each condition's bins in
    :data:`~audiojax.data.corpora.CONDITIONS` order."""
    width = max(len(b) for bins in per_condition.values() for b in bins)
    lines = ["per recording condition:"]
    for name, bins in per_condition.items():
        order = CONDITIONS.get(name, ())
        lines.append(f"  {name}:")
        for b in sorted(bins, key=lambda b: order.index(b) if b in order else len(order)):
            lines.append(f"    {b:{width}s}  {_values(bins[b])}")
    return "\n".join(lines)


def _has_checkpoint(workdir: Path) -> bool:
    if not (workdir / "checkpoints").is_dir():
        return False
    checkpoints = Checkpoints(workdir / "checkpoints", read_only=True)
    try:
        return checkpoints.step_for("latest") is not None
    finally:
        checkpoints.close()


def evaluate_folder(folder: str | Path, checkpoint: str | int = "best", split: str | None = None,
                    manifest: str | Path | None = None, evaluator: str | None = None,
                    overrides: Sequence[str] = (), trials: str | Path | None = None,
                    **events_options) -> tuple[list[dict], list[str]]:
    """``evaluate`` for every run workdir in a sweep folder (or any folder of workdirs), on the
    same data; each writes its own ``eval_<name>.json``, which ``audiojax report`` reads.
    ``events_options``: ``events``, ``tune_events``, ``threshold`` as :func:`evaluate` takes.
    Returns the metrics and, for runs skipped (no checkpoint yet, or broken), why."""
    from audiojax.sweep import run_workdirs  # noqa: PLC0415

    done, skipped = [], []
    for workdir in run_workdirs(folder):
        if not _has_checkpoint(workdir):
            skipped.append(f"{workdir.name}: no checkpoint saved yet")
            continue
        try:
            done.append(evaluate(workdir, checkpoint=checkpoint, split=split, manifest=manifest,
                                 trials=trials, evaluator=evaluator, overrides=overrides,
                                 **events_options))
        except (ValueError, OSError, FloatingPointError) as e:  # a broken run: say so, go on
            skipped.append(f"{workdir.name}: {e}")
    return done, skipped
