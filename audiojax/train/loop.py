"""The one trainer: every experiment, every task, jit or pmap, one process or many.

    train_and_evaluate(config, workdir)

resumes from ``workdir/checkpoints`` when it holds one (state, RNG and data position), so the
same command restarts a killed run where its last checkpoint left it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from audiojax import plots
from audiojax.data.pipeline import numeric
from audiojax.tasks import get_task
from audiojax.train import data as train_data
from audiojax.train.checkpoint import Checkpoints
from audiojax.train.config import read_config, save_config
from audiojax.train.metrics_log import MetricsLog, read_metrics
from audiojax.train.parallel import DataParallel, maybe_initialize_distributed
from audiojax.train.state import TrainState, make_optimizer
from audiojax.train.step import make_train_step


class NonFiniteLossError(FloatingPointError):
    """Raised when a step's loss or gradients are NaN/Inf; names the step and the checkpoint kept."""


def _check_config(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """Saves the config on a new run; on a resumed run, refuses one that changed."""
    path = workdir / "config.json"
    if not path.exists():
        if jax.process_index() == 0:
            save_config(config, path)
        return
    old, new = read_config(path).to_dict(), json.loads(json.dumps(config.to_dict()))
    # `experiment` is where the config came from (spelled any way), not what it says.
    changed = sorted(k for k in old.keys() | new.keys()
                     if k != "experiment" and old.get(k) != new.get(k))
    if changed:
        raise ValueError(f"{workdir} holds a run with another config (differs in: {', '.join(changed)}); "
                         "use a new --workdir, or the same config to resume it")


def _num_train_steps(config, steps_per_epoch: int) -> int:
    if config.get("num_train_steps", -1) > 0:
        return int(config.num_train_steps)
    return int(config.num_epochs * steps_per_epoch)


def _add(sums, out):
    return out if sums is None else jax.tree.map(jnp.add, sums, out)


def evaluate_loader(task, parallel: DataParallel, eval_step, variables, loader,
                    groups_of=None) -> dict:
    """Runs ``eval_step`` over every batch of ``loader`` (one pass) and summarizes the sums
    (accumulated by ``task.combine`` where a task has one, else added). Tasks with
    ``per_group(sums, groups)`` also get ``per_speaker`` metrics when the source names
    speakers, and ``per_condition`` ones (``{name: {bin: metrics}}``) when ``groups_of(ids)``
    returns ``{name: [bin of each evaluated row]}`` (one process only: there each process sees
    only its own rows)."""
    combine = getattr(task, "combine", _add)
    sums, speakers, ids = None, [], []
    for batch in loader:
        sums = combine(sums, eval_step(variables, parallel.put_batch(numeric(batch))))
        speakers += batch["speaker"][batch["mask"]].tolist()
        ids += batch["id"][batch["mask"]].tolist()
    if sums is None:
        raise ValueError("evaluation split is empty")
    sums = jax.device_get(sums)
    metrics = task.summarize(sums)
    if hasattr(task, "per_group") and jax.process_count() == 1:
        if any(speakers):
            metrics["per_speaker"] = task.per_group(sums, speakers)
        conditions = groups_of(ids) if groups_of else None
        if conditions:
            metrics["per_condition"] = {name: task.per_group(sums, bins)
                                        for name, bins in conditions.items()}
    return metrics


def initial_state(config, task, tx, batch_size: int) -> TrainState:
    """The state at step 0 (also the structure a checkpoint is restored into)."""
    init_rng, state_rng = jax.random.split(jax.random.PRNGKey(config.seed))
    max_length = int(round(config.data.max_seconds * config.data.sample_rate))
    dummy = {"audio": jnp.zeros((batch_size, max_length)), "length": jnp.full((batch_size,), max_length)}
    return TrainState.create(jax.jit(task.init)(init_rng, dummy), tx, state_rng)


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Trains ``config`` in ``workdir`` (resuming it if it holds checkpoints); returns the last
    validation metrics."""
    maybe_initialize_distributed()
    config = ml_collections.ConfigDict(config.to_dict())  # ours to fill in; the caller's stays
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_config(config, workdir)
    train_data.ensure_corpus(config)
    labels = train_data.labels_for(config)
    if jax.process_index() == 0:
        (workdir / "labels.json").write_text(json.dumps(labels) + "\n")
    task = get_task(config, labels)
    parallel = DataParallel(config.parallel)
    local_batch = parallel.check_batch_size(config.batch_size)

    train_source = train_data.open_split(config, "train")
    eval_source = train_data.open_split(config, config.eval_split)
    malformed = [*getattr(train_source, "malformed", []), *getattr(eval_source, "malformed", [])]
    if malformed:
        print(f"skipping {len(malformed)} malformed manifest line(s):\n  " + "\n  ".join(malformed))
    train_loader = train_data.loader_for(config, train_source, task, train=True,
                                         batch_size=local_batch)
    eval_loader = train_data.loader_for(config, eval_source, task, train=False,
                                        batch_size=local_batch)
    steps_per_epoch = max(1, train_loader.shard_length // local_batch)
    num_steps = _num_train_steps(config, steps_per_epoch)
    with config.unlocked():
        config.num_train_steps = num_steps  # the cosine schedule reads it
    tx = make_optimizer(config, steps_per_epoch)

    state = initial_state(config, task, tx, local_batch)

    checkpoints = Checkpoints(workdir / "checkpoints", keep=config.keep_checkpoints,
                              best_metric=config.best_metric, best_mode=config.best_mode)
    log = MetricsLog(workdir)
    train_iter = iter(train_loader)
    start = checkpoints.step_for("latest") or 0
    log.truncate_after(start)  # records past the checkpoint are redone (all, if killed before one)
    if start:
        state, meta = checkpoints.restore(start, state)
        train_iter.set_state(meta["data_iterator"].encode())
        print(f"resuming {workdir} from step {start}")

    placed = parallel.put_state(state)
    train_step = parallel.compile_train_step(make_train_step(task, tx))
    eval_step = parallel.compile_eval_step(task.eval_step)
    val_metrics: dict = {}
    pending: list = []  # train metrics (on device) since the last log
    window_start, window_steps, window_audio = time.perf_counter(), 0, 0.0

    def check_finite(step: int, metrics: dict) -> None:
        if metrics["finite"]:
            return
        checkpoints.wait()
        last = checkpoints.step_for("latest")
        kept = (f"the last good checkpoint is step {last} in {workdir / 'checkpoints'}"
                if last else "no checkpoint was saved before it")
        raise NonFiniteLossError(f"step {step}: loss is {float(metrics['loss'])}, gradient norm "
                                 f"{float(metrics['grad_norm'])}; training stopped, {kept}")

    bar = tqdm(total=num_steps, initial=start, desc=f"train {workdir.name}", unit="step",
               disable=jax.process_index() != 0, dynamic_ncols=True)
    try:
        for step in range(start + 1, num_steps + 1):
            batch = next(train_iter)
            placed, metrics = train_step(placed, parallel.put_batch(numeric(batch)))
            # The previous step has finished by now: checking it costs no pipelining, and a
            # non-finite step (which the step itself refused to apply) stops the run at once.
            if pending:
                check_finite(*jax.device_get(pending[-1]))
            pending.append((step, metrics))
            window_steps += 1
            window_audio += float(np.sum(batch["length"][batch["mask"]])) / config.data.sample_rate
            save = step % config.checkpoint_every_steps == 0 or step == num_steps
            evaluate = step % config.eval_every_steps == 0 or save
            if step % config.log_every_steps == 0 or evaluate:
                fetched = jax.device_get(pending)
                pending.clear()
                check_finite(*fetched[-1])
                means = {k: float(np.mean([m[k] for _, m in fetched])) for k in fetched[-1][1]
                         if k != "finite"}
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                # Audio seconds count true lengths (this process's share), not padding.
                means.update(examples_per_second=window_steps * config.batch_size / elapsed,
                             audio_seconds_per_second=window_audio * jax.process_count() / elapsed)
                log.write(step, "train", means)
                bar.set_postfix(loss=f"{means['loss']:.4f}", ex_s=f"{means['examples_per_second']:.0f}",
                                audio_s_s=f"{means['audio_seconds_per_second']:.0f}", refresh=False)
                window_start, window_steps, window_audio = time.perf_counter(), 0, 0.0
            bar.update(1)
            if evaluate:
                val_metrics = evaluate_loader(task, parallel, eval_step, placed.variables, eval_loader)
                log.write(step, config.eval_split, _scalars(val_metrics))
                bar.write(f"step {step}: {config.eval_split} loss {val_metrics['loss']:.4f}, "
                          f"{config.best_metric} {val_metrics[config.best_metric]:.4f}")
                if jax.process_index() == 0:
                    plots.learning_curves_png(workdir / "learning_curves.png", read_metrics(workdir),
                                              title=workdir.name)
                window_start = time.perf_counter()  # evaluation time is not training throughput
            if save:
                checkpoints.save(step, parallel.get_state(placed),
                                 {"data_iterator": train_iter.get_state().decode(), "step": step},
                                 metrics=_scalars(val_metrics))
    finally:
        bar.close()
        checkpoints.wait()
        checkpoints.close()
        log.close()
        train_iter.close()
    if train_iter.skipped or malformed:
        print(train_iter.report())
        if malformed:
            print(f"and {len(malformed)} malformed manifest line(s), listed at the start")
    return val_metrics
