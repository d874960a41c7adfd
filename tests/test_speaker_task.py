"""Speaker recognition: the angular-margin head against NumPy, the speakers corpus's splits and
trial lists, and the task end to end (train, evaluate on trials, embed, verify)."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.config import load_config
from audiojax.data.trials import read_trials
from audiojax.tasks.speaker import metrics as M
from audiojax.tasks.speaker.task import aam_logits

ROOT = Path(__file__).resolve().parents[1]


def numpy_aam(cosine, labels, margin, scale):
    """ArcFace by angles: s cos(theta + m) at the true class while theta + m <= pi, else the
    linear continuation s (cos theta - m sin m); s cos theta elsewhere."""
    theta = np.arccos(np.clip(cosine, -1.0, 1.0))
    out = scale * cosine.copy()
    for b, y in enumerate(labels):
        t = theta[b, y]
        out[b, y] = scale * (np.cos(t + margin) if t + margin <= np.pi
                             else cosine[b, y] - margin * np.sin(margin))
    return out


@pytest.mark.parametrize("margin", [0.0, 0.2, 0.5])
def test_aam_logits_match_numpy_transcription(margin):
    rng = np.random.default_rng(3)
    cosine = np.tanh(rng.standard_normal((64, 7)))
    cosine[:4, 0] = [-0.999, -0.95, 0.999, 1.0]  # angles near pi and 0
    labels = rng.integers(0, 7, 64)
    labels[:4] = 0
    got = np.asarray(aam_logits(jnp.asarray(cosine, jnp.float32), jnp.asarray(labels), margin, 30.0))
    np.testing.assert_allclose(got, numpy_aam(cosine.astype(np.float32).astype(np.float64),
                                              labels, margin, 30.0), atol=3e-5 * 30)
    off = np.ones_like(cosine, bool)
    off[np.arange(64), labels] = False
    np.testing.assert_allclose(got[off], 30.0 * cosine[off], rtol=1e-6)  # margin on targets only


def test_margin_warms_up_linearly(tiny_speakers, tiny_data_dir):
    from audiojax.tasks import get_task

    config = load_config(str(ROOT / "experiments/speaker_xvector.py") + ":tiny",
                         [f"data.data_dir={tiny_data_dir}", "speaker.margin_warmup_steps=100"])
    task = get_task(config, ["a", "b"])
    assert [float(task.margin_at(s)) for s in (0, 50, 100, 400)] == pytest.approx(
        [0.0, 0.1, 0.2, 0.2])


def test_sped_up_copies_of_speakers_are_speakers_of_their_own(tiny_speakers, tiny_data_dir):
    """speaker.speed_speakers: each example kept or played faster by one factor, as NumPy's
    linear interpolation at t * factor, its label moved to that factor's copy of the speakers;
    the head has a class per copy; a factor of 1 is refused by name."""
    import jax

    from audiojax.tasks import get_task
    from audiojax.train.defaults import validate

    config = load_config(str(ROOT / "experiments/speaker_xvector.py") + ":tiny",
                         [f"data.data_dir={tiny_data_dir}", "speaker.speed_speakers=(0.9, 1.2)"])
    task = get_task(config, ["a", "b", "c"])
    assert task.model.num_classes == 9
    rng = np.random.default_rng(0)
    lengths = rng.integers(300, 400, 48)
    audio = rng.standard_normal((48, 400)).astype(np.float32) * (np.arange(400) < lengths[:, None])
    labels = rng.integers(0, 3, 48)
    out, new_lengths, new_labels = jax.device_get(task.speed_speakers(
        jax.random.PRNGKey(1), jnp.asarray(audio), jnp.asarray(lengths), jnp.asarray(labels), None))
    copy = (new_labels - labels) // 3
    assert ((new_labels - labels) % 3 == 0).all() and set(copy) == {0, 1, 2}
    for x, n, y, m, k in zip(audio, lengths, out, new_lengths, copy):
        factor = (1.0, 0.9, 1.2)[k]
        assert m == min(int(np.floor(n / factor)), 400)
        want = np.interp(np.arange(m, dtype=np.float32) * np.float32(factor), np.arange(400), x)
        np.testing.assert_allclose(y[:m], want, atol=1e-5)
        assert not y[m:].any()
    with config.unlocked():
        config.speaker.speed_speakers = (1.0, 1.1)
    with pytest.raises(ValueError, match=r"config.speaker.speed_speakers=\(1.0, 1.1\)"):
        validate(config)


def _clips(corpus):
    return [json.loads(line) for line in (corpus / "clips.jsonl").read_text().splitlines()]


def test_speakers_corpus_splits_and_trials(tiny_speakers):
    corpus = tiny_speakers.path
    clips = _clips(corpus)
    groups = {s: {c["group"] for c in clips if c["split"] == s} for s in
              ("train", "validation", "test")}
    assert not (groups["train"] & groups["validation"]) and not (groups["train"] & groups["test"])
    assert not (groups["validation"] & groups["test"])
    train_speakers = sorted({c["speaker"] for c in clips if c["split"] == "train"})
    assert tiny_speakers.info["labels"] == train_speakers   # the classes
    ident = [c for c in clips if c["split"] == "identification"]
    assert {c["speaker"] for c in ident} == set(train_speakers)
    assert not {c["index"] for c in ident} & {c["index"] for c in clips if c["split"] == "train"}
    # Every utterance of a speaker keeps its voice; its text and rate vary.
    by_path = {str((corpus / c["path"]).resolve()): c for c in clips}
    for split in ("validation", "test", "test_clean"):
        trials = read_trials(corpus / f"trials_{split}.tsv")
        assert trials and sum(t.target for t in trials) == sum(not t.target for t in trials)
        for t in trials:
            a, b = by_path[t.enroll], by_path[t.test]
            assert a["split"] == b["split"] == split and t.enroll != t.test
            if t.target:
                assert a["speaker"] == b["speaker"] and a["text"] != b["text"]
            else:
                assert a["group"] != b["group"]  # different persons
            if split == "test_clean":
                assert a["aug"].keys() == {"peak_dbfs"}  # no room, noise or channel
    noisy = read_trials(corpus / "trials_test.tsv")
    clean = read_trials(corpus / "trials_test_clean.tsv")
    assert [(by_path[t.enroll]["index"], by_path[t.test]["index"], t.target) for t in noisy] == \
        [(by_path[t.enroll]["index"], by_path[t.test]["index"], t.target) for t in clean]


def test_tiny_speaker_run_end_to_end(tiny_speakers, tiny_data_dir, tmp_path, cli_main):
    """Train the x-vector's tiny variant; its test trials scored by `evaluate` equal the
    metrics of `embed`'s embeddings (its own loading and forward pass) scored here; `verify`
    decides at the recorded validation threshold; a bad trial line is named."""
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    workdir = tmp_path / "run"
    config = load_config(str(ROOT / "experiments/speaker_xvector.py") + ":tiny",
                         [f"data.data_dir={tiny_data_dir}"])
    train_and_evaluate(config, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert {"train", "validation", "identification"} <= {r["split"] for r in records}
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    assert metrics["headline"].startswith("test at step 6: EER ") and "over 12 trials" in metrics["headline"]
    assert metrics["files"][1].endswith("eval_test.det.png")
    for path in metrics["files"]:
        assert Path(path).stat().st_size > 1000
    ident = evaluate(workdir, checkpoint="latest", split="identification")
    assert ident["count"] == 4 and 0.0 <= ident["accuracy"] <= 1.0

    trials = read_trials(tiny_speakers.path / "trials_test.tsv")
    files = sorted({p for t in trials for p in (t.enroll, t.test)})
    npz = tmp_path / "emb.npz"
    code, _, err = cli_main("embed", "--workdir", workdir, "--checkpoint", "latest", "--out", npz,
                            *files)
    assert code == 0, err
    saved = np.load(npz)
    assert list(saved["files"]) == files and saved["embeddings"].dtype == np.float32
    emb = dict(zip(files, saved["embeddings"]))
    scores = M.cosine_scores(np.stack([emb[t.enroll] for t in trials]),
                             np.stack([emb[t.test] for t in trials]))
    labels = np.array([t.target for t in trials])
    assert metrics["eer"] == pytest.approx(M.eer(scores, labels)[0], abs=1e-6)
    assert metrics["min_dcf_0.01"] == pytest.approx(M.min_dcf(scores, labels, 0.01)[0], abs=1e-5)

    threshold = next(r["eer_threshold"] for r in reversed(records)
                     if r["split"] == "validation" and r["step"] == 6)
    t = trials[0]
    code, out, err = cli_main("verify", "--workdir", workdir, "--checkpoint", "latest", t.enroll,
                              t.test)
    score = float(M.cosine_scores(emb[t.enroll][None], emb[t.test][None])[0])
    assert code == 0 and f"score {score:.4f}" in out and f"threshold {threshold:.4f}" in out, err
    assert ("same speaker" if score >= threshold else "different speakers") in out

    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{t.enroll}\t{t.test}\t1\n{t.enroll}\t{t.test}\tyes\n")
    code, _, err = cli_main("evaluate", "--workdir", workdir, "--trials", bad)
    assert code == 2 and err.strip().splitlines() == [
        f"audiojax evaluate: error: {bad}:2: label must be 1 (target) or 0 (non-target), got 'yes'"]


def _voice(rng, f0, formants, seconds=1.5, sr=16000):
    """A buzzy 'voice': a harmonic source at ``f0`` (+-4% drift) shaped by resonances at
    ``formants`` (Hz), with syllable-rate amplitude modulation and a little noise."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = f0 * (1 + 0.04 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = np.zeros(n)
    for k in range(1, int(4000 / f0)):
        gain = sum(np.exp(-((k * f0 - fc) / 150.0) ** 2) for fc in formants) + 0.02
        y += gain * np.sin(k * phase)
    y *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2
    y += 0.02 * rng.standard_normal(n) * np.abs(y).max()
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_a_tiny_model_separates_a_handful_of_speakers(tmp_path):
    """Four 'speakers' (distinct pitch and resonances), 8 training utterances each: after a
    short training the x-vector's embeddings of new utterances of them have EER 0."""
    import soundfile as sf

    from audiojax.evaluators import evaluator
    from audiojax.train.loop import train_and_evaluate

    rng = np.random.default_rng(0)
    speakers = {"low": (100, (500, 1500)), "mid": (150, (700, 1100)),
                "high": (230, (400, 2200)), "top": (320, (900, 2600))}
    rows = {"train": [], "held": []}
    for name, (f0, formants) in speakers.items():
        for i in range(12):
            split = "train" if i < 8 else "held"
            path = tmp_path / "wav" / f"{name}_{i}.wav"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, _voice(rng, f0, formants), 16000, subtype="PCM_16")
            rows[split].append((f"wav/{path.name}", name))
    (tmp_path / "train.tsv").write_text("".join(f"{p}\t{s}\t{s}\n" for p, s in rows["train"]))
    held = rows["held"]
    trials = [(a, b, sa == sb) for i, (a, sa) in enumerate(held) for b, sb in held[i + 1:]]
    (tmp_path / "trials.tsv").write_text("".join(f"{a}\t{b}\t{int(t)}\n" for a, b, t in trials))

    config = load_config(str(ROOT / "experiments/speaker_xvector.py") + ":tiny",
                         [f"data.source=manifest:{tmp_path}", "num_train_steps=30",
                          "learning_rate=0.005", "data.max_seconds=1.0"])
    with config.unlocked():
        config.evals = {"validation": evaluator(str(tmp_path / "trials.tsv"), every_steps=30,
                                                kind="trials")}
    result = train_and_evaluate(config, tmp_path / "run")
    assert result["target_trials"] == 24 and result["nontarget_trials"] == 96
    assert result["eer"] == 0.0
