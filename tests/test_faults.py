"""Fault injection, as a hostile but realistic user: bad options, concurrent runs, kills,
damaged checkpoints, clashing results, bad files. Each case asserts the outcome: the exit code,
a message naming the file or option, and that nothing was lost (checkpoints and result files
that were there are still there, byte for byte).

The toy task (tests/toy_task.py, no speech synthesizer) is the run under test; its commands
go through the CLI in a subprocess where a lock, a kill or a damaged file is involved, else
through ``audiojax.cli.main`` in this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import audiojax

ROOT = Path(__file__).resolve().parents[1]
TOY = ["--config", "tests/toy_task.py"]


def _env(extra=None):
    return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT / "tests"),
            "JAX_DISABLE_MOST_OPTIMIZATIONS": "1",
            "AUDIOJAX_PROGRESS_SECONDS": "0", **(extra or {})}


def cli(*args, extra_env=None, **popen):
    """``python -m audiojax ARGS`` in a subprocess (the toy task importable)."""
    cmd = [sys.executable, "-m", "audiojax", *map(str, args)]
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=_env(extra_env), **popen)
    return subprocess.run(cmd, cwd=ROOT, env=_env(extra_env), capture_output=True, text=True,
                          timeout=600)


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (locks aside) and the SHA-1 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def steps_of(workdir: Path) -> list[int]:
    return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.fixture(autouse=True)
def _toy_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A finished 12-step toy run (checkpoints 9 and 12 kept, and the best)."""
    workdir = tmp_path_factory.mktemp("toy") / "run"
    out = cli("train", *TOY, "--workdir", workdir)
    assert out.returncode == 0, out.stderr[-3000:]
    return workdir


@pytest.fixture
def run_copy(toy_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(toy_run, workdir)
    return workdir


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """Two folders with a ``test.tsv`` of toy tones each (the same stem, other clips)."""
    from toy_task import ToneSource

    root = tmp_path_factory.mktemp("tones")
    for folder, split in (("a", "test"), ("b", "validation")):
        rows = []
        for i, record in enumerate(ToneSource(split).records[:6]):
            path = root / folder / f"{i}.wav"
            path.parent.mkdir(exist_ok=True)
            audiojax.save(path, record["audio"], record["sample_rate"])
            rows.append(f"{path.name}\t{record['label']}\n")
        (root / folder / "test.tsv").write_text("".join(rows))
    return root


# -- a failed first start does not lock the workdir; a bad config writes nothing ----------------

@pytest.mark.parametrize("option,message", [
    ("--config.batch_size=0", "config.batch_size=0: must be positive"),
    ("--config.checkpoint_every_steps=0", "config.checkpoint_every_steps=0: must be positive"),
    ("--config.learning_rate=-0.1", "config.learning_rate=-0.1: must not be negative"),
    ("--config.optimizer=adagrad", "config.optimizer: unknown 'adagrad'"),
    ("--config.model.hiden=4", "no key 'hiden'"),
])
def test_a_bad_config_writes_nothing_and_the_corrected_command_runs(option, message, tmp_path, cli_main):
    workdir = tmp_path / "run"
    code, _, err = cli_main("train", *TOY, "--workdir", workdir, option)
    assert code == 2 and message in err and "Traceback" not in err
    assert not workdir.exists() or not any(workdir.iterdir())
    code, _, err = cli_main("train", *TOY, "--workdir", workdir, "--config.num_train_steps=3")
    assert code == 0, err
    assert steps_of(workdir) == [3]


def test_a_first_start_that_fails_after_writing_does_not_lock_the_workdir(tmp_path, cli_main):
    """A run that fails before its first checkpoint (here: an infinite learning rate) leaves a
    config.json; the corrected command is a new run, not "another config"."""
    workdir = tmp_path / "run"
    code, _, err = cli_main("train", *TOY, "--workdir", workdir, "--config.learning_rate=1e400")
    assert code == 2 and "step 1: loss is" in err and (workdir / "config.json").is_file()
    code, _, err = cli_main("train", *TOY, "--workdir", workdir, "--config.num_train_steps=3")
    assert code == 0, err


# -- two trainings on one workdir ---------------------------------------------------------------

def test_a_second_training_of_a_workdir_is_refused_naming_the_first(tmp_path, toy_run, checkpoints):
    from audiojax.train.loop import SIGNAL_AT_STEP

    workdir = tmp_path / "run"
    first = cli("train", *TOY, "--workdir", workdir, extra_env={SIGNAL_AT_STEP: "4:STOP"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # the first run stops itself after step 4, lock held
            state = Path(f"/proc/{first.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "T":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the first run did not reach step 4 within 300 s")
        before = digest(workdir)
        second = cli("train", *TOY, "--workdir", workdir)
        assert second.returncode == 2
        assert f"{workdir}: a training run of this workdir is already running (PID {first.pid} on " \
            in second.stderr
        assert digest(workdir) == before  # the second run touched nothing
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=600) == 0
    # The workdir holds one uninterrupted run: the records and parameters of the fixture's.
    rows = lambda w: [(r["step"], r["split"]) for r in map(json.loads, (w / "metrics.jsonl").open())]  # noqa: E731
    assert rows(workdir) == rows(toy_run)
    assert not list(workdir.rglob("*orbax-checkpoint-tmp*"))
    checkpoints.assert_same(checkpoints.params(workdir, 12), checkpoints.params(toy_run, 12), 0, 0)


# -- damaged checkpoints ------------------------------------------------------------------------

def _truncate_arrays(step_dir: Path) -> Path:
    arrays = [p for p in (step_dir / "state").rglob("*") if p.is_file() and "/d/" in str(p)]
    victim = max(arrays, key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    return victim


def test_a_damaged_latest_checkpoint_is_passed_over_with_a_warning(run_copy, cli_main):
    _truncate_arrays(run_copy / "checkpoints" / "12")
    out = cli("evaluate", "--workdir", run_copy, "--checkpoint", "latest", "--split", "test")
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"warning: {run_copy / 'checkpoints' / '12'}: does not restore (" in out.stderr
    assert "OUT_OF_RANGE" in out.stderr and "fell back to step 9" in out.stderr
    assert "Traceback" not in out.stderr  # orbax's abandoned reads used to print dozens
    assert json.loads((run_copy / "eval_test.json").read_text())["checkpoint_step"] == 9
    (run_copy / "checkpoints" / "9" / "meta" / "metadata").write_text('{"data_iter')
    _truncate_arrays(run_copy / "checkpoints" / "9")
    for step in steps_of(run_copy):
        if step not in (9, 12):
            _truncate_arrays(run_copy / "checkpoints" / str(step))
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--checkpoint", "best", "--split", "test")
    assert code == 2 and "no checkpoint restores" in err and str(run_copy / "checkpoints" / "9") in err
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--checkpoint", "12")
    assert code == 2 and f"{run_copy / 'checkpoints' / '12'}: does not restore" in err


def test_a_run_whose_latest_checkpoint_was_truncated_resumes_from_the_one_before(tmp_path, toy_run,
                                                                                 checkpoints):
    from audiojax.train.loop import SIGNAL_AT_STEP

    workdir = tmp_path / "run"
    killed = cli("train", *TOY, "--workdir", workdir, extra_env={SIGNAL_AT_STEP: "7:KILL"},
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert killed.wait(timeout=600) == -signal.SIGKILL
    assert steps_of(workdir) == [3, 6]
    _truncate_arrays(workdir / "checkpoints" / "6")
    out = cli("train", *TOY, "--workdir", workdir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"warning: {workdir / 'checkpoints' / '6'}: does not restore" in out.stdout
    assert f"resuming {workdir} from step 3" in out.stdout
    checkpoints.assert_same(checkpoints.params(workdir, 12), checkpoints.params(toy_run, 12), 0, 0)


# -- results never overwrite each other ---------------------------------------------------------

def test_results_are_named_by_what_was_evaluated_and_never_overwritten(run_copy, tones, cli_main):
    assert cli_main("evaluate", "--workdir", run_copy, "--split", "test")[0] == 0
    split_result = (run_copy / "eval_test.json").read_bytes()
    code, out, err = cli_main("evaluate", "--workdir", run_copy, "--manifest", tones / "a" / "test.tsv")
    assert code == 0, err
    assert (run_copy / "eval_test.json").read_bytes() == split_result
    manifest_result = (run_copy / "eval_manifest-test.json").read_bytes()
    assert json.loads(manifest_result)["count"] == 6
    # Another manifest of the same stem: refused, naming the file; nothing overwritten.
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--manifest", tones / "b" / "test.tsv")
    assert code == 2 and f"{run_copy / 'eval_manifest-test.json'} holds the results of" in err
    assert "give --output" in err
    assert (run_copy / "eval_manifest-test.json").read_bytes() == manifest_result
    code, _, _ = cli_main("evaluate", "--workdir", run_copy, "--manifest", tones / "b" / "test.tsv",
                          "--output", run_copy / "b.json")
    assert code == 0 and (run_copy / "b.json").is_file()
    # Overrides go into the name: the plain result stays.
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--split", "test", "--config.batch_size=4")
    assert code == 0, err
    assert (run_copy / "eval_test+batch_size=4.json").is_file()
    assert (run_copy / "eval_test.json").read_bytes() == split_result


# -- options at inference -----------------------------------------------------------------------

def test_inference_applies_the_overrides_it_can_and_refuses_the_rest(run_copy, cli_main):
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--config.data.on_bad=skip")
    assert code == 0, err
    assert json.loads((run_copy / "eval_test+data.on_bad=skip.json").read_text())["overrides"] == [
        "--config.data.on_bad=skip"]
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--config.learning_rate=1")
    assert code == 2
    assert "--config.learning_rate: cannot change at inference for a toy_task:ToyTask run" in err
    code, _, err = cli_main("evaluate", "--workdir", run_copy, "--config.data.on_bad=maybe")
    assert code == 2 and "config.data.on_bad: 'maybe'; use 'error' or 'skip'" in err


# -- bad workdirs, files and options: one line, exit code 2 -------------------------------------

def _bad_cases(run_copy: Path, tmp_path: Path):
    a_file = tmp_path / "file"
    a_file.write_text("not a run")
    broken_config = tmp_path / "broken_config"
    shutil.copytree(run_copy, broken_config)
    (broken_config / "config.json").write_text('{"task": ')
    broken_labels = tmp_path / "broken_labels"
    shutil.copytree(run_copy, broken_labels)
    (broken_labels / "labels.json").write_text("[low, mid")
    other_labels = tmp_path / "other_labels"
    shutil.copytree(run_copy, other_labels)
    (other_labels / "labels.json").write_text('["low", "mid", "high", "extra"]')
    folder = tmp_path / "a_folder.tsv"
    folder.mkdir()
    return [
        (["train", *TOY, "--workdir", a_file], f"--workdir {a_file}: a file, not a folder"),
        (["evaluate", "--workdir", a_file], f"--workdir {a_file}: a file, not a run's folder"),
        (["evaluate", "--workdir", run_copy, "--checkpoint", "foo"],
         "--checkpoint foo: expected best, latest or a step number"),
        (["evaluate", "--workdir", run_copy, "--checkpoint", "5"], "--checkpoint 5: no such checkpoint"),
        (["evaluate", "--workdir", run_copy, "--manifest", folder], f"{folder}: a folder, not a manifest file"),
        (["evaluate", "--workdir", run_copy, "--manifest", tmp_path / "nope.tsv"], "nope.tsv"),
        (["evaluate", "--workdir", broken_config], f"{broken_config / 'config.json'}: not valid JSON"),
        (["evaluate", "--workdir", broken_labels], f"{broken_labels / 'labels.json'}: not valid JSON"),
        (["evaluate", "--workdir", other_labels], "does not match this run's config and labels.json"),
        (["data", "check", folder], f"{folder}: a folder, not a manifest file"),
    ]


def test_bad_workdirs_files_and_options_get_one_line_and_exit_code_2(run_copy, tmp_path, cli_main):
    before = digest(run_copy)
    for args, message in _bad_cases(run_copy, tmp_path):
        code, _, err = cli_main(*args)
        assert code == 2, (args, err)
        assert message in err, (args, err)
        assert "Traceback" not in err and err.strip().count("\n") <= 2, (args, err)
    assert digest(run_copy) == before


def test_evaluating_a_folder_goes_past_a_broken_run(run_copy, tmp_path, cli_main):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    shutil.copytree(run_copy, sweep / "good")
    shutil.copytree(run_copy, sweep / "broken")
    (sweep / "broken" / "labels.json").write_text("[oops")
    code, out, _ = cli_main("evaluate", "--workdir", sweep, "--split", "test")
    assert code == 0
    assert "good: test at step" in out and "skipped broken: " in out and "labels.json" in out


def test_predict_and_data_check_edge_cases(run_copy, tones, tmp_path, capsys, cli_main):
    from audiojax.runs import restore
    from audiojax.tasks.classification.predict import predict

    one = tmp_path / "one_sample.wav"
    audiojax.save(one, np.array([0.5], np.float32), 8000)
    (result,) = predict(restore(run_copy, "latest"), [str(one)])
    assert result.windows == 1 and len(result.top) == 3
    assert f"warning: {one}: 1 sample (0.0001 s), padded with silence" in capsys.readouterr().err
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    code, out, _ = cli_main("data", "check", empty)
    assert code == 1 and f"{empty}: no clips: the manifest is empty" in out
    bom = tones / "a" / "bom.tsv"
    bom.write_bytes(b"\xef\xbb\xbf" + (tones / "a" / "test.tsv").read_bytes())
    labels = tmp_path / "labels.json"
    labels.write_text('["low", "mid", "high"]')
    code, out, err = cli_main("data", "check", bom, "--labels", labels)
    assert code == 0, out + err
    labels.write_text('["low"]')
    code, out, _ = cli_main("data", "check", bom, "--labels", labels)
    assert code == 1 and f"{bom}:2: 1.wav: unknown label 'mid'" in out


def test_progress_off_a_terminal_is_plain_lines(tmp_path):
    out = cli("train", *TOY, "--workdir", tmp_path / "run", "--config.num_train_steps=4")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "\r" not in out.stderr
    assert "train run: 4/4 step (100%)" in out.stderr
