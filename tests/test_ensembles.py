"""Scoring beyond one checkpoint: test-time shift averaging, ensembles of runs and of a run's
last checkpoints (evaluate and predict), against NumPy averages of the model's own outputs;
and the corpus a run trained on, recorded in its workdir and checked by evaluate and resume.

Two 2-step runs of a small log-mel CNN on the tiny ``commands`` corpus are the runs under test.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import audiojax

SHIFTS = 3
MAX_SHIFT_SECONDS = 0.1  # the default of config.shifts.max_seconds


def _config(data_dir, seed: int):
    from audiojax.train.defaults import base_config

    c = base_config("classification", "logmel_cnn")
    c.data.source = "commands/tiny"
    c.data.data_dir = str(data_dir)
    c.data.max_seconds = 1.0
    c.data.num_workers = 0
    c.model.channels = (4,)
    c.model.hidden = 8
    c.model.n_mels = 16
    c.seed = seed
    c.learning_rate = 0.01
    c.batch_size = 8
    c.num_train_steps = 2
    c.checkpoint_every_steps = 1
    c.log_every_steps = 1
    c.evals.validation.every_steps = 2
    return c


@pytest.fixture(scope="module")
def trained(tiny_commands, tiny_data_dir, tmp_path_factory):
    """``{"a", "b"}``: workdirs of two runs (seeds 0 and 1, checkpoints 1 and 2);
    ``"config_a"``: the first one's config."""
    import jax

    from audiojax.train.loop import train_and_evaluate

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    root = tmp_path_factory.mktemp("ensembles")
    out = {"config_a": _config(tiny_data_dir, 0)}
    for name, seed in (("a", 0), ("b", 1)):
        train_and_evaluate(_config(tiny_data_dir, seed), root / name)
        out[name] = root / name
    yield out
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture(scope="module")
def test_clips(tiny_commands):
    """The test split as the model sees it: ``(audio (n, 16000), lengths (n,), labels, paths)``."""
    rows = [line.split("\t") for line in (tiny_commands.path / "test.tsv").read_text().splitlines()]
    audio = np.zeros((len(rows), 16000), np.float32)
    lengths = np.zeros(len(rows), np.int32)
    for i, (path, *_) in enumerate(rows):
        y, _ = audiojax.load(tiny_commands.path / path, sr=16000)
        audio[i, :len(y[:16000])] = y[:16000]
        lengths[i] = len(y[:16000])
    paths = [str(tiny_commands.path / p) for p, *_ in rows]
    return audio, lengths, [label for _, label, *_ in rows], paths


def _shifted(audio: np.ndarray, lengths: np.ndarray, shift: int) -> np.ndarray:
    """Each row delayed by ``shift`` samples within its true length, zeros shifted in."""
    out = np.zeros_like(audio)
    for row, (y, n) in enumerate(zip(audio, lengths)):
        clip = y[:n]
        if shift >= 0:
            out[row, shift:n] = clip[:max(n - shift, 0)]
        else:
            out[row, :max(n + shift, 0)] = clip[-shift:]
    return out


def _softmax(logits) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _probabilities(run, audio, lengths, shifts: int = 1) -> np.ndarray:
    """``(n, classes)``: the softmax of the run's model on each shifted copy, averaged in NumPy."""
    offsets = (np.rint(np.linspace(-MAX_SHIFT_SECONDS, MAX_SHIFT_SECONDS, shifts) * 16000)
               .astype(int) if shifts > 1 else [0])
    return np.mean([_softmax(run.task.logits(run.variables, {"audio": _shifted(audio, lengths, s),
                                                             "length": lengths}))
                    for s in offsets], axis=0)


def _assert_scores(metrics: dict, probs: np.ndarray, labels: list[str], names: list[str]):
    """evaluate's loss, accuracy and confusion against the NumPy probabilities ``probs``."""
    truth = np.array([names.index(label) for label in labels])
    guess = probs.argmax(-1)
    confusion = np.zeros((len(names),) * 2, int)
    np.add.at(confusion, (truth, guess), 1)
    assert metrics["count"] == len(labels)
    assert metrics["loss"] == pytest.approx(-np.log(probs[np.arange(len(truth)), truth]).mean(),
                                            rel=1e-4)
    assert metrics["accuracy"] == pytest.approx(float((guess == truth).mean()))
    assert metrics["confusion_matrix"] == confusion.tolist()


def _predicted(predictions, names) -> np.ndarray:
    return np.array([[dict(p.top)[label] for label in names] for p in predictions])


def _error(err: str, command: str) -> str:
    """The one error line of ``audiojax COMMAND`` in ``err`` (library warnings aside)."""
    lines = [line for line in err.splitlines() if line.startswith(f"audiojax {command}: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_shift_averaging_in_evaluate_and_predict(trained, test_clips, tmp_path, capsys, cli_main):
    from audiojax.evaluate import evaluate
    from audiojax.runs import restore
    from audiojax.tasks.classification.predict import predict

    audio, lengths, labels, paths = test_clips
    plain = evaluate(trained["a"], checkpoint="latest", split="test")
    assert "corpus.json" not in capsys.readouterr().err  # the run's corpus is the recorded one
    one = evaluate(trained["a"], checkpoint="latest", split="test", overrides=["shifts.count=1"])
    assert plain["files"][0] == str(trained["a"] / "eval_test.json")
    assert one["files"][0] == str(trained["a"] / "eval_test+shifts.count=1.json")
    assert one["loss"] == pytest.approx(plain["loss"], rel=1e-6)
    assert one["confusion_matrix"] == plain["confusion_matrix"]
    run = restore(trained["a"], "latest")
    _assert_scores(plain, _probabilities(run, audio, lengths), labels, run.labels)

    # N shifts through the command line: the average of the model on N shifted copies.
    code, out, err = cli_main("evaluate", "--workdir", trained["a"], "--checkpoint", "latest",
                              "--split", "test", "--shifts", SHIFTS)
    assert code == 0, err
    shifted = json.loads((trained["a"] / f"eval_test+shifts.count={SHIFTS}.json").read_text())
    assert shifted["overrides"] == [f"shifts.count={SHIFTS}"]
    reference = _probabilities(run, audio, lengths, SHIFTS)
    assert not np.allclose(reference, _probabilities(run, audio, lengths), atol=1e-3)
    _assert_scores(shifted, reference, labels, run.labels)

    code, _, err = cli_main("evaluate", "--workdir", trained["a"], "--shifts", 0)
    assert code == 2 and "config.shifts.count=0: must be at least 1" in _error(err, "evaluate")

    # predict, on clips and on a shorter one (zero-padded: shifted within its true length).
    short = tmp_path / "short.wav"
    audiojax.save(short, audio[0, :9000], 16000)
    run3 = restore(trained["a"], "latest", [f"shifts.count={SHIFTS}"])
    got = _predicted(predict(run3, [*paths[:3], str(short)], top_k=len(run.labels)), run.labels)
    short_audio = np.zeros((1, 16000), np.float32)
    short_audio[0, :9000] = audio[0, :9000]
    want = np.concatenate([reference[:3], _probabilities(run, short_audio,
                                                          np.array([9000], np.int32), SHIFTS)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_ensembles_average_the_probabilities_of_their_runs(trained, test_clips, tmp_path, cli_main):
    from audiojax.evaluate import evaluate
    from audiojax.runs import restore
    from audiojax.tasks.classification.predict import predict

    audio, lengths, labels, paths = test_clips
    a, b = restore(trained["a"], "latest"), restore(trained["b"], "latest")
    probs_a, probs_b = _probabilities(a, audio, lengths), _probabilities(b, audio, lengths)
    assert not np.allclose(probs_a, probs_b, atol=1e-3)

    itself = evaluate(trained["a"], checkpoint="latest", split="test", ensemble=[trained["a"]])
    assert itself["files"][0] == str(trained["a"] / "eval_test+ensemble=a.json")
    _assert_scores(itself, probs_a, labels, a.labels)  # the run's own probabilities

    pair = evaluate(trained["a"], checkpoint="latest", split="test", ensemble=[trained["b"]])
    assert pair["files"][0] == str(trained["a"] / "eval_test+ensemble=b.json")
    assert pair["ensemble"] == [{"workdir": str(trained[n].resolve()), "checkpoint_step": 2}
                                for n in "ab"]
    _assert_scores(pair, (probs_a + probs_b) / 2, labels, a.labels)
    got = _predicted(predict(a, paths[:4], top_k=len(a.labels), ensemble=[b]), a.labels)
    np.testing.assert_allclose(got, (probs_a[:4] + probs_b[:4]) / 2, rtol=1e-4, atol=1e-6)

    # The last two checkpoints of one run.
    last = evaluate(trained["a"], split="test", last_checkpoints=2)
    assert last["files"][0] == str(trained["a"] / "eval_test+last_checkpoints=2.json")
    assert [m["checkpoint_step"] for m in last["ensemble"]] == [2, 1]
    _assert_scores(last, (probs_a + _probabilities(restore(trained["a"], 1), audio, lengths)) / 2,
                   labels, a.labels)

    # A run whose labels differ is refused by name, in one line; nothing is written.
    other = tmp_path / "other"
    shutil.copytree(trained["b"], other)
    swapped = [a.labels[1], a.labels[0], *a.labels[2:]]
    (other / "labels.json").write_text(json.dumps(swapped))
    code, _, err = cli_main("evaluate", "--workdir", trained["a"], "--ensemble", trained["b"], other,
                            "--split", "test")
    assert code == 2
    assert (f"--ensemble {other}: its labels.json differs from {trained['a']}'s (label 0: "
            f"{swapped[0]!r}, not {a.labels[0]!r})") in _error(err, "evaluate")
    assert not (trained["a"] / "eval_test+ensemble=b,other.json").exists()

    # predict from the command line: files before or after the runs of --ensemble.
    code, out, err = cli_main("predict", "--workdir", trained["a"], "--checkpoint", "latest", paths[0],
                              "--ensemble", trained["b"], "--top-k", 1)
    assert code == 0, err
    label, p = out.split("\t")[1].split()
    mean = (probs_a[0] + probs_b[0]) / 2
    assert label == a.labels[mean.argmax()] and float(p) == pytest.approx(mean.max(), abs=1e-3)


def test_the_corpus_a_run_trained_on_is_recorded_and_checked(trained, tiny_commands, tmp_path,
                                                             capsys, cli_main):
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    recorded = json.loads((trained["a"] / "corpus.json").read_text())
    info = tiny_commands.info
    assert recorded == {"source": "commands/tiny", "name": "commands", "size": "tiny", "seed": 0,
                        "fingerprint": info["fingerprint"], "format": info["versions"]["format"]}

    # A record of another build: evaluate refuses a split of the corpus, in one line.
    workdir = tmp_path / "run"
    shutil.copytree(trained["a"], workdir)
    tampered = {**recorded, "fingerprint": "0123456789abcdef"}
    (workdir / "corpus.json").write_text(json.dumps(tampered))
    results = {p.name: p.read_bytes() for p in workdir.glob("eval_*")}
    code, _, err = cli_main("evaluate", "--workdir", workdir, "--split", "test")
    line = _error(err, "evaluate")
    assert code == 2
    assert (f"error: {workdir}: trained on commands/tiny with fingerprint 0123456789abcdef (seed "
            f"0, format {recorded['format']}), but {tiny_commands.path} holds fingerprint "
            f"{info['fingerprint']} (seed 0, format {recorded['format']})") in line
    assert (f"audiojax data build commands --size tiny --seed 0 --data-dir "
            f"{tiny_commands.path.parent}") in line
    assert {p.name: p.read_bytes() for p in workdir.glob("eval_*")} == results
    # ... and resuming the run on it; a manifest of its clips is not checked.
    with pytest.raises(ValueError, match="0123456789abcdef .* to resume it, or train in a new "
                                         "--workdir"):
        train_and_evaluate(trained["config_a"], workdir)
    manifest = tmp_path / "clips.tsv"
    rows = [line.split("\t") for line in (tiny_commands.path / "test.tsv").read_text().splitlines()]
    manifest.write_text("".join(f"{tiny_commands.path / p}\t{label}\n" for p, label, *_ in rows))
    assert evaluate(workdir, manifest=manifest)["count"] == len(rows)

    # A run without a record (started before runs had one): evaluated, with a warning.
    (workdir / "corpus.json").unlink()
    capsys.readouterr()
    assert evaluate(workdir, split="test")["count"] == 12
    assert f"warning: {workdir}: no corpus.json" in capsys.readouterr().err
