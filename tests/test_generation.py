"""The generation task end to end: tiny WaveNet experiments trained by the shared trainer,
evaluated in bits/sample on held-out voices, sampled by ``audiojax generate``."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import audiojax
from audiojax.config import load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _fast_compile():
    """Compilation dominates these tiny runs; XLA's optimizations are not worth it here."""
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


def _train(experiment: str, data_dir, workdir: Path):
    from audiojax.train.loop import train_and_evaluate

    config = load_config(str(ROOT / "experiments" / experiment) + ":tiny", [f"data.data_dir={data_dir}"])
    return config, train_and_evaluate(config, workdir)


def test_loss_is_the_mean_nll_of_the_valid_samples():
    from audiojax.tasks.generation.task import Generation

    config = load_config(str(ROOT / "experiments" / "wavenet.py") + ":tiny")
    task = Generation(config, ["no", "yes"])
    rng = np.random.default_rng(0)
    batch = {"audio": jnp.asarray(0.3 * rng.standard_normal((3, 50)).clip(-1, 1), jnp.float32),
             "length": jnp.array([50, 20, 50]), "label": jnp.array([1, 0, 1]),
             "mask": jnp.array([True, True, False])}
    params = task.init(jax.random.PRNGKey(0), batch)["params"]
    loss, (_, metrics) = task.loss(params, {}, batch, jax.random.PRNGKey(1), None)
    # Reference: logits of the parallel pass on the shifted codes, NumPy log-softmax.
    codes = np.asarray(audiojax.frontends.mu_law_encode(batch["audio"]))
    inputs = np.concatenate([np.full((3, 1), 128), codes[:, :-1]], 1)  # 128: code of 0.0
    logits = np.asarray(task.model.apply({"params": params}, jnp.asarray(inputs),
                                         global_id=batch["label"]), np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, codes[..., None], -1)[..., 0]
    expected = np.concatenate([nll[0], nll[1, :20]]).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["nll_bits_per_sample"]) == pytest.approx(expected / np.log(2), rel=1e-5)


def test_word_conditioned_wavenet_end_to_end(tiny_commands, tiny_data_dir, tmp_path):
    from audiojax.evaluate import evaluate
    from audiojax.runs import restore
    from audiojax.tasks.generation.generate import generate

    workdir = tmp_path / "run"
    config, val = _train("wavenet.py", tiny_data_dir, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["split"] == "train"]
    assert losses[-1] < losses[0]  # it learns something in 6 steps
    assert "yes" in json.loads((workdir / "labels.json").read_text())
    assert 4.0 < val["nll_bits_per_sample"] < 8.1  # uniform over 256 codes is 8 bits

    # On the test split: the mean NLL of every valid sample, recomputed here from the
    # restored model's logits (NumPy log-softmax) over each clip's centre crop.
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    lines = [line.split("\t") for line in (tiny_commands.path / "test.tsv").read_text().splitlines()]
    assert metrics["count"] == len(lines)
    assert "bits/sample" in metrics["headline"]
    run = restore(workdir, "latest")
    crop = int(round(config.data.max_seconds * config.data.sample_rate))
    total, samples = 0.0, 0
    for path, label, *_ in lines:
        y = audiojax.load(tiny_commands.path / path, sr=config.data.sample_rate)[0]
        y = y[(len(y) - crop) // 2:][:crop] if len(y) > crop else y
        nll = _numpy_nll(run, y[None], np.array([run.task.label_to_id[label]]))
        total, samples = total + nll.sum(), samples + nll.size
    assert metrics["loss"] == pytest.approx(total / samples, rel=1e-4)
    assert metrics["nll_bits_per_sample"] == pytest.approx(total / samples / np.log(2), rel=1e-4)
    assert metrics["samples"] == samples

    files = generate(run, 0.05, 2, tmp_path / "gen", condition="yes")
    assert [f.name for f in files] == ["yes_00.wav", "yes_00.png", "yes_01.wav", "yes_01.png"]
    y, sr = audiojax.load(files[0])
    assert sr == config.data.sample_rate and len(y) == int(0.05 * sr) and np.abs(y).max() > 0
    assert not np.array_equal(y, audiojax.load(files[2])[0])  # two different streams
    assert files[1].stat().st_size > 1000
    with pytest.raises(ValueError, match="--condition: unknown label 'giraffe'"):
        generate(run, 0.05, 1, tmp_path / "gen", condition="giraffe")
    with pytest.raises(ValueError, match="--mel-from: the model .* is not a mel vocoder"):
        generate(run, 0.05, 1, tmp_path / "gen", mel_from="x.wav")


def test_vocoder_end_to_end(tiny_sentences, tiny_data_dir, tmp_path):
    from audiojax.runs import restore
    from audiojax.tasks.generation.generate import generate, vocoder_distortion

    workdir = tmp_path / "run"
    _, val = _train("wavenet_vocoder.py", tiny_data_dir, workdir)
    assert np.isfinite(val["nll_bits_per_sample"])
    assert json.loads((workdir / "labels.json").read_text()) == []  # no list of transcripts
    wav = tiny_sentences.path / (tiny_sentences.path / "test.tsv").read_text().split("\t")[0]
    run = restore(workdir, "latest")
    files = generate(run, 0.04, 1, tmp_path / "gen", mel_from=str(wav))
    y, sr = audiojax.load(files[0])
    assert len(y) == int(0.04 * sr)

    # Distortion of the rendering of a short clip's own mel: per file and mean, in dB.
    short = tmp_path / "short.wav"
    audiojax.save(short, audiojax.load(wav, sr=sr)[0][:int(0.06 * sr)], sr)
    scores = vocoder_distortion(run, [str(short)], tmp_path / "voc")
    row = scores["files"][str(short)]
    assert scores["lsd_db"] == row["lsd_db"] > 0 and scores["mcd_db"] == row["mcd_db"] > 0


def test_samplernn_end_to_end(tiny_commands, tiny_data_dir, tmp_path):
    from audiojax.runs import restore
    from audiojax.tasks.generation.generate import generate

    workdir = tmp_path / "run"
    _, val = _train("samplernn.py", tiny_data_dir, workdir)
    assert 4.0 < val["nll_bits_per_sample"] < 8.1
    files = generate(restore(workdir, "latest"), 0.02, 2, tmp_path / "gen", condition="no")
    y, sr = audiojax.load(files[0])
    assert len(y) == int(0.02 * sr)


def _numpy_nll(run, audio: np.ndarray, label: np.ndarray) -> np.ndarray:
    """``(batch, samples)`` next-sample NLL (nats) of 8-bit mu-law codes: the restored
    WaveNet's logits on the previous codes, NumPy log-softmax."""
    codes = np.asarray(audiojax.frontends.mu_law_encode(jnp.asarray(audio)))
    inputs = np.concatenate([np.full((len(codes), 1), 128), codes[:, :-1]], 1)  # 128: code of 0.0
    logits = np.asarray(run.task.model.apply({"params": run.variables["params"]}, jnp.asarray(inputs),
                                             global_id=jnp.asarray(label)), np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, codes[..., None], -1)[..., 0]


def test_generate_command_line():
    from audiojax.cli import build_parser

    args = build_parser().parse_args(["generate", "--workdir", "runs/w", "--seconds", "0.5", "--num", "3",
                                      "--out", "o", "--condition", "yes", "--temperature", "0.9"])
    assert (args.workdir, args.seconds, args.num, args.out, args.condition, args.mel_from,
            args.temperature, args.checkpoint) == ("runs/w", 0.5, 3, "o", "yes", None, 0.9, "best")
    with pytest.raises(SystemExit):  # a word and a mel source at once
        build_parser().parse_args(["generate", "--workdir", "w", "--out", "o", "--condition", "yes",
                                   "--mel-from", "a.wav"])
