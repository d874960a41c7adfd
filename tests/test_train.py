"""The trainer: tiny experiments end to end, 1 vs 4 devices (jit and pmap), kill and resume,
non-finite loss, evaluation on a split and on a manifest, prediction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss

from audiojax.config import load_config
from audiojax.data import corpus_dir, local_spec, source_parts

ROOT = Path(__file__).resolve().parents[1]
# Classification experiments (the ASR ones run end to end in tests/test_asr.py).
EXPERIMENTS = sorted(p.name for p in (ROOT / "experiments").glob("kws_*.py"))
# BC-ResNet's compilations alone take three minutes on 2 cores; the log-mel CNN is the compact
# CNN's model at another width (that of `make main`, in the default suite): slow suite only.
SLOW_EXPERIMENTS = {"kws_bc_resnet.py", "kws_logmel_cnn.py"}
KILL_TIMEOUT = 300  # seconds a tiny run may take before the test gives up


@pytest.mark.parametrize("experiment", [
    pytest.param(e, marks=pytest.mark.slow) if e in SLOW_EXPERIMENTS else e for e in EXPERIMENTS])
def test_tiny_variant_end_to_end(experiment, tiny_commands, tiny_data_dir, tmp_path):
    from audiojax.evaluate import evaluate
    from audiojax.runs import restore
    from audiojax.tasks.classification.predict import predict
    from audiojax.train.loop import train_and_evaluate

    config = load_config(str(ROOT / "experiments" / experiment) + ":tiny",
                         [f"data.data_dir={tiny_data_dir}"])
    workdir = tmp_path / "run"
    train_and_evaluate(config, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", *config.evals}
    val = [r for r in records if r["split"] == "validation"][-1]
    assert 0.0 <= val["accuracy"] <= 1.0 and np.isfinite(val["loss"])
    assert max(r["step"] for r in records) == config.num_train_steps
    assert (workdir / "learning_curves.png").stat().st_size > 1000
    assert any((workdir / "tensorboard").iterdir())

    # The test split, scored by the evaluator, against predict's probabilities of every class
    # for each clip (its own loading and forward pass), reduced by scikit-learn.
    # (the clips of every corpus the source joins: commands, and streams' clips of nothing)
    folders = [corpus_dir(tiny_data_dir, *local_spec(part)[:2])
               for part in source_parts(config.data.source)]
    lines = [(str(folder / path), label, *rest) for folder in folders
             for path, label, *rest in (line.split("\t") for line in
                                         (folder / "test.tsv").read_text().splitlines())]
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    run = restore(workdir, "latest")
    labels = run.labels
    predictions = predict(run, [p for p, *_ in lines], top_k=len(labels))
    probs = np.array([[dict(p.top)[label] for label in labels] for p in predictions], np.float64)
    probs /= probs.sum(1, keepdims=True)  # float32 softmax: sums off 1 by ~1e-7
    truth = [labels.index(label) for _, label, *_ in lines]
    guess = probs.argmax(1)
    assert metrics["count"] == len(lines)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truth, guess))
    assert metrics["confusion_matrix"] == confusion_matrix(truth, guess, labels=range(len(labels))).tolist()
    assert metrics["loss"] == pytest.approx(log_loss(truth, probs, labels=range(len(labels))), rel=1e-4)
    assert Path(metrics["files"][1]).stat().st_size > 1000  # confusion-matrix PNG

    # The same clips through a manifest written elsewhere, with absolute paths: same numbers.
    manifest = tmp_path / "elsewhere" / "mine.tsv"
    manifest.parent.mkdir()
    manifest.write_text("".join(f"{p}\t{label}\n" for p, label, *_ in lines))
    by_manifest = evaluate(workdir, checkpoint="latest", manifest=manifest)
    assert by_manifest["confusion_matrix"] == metrics["confusion_matrix"]
    assert by_manifest["loss"] == pytest.approx(metrics["loss"], rel=1e-5)

    # Per speaker (the manifest's third column): predict's hits, grouped by hand.
    by_hand: dict = {}
    for (_, label, speaker), g in zip(lines, guess):
        by_hand.setdefault(speaker, []).append(labels[g] == label)
    assert metrics["per_speaker"] == {s: {"accuracy": pytest.approx(np.mean(h)), "count": len(h)}
                                      for s, h in by_hand.items()}
    assert "per_speaker" not in by_manifest  # that manifest names no speakers


class _LoudnessRun:
    """A stand-in run whose "classifier" scores a window by its energy / 1000 (class ``loud``)
    against 0 (``quiet``): which window predict reports is then known in advance."""

    labels = ["quiet", "loud"]
    variables = {}

    class config:
        class data:
            sample_rate, max_seconds, center = 16000, 1.0, "none"

    class task:
        @staticmethod
        def logits(variables, batch):
            import jax.numpy as jnp

            energy = (jnp.asarray(batch["audio"]) ** 2).sum(-1)
            return jnp.stack([jnp.zeros_like(energy), energy / 1000.0], -1)

        @staticmethod
        def log_probabilities(variables, batch):  # what predict scores windows by
            import jax

            return jax.nn.log_softmax(_LoudnessRun.task.logits(variables, batch))


def test_predict_slides_over_long_files_and_reports_the_segment(tmp_path):
    import audiojax
    from audiojax.tasks.classification.predict import predict

    rng = np.random.default_rng(0)
    long = np.zeros(6 * 16000, np.float32)
    long[40000:56000] = 0.5 * rng.standard_normal(16000).clip(-1, 1)  # 2.5 to 3.5 s
    audiojax.save(tmp_path / "long.wav", long, 16000)
    audiojax.save(tmp_path / "short.wav", long[40000:50000], 16000)   # 0.625 s of the burst
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt ")
    got = predict(_LoudnessRun(), [str(tmp_path / f) for f in ("long.wav", "short.wav", "bad.wav")],
                  top_k=2)
    assert got[0].windows == 11 and got[0].start_seconds == 2.5  # half-second hops over 6 s
    assert got[0].top[0][0] == "loud" and got[1].top[0][0] == "loud"
    assert got[1].windows == 1 and got[1].start_seconds == 0.0
    energy = float((long[40000:56000].astype(np.float64) ** 2).sum())
    assert got[0].top[0][1] == pytest.approx(1 / (1 + np.exp(-energy / 1000.0)), rel=1e-5)
    assert isinstance(got[2], str) and "bad.wav" in got[2]


@pytest.fixture(scope="module")
def one_step_run(tiny_commands, tiny_data_dir, tmp_path_factory, run_cli):
    """One step of the article's classifier on the tiny corpus: a run to point commands at."""
    workdir = tmp_path_factory.mktemp("one_step") / "run"
    run_cli(["train", "--config", "experiments/kws_seed_cnn.py:tiny", "--workdir", workdir,
             "--config.num_train_steps=1"], tiny_data_dir)
    return workdir


def test_predict_command_prints_good_files_and_reports_bad_ones(tiny_commands, tiny_data_dir,
                                                                one_step_run, tmp_path, run_cli):
    import audiojax

    workdir = one_step_run
    clip = tiny_commands.path / (tiny_commands.path / "test.tsv").read_text().split("\t")[0]
    y, sr = audiojax.load(clip)
    audiojax.save(tmp_path / "long.wav", np.concatenate([np.zeros(2 * sr, np.float32), y]), sr)
    out = run_cli(["predict", "--workdir", workdir, "--checkpoint", "latest", "--top-k", "2",
                   clip, tmp_path / "long.wav", tmp_path / "missing.wav"], tiny_data_dir, check=False)
    assert out.returncode == 2
    short_line, long_line = out.stdout.splitlines()
    assert short_line.startswith(f"{clip}\t") and len(short_line.split("\t")[1].split()) == 4
    assert long_line.split("\t")[1].startswith("@") and long_line.split("\t")[1].endswith("s")
    assert "missing.wav: file not found" in out.stderr


def test_commands_refuse_a_run_of_another_task(tiny_commands, tiny_data_dir, one_step_run,
                                               tmp_path, run_cli):
    workdir = one_step_run
    clip = tiny_commands.path / (tiny_commands.path / "test.tsv").read_text().split("\t")[0]
    for args in (["transcribe", "--workdir", workdir, clip],
                 ["generate", "--workdir", workdir, "--seconds", "0.1", "--out", tmp_path / "g"]):
        out = run_cli(args, tiny_data_dir, check=False)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert f"`audiojax {args[0]}` is for" in out.stderr and "not a classification run" in out.stderr
        assert "its commands: predict" in out.stderr
    out = run_cli(["evaluate", "--workdir", workdir, "--beam-width", "3"], tiny_data_dir, check=False)
    assert out.returncode == 2 and "--config.decode.beam_width: cannot change at inference" in out.stderr


def test_evaluate_names_unknown_labels(tiny_commands, tiny_data_dir, one_step_run, tmp_path,
                                       run_cli):
    workdir = one_step_run
    first = (tiny_commands.path / "test.tsv").read_text().splitlines()[0].split("\t")
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{tiny_commands.path / first[0]}\tgiraffe\n{tiny_commands.path / first[0]}\tzebra\n")
    out = run_cli(["evaluate", "--workdir", workdir, "--manifest", bad], tiny_data_dir, check=False)
    assert out.returncode == 2
    assert f"{bad}: labels unknown to the model: giraffe, zebra" in out.stderr


# One experiment per task in CI; the whole matrix with `pytest -m slow`.
DEVICE_MATRIX = [  # jit across devices is also run, on 2 processes, by tests/test_distributed.py
    pytest.param("kws_gru.py", "pmap", id="kws_gru-pmap"),
    pytest.param("asr_attention.py", "pmap", id="asr_attention-pmap"),
    *[pytest.param(e, m, id=f"{e[:-3]}-{m}", marks=pytest.mark.slow)
      for e, m in [("kws_seed_cnn.py", "jit"), ("kws_seed_cnn.py", "pmap"), ("kws_gru.py", "jit"), ("kws_logmel_cnn.py", "jit"), ("kws_logmel_cnn.py", "pmap"),
                   ("asr_attention.py", "jit"), ("wavenet.py", "jit"), ("wavenet.py", "pmap"),
                   ("wavenet_vocoder.py", "jit"),
                   ("wavenet_vocoder.py", "pmap"), ("samplernn.py", "jit"), ("samplernn.py", "pmap")]],
]


def _device_args(experiment: str) -> list[str]:
    # SGD: Adam's first steps are ~lr * sign(grad), which turns float reduction-order noise in
    # near-zero gradients into lr-sized differences; SGD keeps the comparison at that noise.
    args = ["--config", f"experiments/{experiment}:tiny", "--config.num_train_steps=3",
            "--config.checkpoint_every_steps=3", "--config.optimizer=sgd",
            "--config.learning_rate=0.01"]
    if experiment.startswith("asr"):  # 4 devices need 4 utterances a batch: no length buckets
        args += ["--config.batch_size=4", "--config.data.bucket_seconds=()",
                 "--config.decode.beam_width=1", "--config.decode.ctc_weight=0.0"]  # greedy: quick
    return args


@pytest.mark.parametrize("experiment,mode", DEVICE_MATRIX)
def test_four_devices_match_one(experiment, mode, tiny_commands, tiny_sentences, tiny_data_dir,
                                tmp_path, run_cli, checkpoints):
    common = _device_args(experiment)
    run_cli(["train", *common, "--workdir", tmp_path / "one"], tiny_data_dir, devices=1)
    run_cli(["train", *common, f"--config.parallel={mode}", "--workdir", tmp_path / "four"],
            tiny_data_dir, devices=4)
    one, four = checkpoints.params(tmp_path / "one"), checkpoints.params(tmp_path / "four")
    assert int(one["step"]) == int(four["step"]) == 3
    checkpoints.assert_same(one, four, rtol=1e-4, atol=1e-6)


BF16 = [pytest.param("kws_gru.py", id="kws_gru"), pytest.param("asr_attention.py", id="asr_attention"),
        *[pytest.param(e, id=e[:-3], marks=pytest.mark.slow)
          for e in ("kws_seed_cnn.py", "kws_logmel_cnn.py", "wavenet.py", "wavenet_vocoder.py",
                    "samplernn.py")]]


@pytest.mark.parametrize("experiment", BF16)
def test_bfloat16_runs_or_is_refused_by_name(experiment, tiny_commands, tiny_sentences,
                                             tiny_data_dir, tmp_path, run_cli):
    """Every experiment trains in bfloat16, or is refused in one line naming its model, before
    anything is written to the workdir."""
    workdir = tmp_path / "run"
    out = run_cli(["train", "--config", f"experiments/{experiment}:tiny", "--workdir", workdir,
                   "--config.compute_dtype=bfloat16", "--config.num_train_steps=2"],
                  tiny_data_dir, check=False)
    model = load_config(str(ROOT / "experiments" / experiment)).model.name
    if out.returncode == 0:
        records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        assert all(np.isfinite(r["loss"]) for r in records)
    else:
        assert out.returncode == 2
        assert (f"config.compute_dtype=bfloat16: model '{model}' computes in float32 only"
                in out.stderr), out.stderr[-2000:]
        assert not (workdir / "config.json").exists()
    assert (out.returncode == 0) == (model in ("waveform_cnn", "logmel_cnn", "gru_classifier",
                                               "recognizer"))


def _kill_at(step: int, how: str) -> dict:
    from audiojax.train.loop import SIGNAL_AT_STEP

    return {SIGNAL_AT_STEP: f"{step}:{how}"}


def test_killed_run_resumes_to_the_same_parameters(tiny_commands, tiny_data_dir, tmp_path,
                                                   run_cli, checkpoints):
    # With grain worker processes, as real runs have: their iterator state is checkpointed too.
    common = ["--config", "experiments/kws_seed_cnn.py:tiny", "--config.num_train_steps=6",
              "--config.checkpoint_every_steps=3", "--config.evals.validation.every_steps=3",
              "--config.data.num_workers=2"]
    run_cli(["train", *common, "--workdir", tmp_path / "whole"], tiny_data_dir)

    killed = tmp_path / "killed"
    # The run kills itself (SIGKILL, no clean-up) after step 5: its step-3 checkpoint is the
    # newest; a scheduler would end the dead job's worker processes, as the test does.
    proc = run_cli(["train", *common, "--workdir", killed], tiny_data_dir,
                   env=_kill_at(5, "KILL"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    returncode, workers = _run_to_the_end(proc)
    for pid in workers:  # as a scheduler ends a dead job's whole process tree
        _kill(pid)
    assert returncode == -signal.SIGKILL, returncode
    steps = sorted(int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [3], steps
    out = run_cli(["train", *common, "--workdir", killed], tiny_data_dir)
    assert "resuming" in out.stdout
    whole, resumed = checkpoints.params(tmp_path / "whole", 6), checkpoints.params(killed, 6)
    checkpoints.assert_same(whole, resumed, rtol=0, atol=0)
    # metrics.jsonl holds the records of one uninterrupted run: each step once.
    rows = [(r["step"], r["split"]) for r in map(json.loads, (killed / "metrics.jsonl").open())]
    assert rows == [(r["step"], r["split"]) for r in map(json.loads, (tmp_path / "whole" / "metrics.jsonl").open())]


def _run_to_the_end(proc) -> tuple[int, set[int]]:
    """Waits for a run that stops itself; returns its exit status and the processes it started
    (its loader workers), seen while it ran. Fails with a message if it runs too long."""
    workers: set[int] = set()
    deadline = time.time() + KILL_TIMEOUT
    while proc.poll() is None:
        if time.time() > deadline:
            for pid in [proc.pid, *workers, *_descendants(proc.pid)]:
                _kill(pid)
            pytest.fail(f"the run did not stop itself within {KILL_TIMEOUT} s")
        workers |= _descendants(proc.pid)
        time.sleep(0.05)
    return proc.returncode, workers


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_nonfinite_steps_stop_with_the_step_and_keep_only_finite_checkpoints(
        tiny_commands, tiny_data_dir, tmp_path, run_cli, checkpoints):
    common = ["--config", "experiments/kws_seed_cnn.py:tiny", "--config.checkpoint_every_steps=1",
              "--config.log_every_steps=1"]
    # Warm-up from 0: step 1 leaves the parameters as they were (saved); step 2's learning rate
    # of 3e11 gives finite parameters whose evaluation is NaN: not saved, and the run stops there.
    workdir = tmp_path / "warm"
    out = run_cli(["train", *common, "--workdir", workdir, "--config.learning_rate=1e12",
                   "--config.warmup_steps=3"], tiny_data_dir, check=False)
    assert out.returncode == 2
    assert "error: step 2: evaluator validation's loss is nan" in out.stderr
    assert "the last good checkpoint is step 1" in out.stderr
    assert sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == [1]
    kept = checkpoints.params(workdir)
    assert all(np.isfinite(v).all() for _, v in checkpoints.flat(kept["params"]))
    # An infinite learning rate makes the first update's parameters non-finite: the step
    # refuses it and the run stops, nothing saved.
    workdir = tmp_path / "inf"
    out = run_cli(["train", *common, "--workdir", workdir, "--config.learning_rate=1e400"],
                  tiny_data_dir, check=False)
    assert out.returncode == 2 and "error: step 1: loss is" in out.stderr
    assert "parameter norm nan (the update was not applied)" in out.stderr
    assert "no checkpoint was saved before it" in out.stderr
    assert not [p for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]


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
            try:
                children = (task / "children").read_text().split()
            except FileNotFoundError:
                continue
            for child in children:
                found.add(int(child))
                todo.append(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is missing


def test_terminated_run_stops_its_loader_workers(tiny_commands, tiny_data_dir, tmp_path, run_cli):
    """``kill`` (SIGTERM) on a training run ends its grain worker processes too (they used to
    be left running, holding memory) and leaves a complete checkpoint to resume from."""
    workdir = tmp_path / "run"
    proc = run_cli(["train", "--config", "experiments/kws_seed_cnn.py:tiny", "--workdir", workdir,
                    "--config.num_train_steps=100000", "--config.evals.validation.every_steps=3",
                    "--config.checkpoint_every_steps=3", "--config.data.num_workers=2"],
                   tiny_data_dir, env=_kill_at(4, "TERM"), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    returncode, workers = _run_to_the_end(proc)
    assert returncode == 143, returncode
    assert len(workers) >= 2, workers  # grain's worker processes (and their helpers)
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]
    assert ocp.CheckpointManager(workdir.absolute() / "checkpoints").latest_step() == 3
