"""Sweeps: grid/zip/union expansion, run names and commands, the local executor (two at a
time, skip finished, resume killed, report failures), submitit's local executor, dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audiojax import sweep as sw
from audiojax.config import load_config
from audiojax.train.metrics_log import read_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = "experiments/kws_seed_cnn.py:tiny"


def test_grid_zip_union_expand_to_the_runs_they_name():
    assert sw.grid({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert sw.zip_({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert sw.grid(sw.zip_({"a": [1, 2], "b": ["x", "y"]}), {"seed": [0, 1]}) == [
        {"a": 1, "b": "x", "seed": 0}, {"a": 1, "b": "x", "seed": 1},
        {"a": 2, "b": "y", "seed": 0}, {"a": 2, "b": "y", "seed": 1}]
    both = sw.union(sw.runs("e1.py", sw.grid({"seed": [0, 1]})), sw.runs("e2.py:tiny"))
    assert both == [{"config": "e1.py", "overrides": {"seed": 0}},
                    {"config": "e1.py", "overrides": {"seed": 1}},
                    {"config": "e2.py:tiny", "overrides": {}}]
    with pytest.raises(ValueError, match="different lengths"):
        sw.zip_({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match=r"key\(s\) \['a'\] set by two factors"):
        sw.grid({"a": [1]}, {"a": [2]})
    with pytest.raises(ValueError, match="appears twice"):
        sw.union([{"a": 1}], [{"a": 1}])
    with pytest.raises(ValueError, match="'a' needs a non-empty list"):
        sw.grid({"a": 3})


def test_front_end_sweep_names_six_runs_whose_commands_give_their_configs():
    runs = sw.load_sweep(str(ROOT / "launch" / "kws_frontends.py") + ":small")
    assert [r["name"] for r in runs] == [
        "kws_seed_cnn__seed=0", "kws_logmel_cnn__model.frontend=logmel__seed=0",
        "kws_logmel_cnn__model.frontend=mfcc__seed=0", "kws_seed_cnn__seed=1",
        "kws_logmel_cnn__model.frontend=logmel__seed=1", "kws_logmel_cnn__model.frontend=mfcc__seed=1"]
    # The command line's overrides parse back to the values the sweep file gave.
    run = runs[2]
    cmd = sw.train_command(run, Path("/tmp/x"))
    config = load_config(cmd[cmd.index("--config") + 1],
                         [a.removeprefix("--config.") for a in cmd if a.startswith("--config.")])
    assert (config.model.frontend, config.seed, config.num_train_steps) == ("mfcc", 0, 600)
    odd = {"config": TINY, "overrides": {"data.source": "1", "learning_rate": 0.5,
                                         "augment.snr_db": (1.0, 2.0)}}
    cmd = sw.train_command(odd, Path("/tmp/x"))
    config = load_config(str(ROOT / TINY), [a.removeprefix("--config.") for a in cmd if a.startswith("--config.")])
    assert (config.data.source, config.learning_rate, tuple(config.augment.snr_db)) == ("1", 0.5, (1.0, 2.0))
    assert sw.run_name(odd) == "kws_seed_cnn__augment.snr_db=-1.0,-2.0-__data.source=-1-__learning_rate=0.5"


def test_bad_sweep_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="no such sweep file 'nope.py'"):
        sw.load_sweep("nope.py")
    bad = tmp_path / "bad.py"
    bad.write_text(f"def get_sweep(variant=None):\n    return [{{'config': '{ROOT / TINY}', "
                   "'overrides': {'model.nope': 1}}]\n")
    with pytest.raises(ValueError, match="no key 'nope'"):
        sw.load_sweep(str(bad))


def _sweep_file(folder: Path) -> Path:
    """Seeds 0 and 1 of the tiny classifier (3 steps); variant `fail` adds a diverging run."""
    path = folder / "tiny_sweep.py"
    path.write_text(f'''
from audiojax.sweep import grid, runs, union

def get_sweep(variant=None):
    common = {{"num_train_steps": [3], "checkpoint_every_steps": [3]}}
    ok = runs("{ROOT / TINY}", grid(common, {{"seed": [0, 1]}}))
    if variant == "fail":
        return union(ok, runs("{ROOT / TINY}", grid(common, {{"learning_rate": [1e30]}})))
    return ok
''')
    return path


def _env(data_dir) -> dict:
    return dict(os.environ, AUDIOJAX_DATA=str(data_dir), JAX_PLATFORMS="cpu",
                JAX_DISABLE_MOST_OPTIMIZATIONS="1", PYTHONPATH=str(ROOT))


def _sweep_cli(args, data_dir, env=None):
    cmd = [sys.executable, "-m", "audiojax", "sweep", *args]
    return subprocess.run(cmd, env={**_env(data_dir), **(env or {})}, cwd=ROOT,
                          capture_output=True, text=True)


def test_local_sweep_runs_two_at_a_time_reports_failures_then_redoes_nothing(
        tiny_commands, tiny_data_dir, tmp_path, monkeypatch):
    from audiojax.evaluate import evaluate_folder
    from audiojax.report import report

    spec, out_dir = str(_sweep_file(tmp_path)), tmp_path / "sweep"
    out = _sweep_cli([spec + ":fail", "--workdir", str(out_dir), "--parallel", "2"], tiny_data_dir)
    assert out.returncode == 1, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    events = [line.split()[0] for line in lines if line.split()[:1] in (["starting"], ["finished"], ["FAILED"])]
    assert events[:2] == ["starting", "starting"] and events.count("starting") == 3
    # The diverging run's log tail is in the report; the others finished all the same.
    failed = "kws_seed_cnn__checkpoint_every_steps=3__learning_rate=1e+30__num_train_steps=3"
    # (a learning rate of 1e30: the first update's parameter norm overflows, the step is refused)
    assert f"FAILED {failed} (exit 2)" in out.stdout and "(the update was not applied)" in out.stdout
    assert "2 run(s) finished now, 0 already finished, 1 failed" in out.stdout
    names = [f"kws_seed_cnn__checkpoint_every_steps=3__num_train_steps=3__seed={s}" for s in (0, 1)]
    for name in names:
        workdir = out_dir / name
        assert (workdir / "DONE").exists() and not (out_dir / failed / "DONE").exists()
        saved = json.loads((workdir / "config.json").read_text())
        assert saved["seed"] == int(name[-1]) and saved["num_train_steps"] == 3
        assert max(r["step"] for r in read_metrics(workdir)) == 3
    before = {n: (out_dir / n / "metrics.jsonl").stat().st_mtime_ns for n in names}

    again = _sweep_cli([spec, "--workdir", str(out_dir), "--parallel", "2"], tiny_data_dir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "starting" not in again.stdout and "2 run(s) already finished, skipped" in again.stdout
    assert before == {n: (out_dir / n / "metrics.jsonl").stat().st_mtime_ns for n in names}
    for name in names:
        assert len(json.loads((out_dir / name / "sweep_run.json").read_text())["attempts"]) == 1

    # Every run evaluated on the test split (the failed one has no checkpoint), then reported
    # with the runs' own numbers.
    monkeypatch.setenv("AUDIOJAX_DATA", str(tiny_data_dir))
    evaluated, skipped = evaluate_folder(out_dir, checkpoint="latest", split="test")
    assert [Path(m["workdir"]).name for m in evaluated] == names
    assert skipped == [f"{failed}: no checkpoint saved yet"]
    report(out_dir)
    rows = (out_dir / "report.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 3  # header, the two finished seeds as one configuration, the failed one
    finals = [[r["accuracy"] for r in read_metrics(out_dir / n) if r["split"] == "validation"][-1]
              for n in names]
    ok_row = next(r.split(",") for r in rows[1:] if r.split(",")[header.index("runs")] == "2")
    assert float(ok_row[header.index("final_accuracy")]) == pytest.approx(sum(finals) / 2, abs=1e-12)
    tests = [json.loads((out_dir / n / "eval_test.json").read_text())["accuracy"] for n in names]
    assert float(ok_row[header.index("test_accuracy")]) == pytest.approx(sum(tests) / 2, abs=1e-12)


def test_killed_run_of_a_sweep_resumes_when_the_sweep_is_called_again(tiny_commands, tiny_data_dir,
                                                                      tmp_path):
    from audiojax.train.loop import SIGNAL_AT_STEP

    path = tmp_path / "one.py"
    path.write_text(f'''
from audiojax.sweep import runs

def get_sweep(variant=None):
    return runs("{ROOT / TINY}", [{{"num_train_steps": 6, "checkpoint_every_steps": 3,
                                    "evals.validation.every_steps": 3}}])
''')
    out_dir = tmp_path / "sweep"
    # The run is killed (SIGKILL, as a lost node) after its step 4, its step-3 checkpoint saved.
    out = _sweep_cli([str(path), "--workdir", str(out_dir)], tiny_data_dir,
                     env={SIGNAL_AT_STEP: "4:KILL"})
    workdir = out_dir / ("kws_seed_cnn__checkpoint_every_steps=3__evals.validation.every_steps=3"
                         "__num_train_steps=6")
    assert out.returncode == 1 and f"FAILED {workdir.name}" in out.stdout, out.stdout[-2000:]
    assert not (workdir / "DONE").exists()
    steps = [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]
    assert steps == [3], steps

    out = _sweep_cli([str(path), "--workdir", str(out_dir)], tiny_data_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"resuming {workdir.name}" in out.stdout
    assert f"resuming {workdir} from step 3" in (workdir / "train.log").read_text()
    assert (workdir / "DONE").exists()
    assert [r["step"] for r in read_metrics(workdir) if r["split"] == "validation"] == [3, 6]


def test_submitit_local_executor_runs_the_sweep(tiny_commands, tiny_data_dir, tmp_path, monkeypatch):
    for key, value in _env(tiny_data_dir).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(ROOT)
    path = tmp_path / "one.py"
    path.write_text(f'''
from audiojax.sweep import runs

def get_sweep(variant=None):
    return runs("{ROOT / TINY}", [{{"num_train_steps": 1, "seed": 3}}])
''')
    runs = sw.load_sweep(str(path))
    result = sw.run_submitit(runs, tmp_path / "sweep", parallel=1, cluster="local",
                             resources={"timeout_min": 10})
    workdir = tmp_path / "sweep" / "kws_seed_cnn__num_train_steps=1__seed=3"
    assert result["done"] == [workdir.name] and not result["failed"]
    assert (workdir / "DONE").exists() and json.loads((workdir / "config.json").read_text())["seed"] == 3
    assert sw.run_submitit(runs, tmp_path / "sweep", cluster="local")["skipped"] == [workdir.name]


def test_dry_run_prints_the_commands_of_every_launch(tmp_path):
    runs = sw.load_sweep(str(ROOT / "launch" / "kws_frontends.py"))
    lines = sw.dry_run_lines(runs, tmp_path, "local", parallel=2)
    commands = [line for line in lines if not line.startswith("#")]
    assert len(commands) == 6
    assert commands[1].startswith("OMP_NUM_THREADS=") and " taskset -c " in commands[1]
    assert commands[1].endswith(f"--workdir {tmp_path}/kws_logmel_cnn__model.frontend=logmel__seed=0 "
                                "--config.model.frontend=logmel --config.seed=0")
    multi = sw.dry_run_lines(runs[:1], tmp_path, "slurm", processes=2)
    text = "\n".join(multi)
    assert ("gcloud compute tpus tpu-vm ssh $TPU_NAME --worker=all --command='cd $REPO && "
            "AUDIOJAX_DISTRIBUTED=1 python -m audiojax train") in text
    assert ("JAX_COORDINATOR_ADDRESS=$HOST0:12345 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=1 python -m "
            "audiojax train --config experiments/kws_seed_cnn.py") in text


def test_voice_count_sweep_holds_the_steps_fixed():
    runs = sw.load_sweep(str(ROOT / "launch" / "kws_voices.py"))
    assert [(r["overrides"]["data.train_voices"], r["overrides"]["num_train_steps"]) for r in runs] \
        == [(0.25, 3568), (0.5, 3568), (1.0, 3568)]
    tiny = sw.load_sweep(str(ROOT / "launch" / "kws_voices.py") + ":tiny")
    assert [r["overrides"] for r in tiny] == [{"data.train_voices": 0.5}, {"data.train_voices": 1.0}]


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "launch").glob("*.py")))
def test_every_launch_file_names_configs_that_take_its_overrides(name):
    """Each run of each sweep file (tiny variant) loads: its experiment exists and every
    override names a key of that experiment's config."""
    runs = sw.load_sweep(str(ROOT / "launch" / f"{name}.py") + ":tiny")
    assert runs
    for run in runs:
        config = load_config(str(ROOT / run["config"]),
                             [f"{k}={v}" for k, v in run["overrides"].items()])
        for key, value in run["overrides"].items():
            node = config
            for part in key.split("."):
                node = node[part]
            assert node == value, (run, key)
