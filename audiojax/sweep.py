"""Sweeps: sets of training runs named in ``launch/NAME.py`` files, run locally or on Slurm.

A sweep file defines ``get_sweep(variant=None)`` returning a list of runs, each
``{"config": "experiments/X.py[:VARIANT]", "overrides": {"KEY": value, ...}}`` (optionally
``"resources"``: submitit parameters for that run), built with the helpers here::

    union(runs("experiments/a.py", grid({"seed": [0, 1]})),
          runs("experiments/b.py", grid(zip_({"model.frontend": ["logmel", "mfcc"],
                                              "model.n_mels": [64, 40]}), {"seed": [0, 1]})))

Every run trains with ``python -m audiojax train`` in ``SWEEP_DIR/<name from its overrides>``,
which the trainer resumes from its checkpoints; a ``DONE`` file marks a finished run, so calling
the same sweep again skips finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from audiojax.config import load_config, load_module

RUN_FILE = "sweep_run.json"   # in each run's workdir: its spec, command and attempts
DONE_FILE = "DONE"            # written when `audiojax train` returned 0
LOG_FILE = "train.log"        # the run's stdout and stderr
PID_FILE = "train.pid"        # while the local executor trains it: the trainer's process id


def _say(message: str) -> None:
    print(message, flush=True)  # a sweep's own log is often a file: line by line


# -- expansion helpers -------------------------------------------------------------------------
def _as_overrides(factor) -> list[dict]:
    """A dict of ``KEY: [values]`` (their product) or a list of override dicts -> a list."""
    if isinstance(factor, dict):
        for key, values in factor.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"grid: {key!r} needs a non-empty list of values, got {values!r}")
        keys = list(factor)
        return [dict(zip(keys, combo)) for combo in itertools.product(*factor.values())]
    if isinstance(factor, list) and all(isinstance(o, dict) for o in factor):
        return [dict(o) for o in factor]
    raise ValueError(f"expected a dict of KEY: [values] or a list of override dicts, got {factor!r}")


def grid(*factors) -> list[dict]:
    """Every combination (the product) of the factors, each a dict ``{KEY: [values], ...}`` or a
    list of override dicts (from ``zip_``, ``union`` or another ``grid``); later keys vary fastest."""
    out = [{}]
    for factor in factors:
        options = _as_overrides(factor)
        for a in out:
            for b in options:
                shared = a.keys() & b.keys()
                if shared:
                    raise ValueError(f"grid: key(s) {sorted(shared)} set by two factors")
        out = [{**a, **b} for a in out for b in options]
    return out


def zip_(axes: dict) -> list[dict]:
    """Values taken together, position by position: ``{"a": [1, 2], "b": [3, 4]}`` ->
    ``[{"a": 1, "b": 3}, {"a": 2, "b": 4}]``; the lists must have one length."""
    lengths = {key: len(values) for key, values in axes.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"zip_: lists of different lengths {lengths}")
    return [dict(zip(axes, combo)) for combo in zip(*axes.values())]


def union(*parts: list) -> list:
    """Concatenation of lists of runs (or of override dicts); a repeated entry is an error."""
    out: list = []
    for part in parts:
        for item in part:
            if item in out:
                raise ValueError(f"union: {item!r} appears twice")
            out.append(item)
    return out


def runs(config: str, overrides: list[dict] | None = None, resources: dict | None = None) -> list[dict]:
    """Runs of one experiment file (``path.py[:VARIANT]``), one per override dict."""
    out = [{"config": config, "overrides": dict(o)} for o in (overrides or [{}])]
    if resources:
        for run in out:
            run["resources"] = dict(resources)
    return out


# -- names and commands ------------------------------------------------------------------------
def _value_text(value) -> str:
    """A value as the trainer's ``--config.KEY=VALUE`` parses it back (literal, else string)."""
    if isinstance(value, str):
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return repr(value)  # "1" must stay a string
    return repr(value)


def run_name(run: dict) -> str:
    """``<experiment stem>__KEY=VALUE__...`` (keys sorted); safe as a folder name."""
    stem = Path(run["config"].partition(":")[0]).stem
    parts = [stem] + [f"{k}={_value_text(v)}" for k, v in sorted(run["overrides"].items())]
    return re.sub(r"[^A-Za-z0-9._=+,-]+", "-", "__".join(parts))


def train_command(run: dict, workdir: Path, python: str = sys.executable) -> list[str]:
    return [python, "-m", "audiojax", "train", "--config", run["config"], "--workdir", str(workdir),
            *[f"--config.{k}={_value_text(v)}" for k, v in run["overrides"].items()]]


def load_sweep(spec: str) -> list[dict]:
    """``launch/FILE.py[:VARIANT]`` -> its runs, each checked to load as a config, with ``name``.

    Relative experiment paths are read from the current folder, else from the folder above the
    sweep file (the repository root; then stored absolute).
    """
    path, _, variant = spec.partition(":")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"sweep: no such sweep file {path!r}")
    module = load_module(file, "sweep")
    if not hasattr(module, "get_sweep"):
        raise ValueError(f"sweep: {path} defines no get_sweep()")
    out, names = [], {}
    for run in module.get_sweep(variant or None):
        if not isinstance(run, dict) or "config" not in run:
            raise ValueError(f"sweep: {path}: a run must be a dict with 'config', got {run!r}")
        run = {"overrides": {}, **run}
        exp, _, exp_variant = run["config"].partition(":")
        if not Path(exp).is_file():  # kept relative when it is, so commands run on any checkout
            exp = str(file.resolve().parent.parent / exp)
        run["config"] = exp + (f":{exp_variant}" if exp_variant else "")
        # Fails here, naming the key, rather than in a subprocess later.
        load_config(run["config"], [f"{k}={_value_text(v)}" for k, v in run["overrides"].items()])
        run["name"] = run_name(run)
        if run["name"] in names:
            raise ValueError(f"sweep: {path}: two runs named {run['name']}")
        names[run["name"]] = run
        out.append(run)
    if not out:
        raise ValueError(f"sweep: {path}: get_sweep({variant or None!r}) returned no runs")
    return out


def run_workdirs(folder: str | Path) -> list[Path]:
    """The run workdirs (folders holding a ``config.json``) directly in ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    found = sorted(p.parent for p in folder.glob("*/config.json"))
    if not found:
        raise FileNotFoundError(f"{folder}: no run workdirs in it (folders with a config.json)")
    return found


def _running_pid(workdir: Path) -> int | None:
    """The pid in ``train.pid`` if that process still runs `audiojax train` on ``workdir``."""
    try:
        pid = int((workdir / PID_FILE).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if str(workdir) in cmdline else None


def is_done(workdir: Path) -> bool:
    return (workdir / DONE_FILE).exists()


def _record(workdir: Path, run: dict, command: list[str]) -> dict:
    """Creates or updates ``sweep_run.json`` (spec, command, attempts) in the run's workdir."""
    path = workdir / RUN_FILE
    record = json.loads(path.read_text()) if path.exists() else {"attempts": []}
    record.update(config=run["config"], overrides=run["overrides"], name=run["name"],
                  command=shlex.join(command))
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record


def _add_attempt(workdir: Path, seconds: float, returncode: int) -> None:
    path = workdir / RUN_FILE
    record = json.loads(path.read_text())
    record["attempts"].append({"seconds": round(seconds, 3), "returncode": returncode,
                               "ended": time.strftime("%Y-%m-%dT%H:%M:%S")})
    path.write_text(json.dumps(record, indent=1) + "\n")


def log_tail(workdir: Path, lines: int = 20) -> str:
    path = workdir / LOG_FILE
    if not path.exists():
        return "(no log)"
    # tqdm redraws with carriage returns: keep the last state of each line.
    text = [line.rsplit("\r", 1)[-1] for line in path.read_text(errors="replace").splitlines()]
    return "\n".join(text[-lines:])


# -- local executor ----------------------------------------------------------------------------
def _gpu_ids() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]
    return []


def slots(parallel: int) -> list[dict]:
    """``parallel`` shares of this process's cores (and GPUs, when there are some), disjoint
    while there are at least ``parallel`` of them."""
    cores = sorted(os.sched_getaffinity(0))
    if parallel < 1:
        raise ValueError(f"--parallel must be >= 1, got {parallel}")
    gpus = _gpu_ids()
    out = []
    for i in range(parallel):
        share = cores[i::parallel] or [cores[i % len(cores)]]
        slot = {"cores": share}
        if gpus:
            slot["gpus"] = gpus[i::parallel] or [gpus[i % len(gpus)]]
        out.append(slot)
    return out


def slot_env(slot: dict) -> dict:
    """Environment variables that keep a run to its share (threads; GPUs)."""
    n = str(len(slot["cores"]))
    env = {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
           "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1"}
    if "gpus" in slot:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(slot["gpus"])
    return env


def local_command_line(run: dict, workdir: Path, slot: dict) -> str:
    """What the local executor runs for ``run`` in ``slot``, as one shell line."""
    env = " ".join(f"{k}={v}" for k, v in slot_env(slot).items())
    cores = ",".join(map(str, slot["cores"]))
    return f"{env} taskset -c {cores} {shlex.join(train_command(run, workdir))}"


def run_local(runs_: list[dict], sweep_dir: Path, parallel: int = 1, log=_say) -> dict:
    """Runs every unfinished run, ``parallel`` at a time, each pinned to its share of cores/GPUs.

    Returns ``{"done": [names], "skipped": [names], "failed": {name: log tail}}``; a failed run
    does not stop the others.
    """
    result = {"done": [], "skipped": [], "failed": {}}
    pending = []
    for run in runs_:
        workdir = sweep_dir / run["name"]
        if is_done(workdir):
            result["skipped"].append(run["name"])
        elif _running_pid(workdir):
            raise ValueError(f"{workdir} is being trained by process {_running_pid(workdir)} "
                             "(another sweep?); stop it or wait for it")
        else:
            pending.append(run)
    if result["skipped"]:
        log(f"{len(result['skipped'])} run(s) already finished, skipped")
    free = slots(parallel)
    active: dict = {}  # Popen -> (run, slot, start time, log file)
    try:
        while pending or active:
            while pending and free:
                run, slot = pending.pop(0), free.pop(0)
                workdir = sweep_dir / run["name"]
                command = train_command(run, workdir)
                resumed = (workdir / "checkpoints").is_dir()
                _record(workdir, run, command)
                logf = (workdir / LOG_FILE).open("a")
                cores = set(slot["cores"])
                proc = subprocess.Popen(command, stdout=logf, stderr=subprocess.STDOUT,
                                        env={**os.environ, **slot_env(slot)},
                                        preexec_fn=lambda: os.sched_setaffinity(0, cores))
                (workdir / PID_FILE).write_text(f"{proc.pid}\n")
                active[proc] = (run, slot, time.perf_counter(), logf)
                gpus = f", GPUs {','.join(slot['gpus'])}" if "gpus" in slot else ""
                log(f"{'resuming' if resumed else 'starting'} {run['name']} on cores {sorted(cores)}{gpus}")
            time.sleep(0.2)
            for proc in [p for p in active if p.poll() is not None]:
                run, slot, start, logf = active.pop(proc)
                logf.close()
                free.append(slot)
                workdir = sweep_dir / run["name"]
                (workdir / PID_FILE).unlink(missing_ok=True)
                seconds = time.perf_counter() - start
                _add_attempt(workdir, seconds, proc.returncode)
                if proc.returncode == 0:
                    (workdir / DONE_FILE).write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
                    result["done"].append(run["name"])
                    log(f"finished {run['name']} in {seconds / 60:.1f} min")
                else:
                    tail = log_tail(workdir)
                    result["failed"][run["name"]] = tail
                    log(f"FAILED {run['name']} (exit {proc.returncode}); end of {workdir / LOG_FILE}:\n"
                        + "\n".join("    " + line for line in tail.splitlines()))
    finally:
        for proc, (_, _, _, logf) in active.items():  # interrupted: stop our runs, keep checkpoints
            proc.terminate()
            proc.wait()
            logf.close()
    return result


# -- Slurm (submitit) --------------------------------------------------------------------------
def run_submitit(runs_: list[dict], sweep_dir: Path, parallel: int = 1, cluster: str | None = None,
                 resources: dict | None = None, log=_say) -> dict:
    """Submits every unfinished run as a job array through submitit (``cluster``: None = Slurm
    when available, ``'local'`` for submitit's local executor, as the tests use), one array per
    distinct ``resources``; ``parallel`` bounds the array's concurrently running jobs."""
    import submitit

    result = {"done": [], "skipped": [], "failed": {}}
    pending = [r for r in runs_ if not is_done(sweep_dir / r["name"])]
    result["skipped"] = [r["name"] for r in runs_ if r not in pending]
    groups: dict = {}
    for run in pending:
        key = json.dumps({**(resources or {}), **run.get("resources", {})}, sort_keys=True)
        groups.setdefault(key, []).append(run)
    jobs = []
    for key, group in groups.items():
        executor = submitit.AutoExecutor(folder=sweep_dir / "submitit" / "%j", cluster=cluster)
        executor.update_parameters(name=f"sweep-{sweep_dir.name}", slurm_array_parallelism=parallel,
                                   **json.loads(key))
        with executor.batch():
            for run in group:
                workdir = sweep_dir / run["name"]
                command = train_command(run, workdir)
                _record(workdir, run, command)
                fn = submitit.helpers.CommandFunction(command, cwd=os.getcwd(), env=dict(os.environ))
                jobs.append((run, executor.submit(fn)))
    for run, job in jobs:
        log(f"submitted {run['name']} as job {job.job_id}")
    for run, job in jobs:
        workdir = sweep_dir / run["name"]
        try:
            output = job.result()
        except Exception as e:  # noqa: BLE001 - submitit re-raises the job's failure
            result["failed"][run["name"]] = str(e)[-3000:]
            log(f"FAILED {run['name']} (job {job.job_id}):\n{str(e)[-3000:]}")
            continue
        with (workdir / LOG_FILE).open("a") as f:
            f.write(output if isinstance(output, str) else "")
        (workdir / DONE_FILE).write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        result["done"].append(run["name"])
        log(f"finished {run['name']} (job {job.job_id})")
    return result


# -- dry run -----------------------------------------------------------------------------------
def dry_run_lines(runs_: list[dict], sweep_dir: Path, executor: str, parallel: int = 1,
                  processes: int = 1) -> list[str]:
    """The exact commands each unfinished run would execute, and for ``processes`` > 1 the
    per-process commands of a multi-host launch (each process calls jax.distributed.initialize())."""
    lines = []
    shares = slots(parallel)
    pending = [r for r in runs_ if not is_done(sweep_dir / r["name"])]
    for i, run in enumerate(pending):
        workdir = sweep_dir / run["name"]
        command = shlex.join(train_command(run, workdir, python="python"))
        lines.append(f"# {run['name']}")
        if executor == "local" and processes == 1:
            lines.append(local_command_line(run, workdir, shares[i % len(shares)]))
        elif executor == "slurm":
            lines.append(f"# Slurm (submitit job array, one task per process): srun --nodes "
                         f"{processes} --ntasks-per-node 1 ... runs on each node:")
            lines.append(command)
        if processes > 1:
            lines.append(f"# multi-host, one process per host: on a TPU VM pod slice "
                         f"(jax.distributed.initialize() finds its peers itself):")
            lines.append(f"gcloud compute tpus tpu-vm ssh $TPU_NAME --worker=all --command="
                         + shlex.quote(f"cd $REPO && AUDIOJAX_DISTRIBUTED=1 {command}"))
            lines.append("# or on any GPU cluster, process i of "
                         f"{processes} (host 0 is the coordinator):")
            for p in range(processes):
                lines.append(f"JAX_COORDINATOR_ADDRESS=$HOST0:12345 JAX_NUM_PROCESSES={processes} "
                             f"JAX_PROCESS_ID={p} {command}")
    skipped = len(runs_) - len(pending)
    if skipped:
        lines.append(f"# {skipped} finished run(s) skipped")
    return lines


def sweep(spec: str, sweep_dir: str | Path, executor: str = "local", parallel: int = 1,
          dry_run: bool = False, processes: int = 1, log=_say) -> dict:
    """``audiojax sweep``: loads ``spec`` and runs (or, ``dry_run``, prints) every unfinished run."""
    runs_ = load_sweep(spec)
    sweep_dir = Path(sweep_dir)
    if executor not in ("local", "slurm"):
        raise ValueError(f"--executor: unknown {executor!r}; use local or slurm")
    if dry_run:
        for line in dry_run_lines(runs_, sweep_dir, executor, parallel, processes):
            log(line)
        return {"done": [], "skipped": [], "failed": {}}
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.json").write_text(json.dumps({"sweep": spec, "runs": runs_}, indent=1) + "\n")
    if executor == "local":
        if processes > 1:
            raise ValueError("--processes > 1 needs several hosts: use --dry-run to print the "
                             "commands, or --executor slurm")
        result = run_local(runs_, sweep_dir, parallel, log=log)
    else:
        resources = {"nodes": processes, "tasks_per_node": 1} if processes > 1 else None
        result = run_submitit(runs_, sweep_dir, parallel, resources=resources, log=log)
    log(f"sweep {spec}: {len(result['done'])} run(s) finished now, {len(result['skipped'])} "
        f"already finished, {len(result['failed'])} failed" +
        (f": {', '.join(result['failed'])}" if result["failed"] else ""))
    return result
