"""The one trainer: every experiment, every task, jit or pmap, one process or many.

    train_and_evaluate(config, workdir)

resumes from ``workdir/checkpoints`` when it holds one (state, RNG and data position), so the
same command restarts a killed run where its last checkpoint left it. It knows nothing about
audio: the task gives the example spec it initializes from, the loss, the evaluation outputs
and the units of throughput; the evaluators named in ``config.evals`` score the run.

The workdir holds what the run needs later: ``config.json``, ``labels.json``, ``corpus.json``
(the build of the local corpus it trains on: :mod:`audiojax.train.corpus_record`),
checkpoints, metrics and plots.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax import evaluators, plots
from audiojax.progress import progress
from audiojax.config import read_json, save_config
from audiojax.data import splits
from audiojax.data.pipeline import numeric
from audiojax.files import FileLock
from audiojax.tasks import task_class
from audiojax.train import corpus_record
from audiojax.train.checkpoint import Checkpoints
from audiojax.train.defaults import migrate, validate
from audiojax.train.metrics_log import MetricsLog, read_metrics
from audiojax.train.parallel import DataParallel, maybe_initialize_distributed
from audiojax.train.state import TrainState, learning_rate_schedule, make_optimizer
from audiojax.train.step import make_train_step

# "STEP:SIGNAL" (KILL or TERM): after step STEP (its checkpoint written) the run sends itself
# that signal; tests stop runs at a known step instead of racing them.
SIGNAL_AT_STEP = "AUDIOJAX_TEST_SIGNAL_AT_STEP"


# data.* keys that change how batches reach the step, never which batches: a run may resume
# with others (the split on the devices), its saved config.json unchanged. Not num_workers:
# grain's batches are formed per worker.
RESUME_MAY_CHANGE = ("cache", "cache_bytes")


class NonFiniteLossError(FloatingPointError):
    """Raised when a step or an evaluation is NaN/Inf; names the step and the checkpoint kept."""


def read_run_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """A run's ``config.json``, migrated to this version (:func:`~audiojax.train.defaults.migrate`)."""
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"--workdir {workdir}: no config.json; is it a training run's folder?")
    return migrate(read_json(path, "run's config"))


def _check_config(config: ml_collections.ConfigDict, workdir: Path, has_checkpoint: bool) -> None:
    """Saves the config of a new run; a run with checkpoints must be resumed with its own.
    While no checkpoint exists (a failed first start) a new config replaces the saved one."""
    path = workdir / "config.json"
    if path.exists() and has_checkpoint:
        old = json.loads(json.dumps(read_run_config(workdir).to_dict()))
        new = json.loads(json.dumps(config.to_dict()))
        for keys in (old, new):  # how input is fed, not what it is: may change on resume
            for key in RESUME_MAY_CHANGE:
                keys["data"].pop(key, None)
        # `experiment` is where the config came from (spelled any way), not what it says.
        changed = sorted(k for k in old.keys() | new.keys()
                         if k != "experiment" and old.get(k) != new.get(k))
        if changed:
            raise ValueError(f"{workdir} holds a run with another config (differs in: "
                             f"{', '.join(changed)}); use a new --workdir, or the same config to "
                             f"resume it")
        return
    if jax.process_index() == 0:
        save_config(config, path)


def num_train_steps(config, steps_per_epoch: int) -> int:
    if config.num_train_steps > 0:
        return int(config.num_train_steps)
    return max(1, int(config.num_epochs * steps_per_epoch))


def _state_fn(config, task, tx, batch_size: int):
    """A function building the step-0 state from the task's example spec (zeros, no data)."""
    init_rng, state_rng = jax.random.split(jax.random.PRNGKey(config.seed))
    spec = task.example_spec(batch_size)

    def create() -> TrainState:
        batch = {k: jnp.zeros(s.shape, s.dtype) for k, s in spec.items()}
        return TrainState.create(task.init(init_rng, batch), tx, state_rng,
                                 ema=config.ema_decay > 0)

    return create


def initial_state(config, task, tx, batch_size: int) -> TrainState:
    """The state at step 0."""
    return jax.jit(_state_fn(config, task, tx, batch_size))()


def state_template(config, task, tx, batch_size: int = 1) -> TrainState:
    """The state's structure (``jax.ShapeDtypeStruct`` leaves), computing nothing: what a
    checkpoint is restored into."""
    return jax.eval_shape(_state_fn(config, task, tx, batch_size))


def optimizer_for(config, steps_per_epoch: int):
    """``(tx, schedule)`` of the config (``num_train_steps`` resolved)."""
    schedule = learning_rate_schedule(config, steps_per_epoch)
    return make_optimizer(config, schedule), schedule


def scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _signal_hook(step: int, checkpoints: Checkpoints) -> None:
    at, _, name = os.environ.get(SIGNAL_AT_STEP, "").partition(":")
    if at and int(at) == step:
        checkpoints.wait()
        os.kill(os.getpid(), getattr(signal, f"SIG{name or 'KILL'}"))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Trains ``config`` in ``workdir`` (resuming it if it holds checkpoints); returns the last
    metrics of the evaluator that ranks checkpoints (``config.best_metric``).

    The run holds an exclusive lock on the workdir (``WORKDIR/train.lock``, taken by process 0;
    the others join its run): a second training of the same workdir is refused, naming the
    first one's PID and host."""
    maybe_initialize_distributed()
    config = ml_collections.ConfigDict(config.to_dict())  # ours to fill in; the caller's stays
    validate(config)
    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"--workdir {workdir}: a file, not a folder")
    workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() != 0:
        return _train(config, workdir)
    with FileLock(workdir / "train.lock", what="a training run of this workdir"):
        return _train(config, workdir)


def _train(config: ml_collections.ConfigDict, workdir: Path) -> dict:
    checkpoints = Checkpoints(workdir / "checkpoints", keep=config.keep_checkpoints,
                              best_metric=config.best_metric, best_mode=config.best_mode)
    saved = bool(checkpoints.manager.all_steps())
    splits.prepare(config)
    cls = task_class(config.task)
    labels = cls.labels_for(config)
    task = cls(config, labels)  # refuses what the task or model cannot honour, before any write
    _check_config(config, workdir, has_checkpoint=saved)
    corpus_record.record(config, workdir, has_checkpoint=saved, write=jax.process_index() == 0)
    if jax.process_index() == 0:
        (workdir / "labels.json").write_text(json.dumps(labels) + "\n")
    parallel = DataParallel(config.parallel)
    local_batch = parallel.check_batch_size(config.batch_size)
    if (local_batch // parallel.num_local_devices) % config.grad_accum_steps:
        raise ValueError(f"config.grad_accum_steps={config.grad_accum_steps}: the "
                         f"{local_batch // parallel.num_local_devices} examples per device must "
                         f"divide into that many micro-batches")

    train_source = splits.open_split(config, "train", task.columns)
    train_loader = splits.loader_for(config, train_source, task.label_to_id, train=True,
                                     batch_size=local_batch)
    steps_per_epoch = max(1, train_loader.shard_length // local_batch)
    num_steps = num_train_steps(config, steps_per_epoch)
    with config.unlocked():
        config.num_train_steps = num_steps  # the cosine schedule reads it
    tx, schedule = optimizer_for(config, steps_per_epoch)
    eval_step = parallel.compile_eval_step(task.eval_step)
    evals = [evaluators.make(name, spec, config, task, parallel, eval_step)
             for name, spec in config.evals.items()]
    best_name = config.best_metric.partition("/")[0]
    malformed = [*getattr(train_source, "malformed", []),
                 *(m for e in evals for m in getattr(e, "malformed", []))]
    if malformed:
        print(f"skipping {len(malformed)} malformed manifest line(s):\n  " + "\n  ".join(malformed))

    state = initial_state(config, task, tx, local_batch)
    log = MetricsLog(workdir)
    train_iter = iter(train_loader)
    start = 0
    if saved:  # the newest checkpoint that restores; damaged newer ones are redone
        start, state, meta = checkpoints.restore_newest("latest", state)
        checkpoints.delete_after(start)
        train_iter.set_state(meta["data_iterator"].encode())
        print(f"resuming {workdir} from step {start}")
    log.truncate_after(start)  # records past the checkpoint are redone (all, if killed before one)

    placed = parallel.put_state(state)
    train_step = parallel.compile_train_step(make_train_step(
        task, tx, schedule, accumulate=config.grad_accum_steps, ema_decay=config.ema_decay),
        cache=train_loader.device_cache)
    last: dict[str, dict] = {}
    pending: list = []  # train metrics (on device) since the last log
    window_start, window_steps, window_units = time.perf_counter(), 0, {}
    window_wait = 0.0  # seconds the loop waited for batches (the loader behind the step)

    def stop(step: int, what: str) -> None:
        checkpoints.wait()
        kept = checkpoints.step_for("latest")
        kept = (f"the last good checkpoint is step {kept} in {workdir / 'checkpoints'}"
                if kept else "no checkpoint was saved before it")
        raise NonFiniteLossError(f"step {step}: {what}; training stopped, {kept}")

    def check_finite(step: int, metrics: dict) -> None:
        if not metrics["finite"]:
            stop(step, f"loss is {float(metrics['loss'])}, gradient norm "
                       f"{float(metrics['grad_norm'])}, parameter norm "
                       f"{float(metrics['param_norm'])} (the update was not applied)")

    bar = progress(total=num_steps, initial=start, desc=f"train {workdir.name}", unit="step",
                   disable=jax.process_index() != 0)
    try:
        for step in range(start + 1, num_steps + 1):
            waited = time.perf_counter()
            batch = next(train_iter)
            on_device = parallel.put_batch(numeric(batch))
            window_wait += time.perf_counter() - waited
            placed, metrics = train_step(placed, on_device)
            checkpoints.check_saves()  # a failed background save stops the run now
            # The previous step has finished by now: checking it costs no pipelining, and a
            # non-finite step (which the step itself refused to apply) stops the run at once.
            if pending:
                check_finite(*jax.device_get(pending[-1]))
            pending.append((step, metrics))
            window_steps += 1
            for unit, amount in task.batch_units(batch).items():
                window_units[unit] = window_units.get(unit, 0.0) + amount
            save = step % config.checkpoint_every_steps == 0 or step == num_steps
            due = [e for e in evals if (e.every_steps and step % e.every_steps == 0)
                   or (save and e.name == best_name) or (step == num_steps and e.every_steps)]
            if step % config.log_every_steps == 0 or due:
                fetched = jax.device_get(pending)
                pending.clear()
                check_finite(*fetched[-1])
                means = {k: float(np.mean([m[k] for _, m in fetched])) for k in fetched[-1][1]
                         if k != "finite"}
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                # Units count this process's share (e.g. true audio lengths, not padding).
                means["examples_per_second"] = window_steps * config.batch_size / elapsed
                # Time getting batches while the step dispatched before runs on: the devices
                # waited at most this share of the time (0 when the loader keeps ahead).
                means["input_wait_fraction"] = window_wait / elapsed
                for unit, amount in window_units.items():
                    means[f"{unit}_per_second"] = amount * jax.process_count() / elapsed
                log.write(step, "train", means)
                bar.set_postfix(loss=f"{means['loss']:.4f}", ex_s=f"{means['examples_per_second']:.0f}",
                                refresh=False)
                window_start, window_steps, window_units = time.perf_counter(), 0, {}
                window_wait = 0.0
            bar.update(1)
            ranked = {}
            for e in due:
                last[e.name] = result = e.run(placed.variables)
                log.write(step, e.name, scalars(result))
                if not np.isfinite(result.get("loss", 0.0)):  # trials check their embeddings
                    stop(step, f"evaluator {e.name}'s loss is {result['loss']}")
                ranked.update({f"{e.name}/{k}": v for k, v in scalars(result).items()})
                bar.write(f"step {step}: {e.name} " + ", ".join(
                    f"{k} {v:.4f}" for k, v in scalars(result).items() if k != "count"))
            if due:
                if jax.process_index() == 0:
                    plots.learning_curves_png(workdir / "learning_curves.png", read_metrics(workdir),
                                              title=workdir.name)
                window_start = time.perf_counter()  # evaluation time is not training throughput
            if save:
                checkpoints.save(step, parallel.get_state(placed),
                                 {"data_iterator": train_iter.get_state().decode(), "step": step},
                                 metrics=ranked)
            _signal_hook(step, checkpoints)
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
    return last.get(best_name, {})
