"""The trainer: tiny experiments end to end, 1 vs 4 devices (jit and pmap), kill and resume,
non-finite loss, evaluation on a split and on a manifest, prediction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

from audiojax.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]
# Classification experiments (the ASR ones run end to end in tests/test_asr.py).
EXPERIMENTS = sorted(p.name for p in (ROOT / "experiments").glob("kws_*.py"))


def _cli(args, data_dir, devices=1, check=True, **popen):
    env = dict(os.environ, AUDIOJAX_DATA=str(data_dir), JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    cmd = [sys.executable, "-m", "audiojax", *args]
    if popen:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, **popen)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out


def _params(workdir: Path, step: int | None = None) -> dict:
    ckpt = workdir / "checkpoints"
    step = step or max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    state = ocp.StandardCheckpointer().restore((ckpt / str(step) / "state").absolute())
    return {"params": state["params"], "batch_stats": state["batch_stats"], "step": state["step"]}


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{prefix}/{k}")
    else:
        yield prefix, np.asarray(tree)


def _assert_same(a, b, rtol, atol):
    fa, fb = dict(_flat(a)), dict(_flat(b))
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_allclose(fa[k], fb[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_tiny_variant_end_to_end(experiment, tiny_commands, tiny_data_dir, tmp_path):
    from audiojax.evaluate import evaluate, predict
    from audiojax.train.loop import train_and_evaluate

    config = load_config(str(ROOT / "experiments" / experiment) + ":tiny",
                         [f"data.data_dir={tiny_data_dir}"])
    workdir = tmp_path / "run"
    val = train_and_evaluate(config, workdir)
    assert 0.0 <= val["accuracy"] <= 1.0 and np.isfinite(val["loss"])
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "validation"}
    assert max(r["step"] for r in records) == config.num_train_steps
    assert (workdir / "learning_curves.png").stat().st_size > 1000
    assert any((workdir / "tensorboard").iterdir())

    # On the test split: every clip counted once, confusion matrix consistent with accuracy.
    test_manifest = tiny_commands.path / "test.tsv"
    n_test = len(test_manifest.read_text().splitlines())
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    confusion = np.array(metrics["confusion_matrix"])
    assert metrics["count"] == n_test == confusion.sum()
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / n_test)
    assert Path(metrics["files"][1]).stat().st_size > 1000  # confusion-matrix PNG

    # The same clips through a manifest written elsewhere, with absolute paths: same numbers.
    lines = [line.split("\t") for line in test_manifest.read_text().splitlines()]
    manifest = tmp_path / "elsewhere" / "mine.tsv"
    manifest.parent.mkdir()
    manifest.write_text("".join(f"{tiny_commands.path / p}\t{label}\n" for p, label, *_ in lines))
    by_manifest = evaluate(workdir, checkpoint="latest", manifest=manifest)
    assert by_manifest["confusion_matrix"] == metrics["confusion_matrix"]
    assert by_manifest["loss"] == pytest.approx(metrics["loss"], rel=1e-5)

    top = predict(workdir, [str(tiny_commands.path / lines[0][0])], checkpoint="latest", top_k=2)
    assert len(top) == 1 and len(top[0]) == 2 and top[0][0][1] >= top[0][1][1]

    # Per speaker (the manifest's third column): the hits of `predict`, grouped by hand.
    best = predict(workdir, [str(tiny_commands.path / p) for p, *_ in lines], checkpoint="latest", top_k=1)
    by_hand: dict = {}
    for (_, label, speaker), guess in zip(lines, best):
        by_hand.setdefault(speaker, []).append(guess[0][0] == label)
    assert metrics["per_speaker"] == {s: {"accuracy": pytest.approx(np.mean(h)), "count": len(h)}
                                      for s, h in by_hand.items()}
    assert "per_speaker" not in by_manifest  # that manifest names no speakers


def test_evaluate_names_unknown_labels(tiny_commands, tiny_data_dir, tmp_path):
    workdir = tmp_path / "run"
    _cli(["train", "--config", "experiments/kws_seed_cnn.py:tiny", "--workdir", str(workdir),
          "--config.num_train_steps=1"], tiny_data_dir)
    first = (tiny_commands.path / "test.tsv").read_text().splitlines()[0].split("\t")
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{tiny_commands.path / first[0]}\tgiraffe\n{tiny_commands.path / first[0]}\tzebra\n")
    out = _cli(["evaluate", "--workdir", str(workdir), "--manifest", str(bad)], tiny_data_dir, check=False)
    assert out.returncode == 2
    assert f"{bad}: labels unknown to the model: giraffe, zebra" in out.stderr


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_four_devices_match_one(mode, tiny_commands, tiny_data_dir, tmp_path):
    # SGD: Adam's first steps are ~lr * sign(grad), which turns float reduction-order noise in
    # near-zero gradients into lr-sized differences; SGD keeps the comparison at that noise.
    common = ["--config", "experiments/kws_seed_cnn.py:tiny", "--config.num_train_steps=3",
              "--config.batch_size=8", "--config.checkpoint_every_steps=3",
              "--config.optimizer=sgd", "--config.learning_rate=0.01"]
    _cli(["train", *common, "--workdir", str(tmp_path / "one")], tiny_data_dir, devices=1)
    _cli(["train", *common, f"--config.parallel={mode}", "--workdir", str(tmp_path / "four")],
         tiny_data_dir, devices=4)
    one, four = _params(tmp_path / "one"), _params(tmp_path / "four")
    assert int(one["step"]) == int(four["step"]) == 3
    _assert_same(one, four, rtol=1e-4, atol=1e-6)


def test_killed_run_resumes_to_the_same_parameters(tiny_commands, tiny_data_dir, tmp_path):
    # With grain worker processes, as real runs have: their iterator state is checkpointed too.
    common = ["--config", "experiments/kws_seed_cnn.py:tiny", "--config.num_train_steps=12",
              "--config.checkpoint_every_steps=3", "--config.eval_every_steps=3",
              "--config.data.num_workers=2"]
    _cli(["train", *common, "--workdir", str(tmp_path / "whole")], tiny_data_dir)

    killed = tmp_path / "killed"
    proc = _cli(["train", *common, "--workdir", str(killed)], tiny_data_dir,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (killed / "checkpoints" / "3" / "state").is_dir():
        time.sleep(0.05)
    workers = _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for pid in workers:  # as a scheduler ends a dead job's whole process tree
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    steps = [int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit()]
    assert 3 <= max(steps) < 12, steps  # killed mid-run
    out = _cli(["train", *common, "--workdir", str(killed)], tiny_data_dir)
    assert "resuming" in out.stdout
    whole, resumed = _params(tmp_path / "whole", 12), _params(killed, 12)
    _assert_same(whole, resumed, rtol=0, atol=0)


def test_nonfinite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(
        tiny_commands, tiny_data_dir, tmp_path):
    workdir = tmp_path / "run"
    out = _cli(["train", "--config", "experiments/kws_seed_cnn.py:tiny", "--workdir", str(workdir),
                "--config.learning_rate=1e30", "--config.checkpoint_every_steps=1",
                "--config.log_every_steps=1"], tiny_data_dir, check=False)
    assert out.returncode == 2
    assert "error: step 2: loss is nan" in out.stderr
    assert "the last good checkpoint is step 1" in out.stderr
    kept = _params(workdir)
    assert int(kept["step"]) == 1
    assert all(np.isfinite(v).all() for _, v in _flat(kept["params"]))


def _corpus_with_bad_lines(tiny_commands, folder: Path) -> Path:
    folder.mkdir()
    for split in ("train", "validation"):
        rows = [line.split("\t") for line in (tiny_commands.path / f"{split}.tsv").read_text().splitlines()]
        text = "".join(f"{tiny_commands.path / p}\t{label}\n" for p, label, *_ in rows)
        if split == "train":
            text += f"{folder / 'gone.wav'}\t{rows[0][1]}\nno tab on this line\n"
        (folder / f"{split}.tsv").write_text(text)
    return folder


def test_bad_training_data_stops_by_default_and_is_skipped_and_reported_on_request(
        tiny_commands, tiny_data_dir, tmp_path, capsys):
    from audiojax.data.manifest import ManifestError
    from audiojax.train.loop import train_and_evaluate

    folder = _corpus_with_bad_lines(tiny_commands, tmp_path / "data")
    spec = str(ROOT / "experiments" / "kws_seed_cnn.py") + ":tiny"
    config = load_config(spec, [f"data.source={folder}", "num_train_steps=3"])
    with pytest.raises(ManifestError, match=f"{folder / 'train.tsv'}:"):
        train_and_evaluate(config, tmp_path / "strict")

    config = load_config(spec, [f"data.source={folder}", "num_train_steps=3", "data.on_bad=skip",
                                "batch_size=14"])  # 14 examples per epoch: the bad one is met
    train_and_evaluate(config, tmp_path / "lenient")
    out = capsys.readouterr().out
    assert "skipping 1 malformed manifest line(s)" in out and "malformed line" in out
    assert f"{folder / 'train.tsv'}:" in out
    assert "skipped" in out and "gone.wav: file not found" in out


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            for child in (task / "children").read_text().split():
                found.add(int(child))
                todo.append(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is missing


def test_terminated_run_stops_its_loader_workers(tiny_commands, tiny_data_dir, tmp_path):
    """``kill`` (SIGTERM) on a training run ends its grain worker processes too (they used to
    be left running, holding memory) and leaves a complete checkpoint to resume from."""
    workdir = tmp_path / "run"
    proc = _cli(["train", "--config", "experiments/kws_seed_cnn.py:tiny", "--workdir",
                 str(workdir), "--config.num_train_steps=100000", "--config.eval_every_steps=3",
                 "--config.checkpoint_every_steps=3", "--config.data.num_workers=2"],
                tiny_data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (workdir / "checkpoints" / "3" / "state").is_dir():
        time.sleep(0.05)
    workers = _descendants(proc.pid)
    assert len(workers) >= 2, workers  # grain's worker processes (and their helpers)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]
    assert ocp.CheckpointManager(workdir.absolute() / "checkpoints").latest_step() >= 3
