"""Evaluate and use a trained run: ``audiojax evaluate`` and ``audiojax predict``.

Everything comes from the run's workdir: ``config.json``, ``labels.json`` and a checkpoint
(``best``, ``latest`` or a step).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from audiojax.data import corpus_dir
from audiojax.data.corpora import CONDITIONS, conditions_of
from audiojax.data.pipeline import make_loader, numeric
from audiojax.data.sources import LOCAL_CORPORA, FileListSource, ManifestSource
from audiojax.tasks import get_task
from audiojax.train import data as train_data
from audiojax.train.checkpoint import Checkpoints
from audiojax.train.config import read_config
from audiojax.train.loop import evaluate_loader, initial_state
from audiojax.train.parallel import DataParallel
from audiojax.train.state import make_optimizer


@dataclass
class TrainedRun:
    """A run restored for inference: its config, labels, task and placed variables."""

    workdir: Path
    config: Any
    labels: list[str]
    task: Any
    parallel: DataParallel
    variables: Any  # placed for ``parallel``
    step: int


DECODE_OPTIONS = ("beam_width", "length_penalty", "max_ratio", "ctc_weight", "lm", "lm_weight")


def restore_run(workdir: str | Path, checkpoint: str | int = "best",
                decode: dict | None = None) -> TrainedRun:
    """A run's checkpoint, ready for inference; ``decode`` overrides its ``config.decode``
    (speech recognition: any of ``DECODE_OPTIONS``; None values are ignored; a language-model
    weight without a model file takes ``WORKDIR/lm.npz``)."""
    workdir = Path(workdir)
    if not (workdir / "config.json").is_file():
        raise FileNotFoundError(f"--workdir {workdir}: no config.json; is it a training run's folder?")
    config = read_config(workdir / "config.json")
    decode = {k: v for k, v in (decode or {}).items() if v is not None}
    if decode:
        if "decode" not in config:
            raise ValueError(f"--workdir {workdir}: a {config.task} run has no decoding options")
        unknown = sorted(set(decode) - set(DECODE_OPTIONS))
        if unknown:
            raise ValueError(f"decode: unknown options {unknown}; known: {list(DECODE_OPTIONS)}")
        with config.unlocked():
            for key, value in decode.items():
                config.decode[key] = value
            if config.decode.get("lm_weight", 0.0) > 0 and not config.decode.get("lm"):
                config.decode.lm = str(workdir / "lm.npz")  # where `audiojax lm --workdir` writes
    labels = json.loads((workdir / "labels.json").read_text())
    task = get_task(config, labels)
    parallel = DataParallel(config.parallel)
    checkpoints = Checkpoints(workdir / "checkpoints", best_metric=config.best_metric,
                              best_mode=config.best_mode, read_only=True)
    step = checkpoints.step_for(checkpoint)
    if step is None:
        raise FileNotFoundError(f"--workdir {workdir}: no checkpoint saved yet")
    like = initial_state(config, task, make_optimizer(config, 1), parallel.num_devices)
    state, _ = checkpoints.restore(step, like)
    checkpoints.close()
    return TrainedRun(workdir, config, labels, task, parallel,
                      parallel.put_state(state).variables, step)


def evaluate(workdir: str | Path, checkpoint: str | int = "best", split: str = "test",
             manifest: str | Path | None = None, output: str | Path | None = None,
             batch_size: int | None = None, decode: dict | None = None) -> dict:
    """Metrics of a run's checkpoint on a split of its corpus or on a manifest (``path<TAB>label``).

    Writes ``output`` (default ``WORKDIR/eval_<split or manifest stem>.json``) and the task's
    plots beside it (a confusion matrix for classification); ``decode`` overrides the run's
    decoding options (:func:`restore_run`), recorded in the output; returns the metrics, with
    ``files`` listing what was written and ``headline`` a one-line summary. Metrics per speaker
    come with sources that name speakers, and per recording condition (``per_condition``:
    room, noise, channel; :func:`~audiojax.data.corpora.clip_conditions`) with clips of a corpus
    built here.
    """
    run = restore_run(workdir, checkpoint, decode)
    if manifest is not None:
        source, name = ManifestSource(manifest), Path(manifest).stem
        run.task.check_source(source, str(manifest))
    else:
        source, name = train_data.open_split(run.config, split), split
    batch = batch_size or run.config.batch_size
    batch = -(-batch // run.parallel.num_devices) * run.parallel.num_devices
    loader = train_data.loader_for(run.config, source, run.task, train=False, batch_size=batch)
    eval_step = run.parallel.compile_eval_step(run.task.eval_step)
    groups_of = functools.partial(conditions_of, base=_clip_folder(run.config, source))
    metrics = evaluate_loader(run.task, run.parallel, eval_step, run.variables, loader, groups_of)
    metrics = {"workdir": str(run.workdir), "checkpoint_step": run.step, "data": str(manifest or split),
               **({"decode": run.config.decode.to_dict()} if "decode" in run.config else {}),
               **metrics}
    output = Path(output) if output else run.workdir / f"eval_{name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(metrics, indent=1) + "\n")
    plotted = run.task.write_plots(output, metrics, title=f"{run.workdir.name} step {run.step} on {name}")
    metrics["files"] = [str(output), *map(str, plotted)]
    metrics["headline"] = (f"{metrics['data']} at step {run.step}: {run.task.headline(metrics)} "
                           f"over {metrics['count']} clips")
    return metrics


def _clip_folder(config, source) -> Path | str:
    """What the evaluated clips' ids are relative to: a manifest's folder, the run's local corpus
    for its TFDS copy (:func:`conditions_of` then finds the ``clips.jsonl`` above them)."""
    if isinstance(source, ManifestSource):
        return Path(source.path).parent
    name, _, size = config.data.source.partition("/")
    if name in LOCAL_CORPORA:
        return corpus_dir(train_data.data_dir_of(config), name, size or "full")
    return ""


def _values(m: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items())


def speaker_table(per_speaker: dict) -> str:
    """``per_speaker`` metrics as aligned lines, worst speaker first (lowest accuracy or
    highest CER)."""
    def badness(item):
        m = item[1]
        return -m["accuracy"] if "accuracy" in m else m.get("cer", 0.0)

    width = max(len(s) for s in per_speaker)
    lines = [f"per speaker (worst first), {len(per_speaker)} speakers:"]
    for speaker, m in sorted(per_speaker.items(), key=badness, reverse=True):
        lines.append(f"  {speaker:{width}s}  {_values(m)}")
    return "\n".join(lines)


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


def evaluate_folder(folder: str | Path, checkpoint: str | int = "best", split: str = "test",
                    manifest: str | Path | None = None, decode: dict | None = None
                    ) -> tuple[list[dict], list[str]]:
    """``evaluate`` for every run workdir in a sweep folder (or any folder of workdirs), on the
    same split or manifest; each writes its own ``eval_<name>.json``, which ``audiojax report``
    reads. Returns the metrics and, for runs with no checkpoint yet (skipped), why."""
    from audiojax.sweep import run_workdirs

    done, skipped = [], []
    for workdir in run_workdirs(folder):
        if not _has_checkpoint(workdir):
            skipped.append(f"{workdir.name}: no checkpoint saved yet")
            continue
        done.append(evaluate(workdir, checkpoint=checkpoint, split=split, manifest=manifest,
                             decode=decode))
    return done, skipped


def predict(workdir: str | Path, files: list[str], checkpoint: str | int = "best",
            top_k: int = 3) -> list[list[tuple[str, float]]]:
    """Top-k ``(label, probability)`` for each audio file (centre crop to the run's length)."""
    run = restore_run(workdir, checkpoint)
    n = run.parallel.num_devices
    loader = make_loader(FileListSource(files), sample_rate=run.config.data.sample_rate,
                         batch_size=n * max(1, -(-min(len(files), 16) // n)), train=False,
                         max_length=int(round(run.config.data.max_seconds * run.config.data.sample_rate)))
    logits_fn = jax.jit(run.task.logits)
    variables = run.parallel.get_state(run.variables)  # one copy: this runs on one device
    results = []
    for batch in loader:
        probs = np.asarray(jax.nn.softmax(logits_fn(variables, numeric(batch))))
        for row, keep in zip(probs, batch["mask"]):
            if keep:
                top = np.argsort(row)[::-1][:top_k]
                results.append([(run.labels[i], float(row[i])) for i in top])
    return results


def transcribe(workdir: str | Path, files: list[str], checkpoint: str | int = "best",
               decode: dict | None = None) -> list[str]:
    """The text of each audio file under a speech-recognition run (``config.decode``'s beam search,
    with ``decode``'s overrides). Files are never cropped: the batch is padded to the longest one."""
    from audiojax import audio
    from audiojax.decode import make_decoder
    from audiojax.tasks.asr import CharTokenizer

    run = restore_run(workdir, checkpoint, decode)
    if not hasattr(run.task, "tokenizer"):
        raise ValueError(f"--workdir {workdir}: a {run.config.task} run, not speech recognition; "
                         "use `audiojax predict`")
    rate = run.config.data.sample_rate
    trained = int(round(run.config.data.max_seconds * rate))
    longest = max(int(np.ceil(audio.info(f).duration * rate)) for f in files)
    max_length = max(trained, -(-longest // rate) * rate)  # whole seconds: few recompilations
    decode = make_decoder(run.task.model, eos_id=CharTokenizer.eos_id,
                          max_steps=-(-run.config.max_label_length * max_length // trained),
                          **run.config.decode.to_dict())
    n = run.parallel.num_devices
    loader = make_loader(FileListSource(files), sample_rate=rate, train=False, max_length=max_length,
                         batch_size=n * max(1, -(-min(len(files), 16) // n)))
    variables = run.parallel.get_state(run.variables)  # one copy: this runs on one device
    texts = []
    for batch in loader:
        tokens = np.asarray(decode(variables, batch["audio"], batch["length"]).tokens)
        texts += [run.task.tokenizer.decode(t) for t, keep in zip(tokens, batch["mask"]) if keep]
    return texts
