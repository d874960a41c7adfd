"""Source separation: the separate corpus's versions and splits, the best ordering of the
estimates, the task end to end (train, evaluate, `audiojax separate`), a tiny model
overfitting a few two-voice mixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiojax.config import load_config, load_module
from audiojax.data.corpora import acoustics
from audiojax.tasks.enhancement import metrics as M

ROOT = Path(__file__).resolve().parents[1]
LSB = 1.0 / 32767  # one step of the 16-bit files


@pytest.fixture(scope="module")
def tiny_separate(tiny_data_dir):
    from audiojax.data.corpora import build

    return build("separate", tiny_data_dir, size="tiny", seed=0, progress=False)


def _read(path):
    y, sr = sf.read(path, dtype="float64")
    return y, sr


def test_separate_corpus_versions_levels_and_splits(tiny_separate):
    """Every mixture in every version is the sum of its sources (16-bit rounding), min files
    are the max files cut to the shorter source (which max pads with silence), 8 kHz files are half as long as 16 kHz ones;
    the sources' level difference and the noisy version's SNR (against the louder source) are
    the ones recorded; the two talkers are different persons, and persons never cross splits."""
    from audiojax.data.corpora import separate

    root = tiny_separate.path
    clips = [json.loads(line) for line in (root / "clips.jsonl").read_text().splitlines()]
    assert tiny_separate.info["sample_rate"] == 8000
    for c in clips:
        split, name = c["split"], Path(c["path"]).name
        assert f"{c['path']}\t{c['source1']}\t{c['source2']}" in (
            root / f"{split}.tsv").read_text().splitlines()
        v = {version: [_read(root / version / f"{split}/{part}/{name}")
                       for part in ("mix", "s1", "s2")] for version in separate.VERSIONS
             if "noisy" not in version}
        for version, ((mix, sr), (s1, sr1), (s2, sr2)) in v.items():
            assert sr == sr1 == sr2 == int(version[3:5].rstrip("k")) * 1000
            assert mix.shape == s1.shape == s2.shape
            np.testing.assert_allclose(mix, s1 + s2, atol=1.5 * LSB)
        for rate in ("wav8k", "wav16k"):
            (mix_min, _), (mix_max, _) = v[f"{rate}/min"][0], v[f"{rate}/max"][0]
            np.testing.assert_array_equal(mix_min, mix_max[:mix_min.size])
        s1_max, s2_max = v["wav16k/max"][1][0], v["wav16k/max"][2][0]
        n_min = v["wav16k/min"][0][0].size  # the shorter source: the max version pads it with zeros
        assert n_min < s1_max.size and not (np.any(s1_max[n_min:]) and np.any(s2_max[n_min:]))
        assert v["wav8k/min"][0][0].size == round(v["wav16k/min"][0][0].size / 2)
        level = 10 * np.log10(acoustics.active_power(s1_max, 16000) / acoustics.active_power(s2_max, 16000))
        assert level == pytest.approx(c["aug"]["level_db"], abs=0.1)
        assert -5 <= c["aug"]["level_db"] <= 5

        noisy, _ = _read(root / f"wav16k/min_noisy/{split}/mix/{name}")
        (s1, _), (s2, _) = v["wav16k/min"][1:]
        louder = max(acoustics.active_power(s1, 16000), acoustics.active_power(s2, 16000))
        snr = 10 * np.log10(louder / np.mean((noisy - s1 - s2) ** 2))
        assert snr == pytest.approx(c["aug"]["snr_db"], abs=0.1)
        assert len(set(c["groups"])) == 2
    owner = {}
    for c in clips:
        for g in c["groups"]:
            assert owner.setdefault(g, c["split"]) == c["split"], g
    assert "versions: wav8k/min, wav8k/max, wav8k/min_noisy" in str(tiny_separate)


def test_noisy_manifests_check_clean_and_a_bad_line_is_named(tiny_separate, tmp_path):
    """`data check` with the separation task's columns passes every version's manifest and
    names a line whose sources differ in length from the mixture."""
    from audiojax.data.check import check_manifest
    from audiojax.data.corpora import separate
    from audiojax.tasks import task_class

    columns = task_class("separation").columns
    for version in separate.VERSIONS:
        assert check_manifest(tiny_separate.path / version / "test.tsv", progress=False,
                              columns=columns) == []
    lines = (tiny_separate.path / "wav8k/min/test.tsv").read_text().splitlines()
    mix, s1, _ = lines[0].split("\t")
    s2_other = lines[1].split("\t")[2]
    folder = tiny_separate.path / "wav8k/min"
    bad = folder / "bad_test.tsv"
    try:
        bad.write_text(f"{lines[0]}\n{mix}\t{s1}\t{s2_other}\n")
        problems = [str(p) for p in check_manifest(bad, progress=False, columns=columns)]
    finally:
        bad.unlink()
    n_mix, n_other = sf.info(folder / mix).frames, sf.info(folder / s2_other).frames
    assert n_mix != n_other
    assert problems == [f"{bad}:2: source2 {s2_other}: {n_other} samples at 8000 Hz, but audio "
                        f"has {n_mix} at 8000 Hz"]


def test_alignment_picks_the_best_ordering_as_numpy_does():
    """`Separation.align` against NumPy: per example, the ordering of the estimates with the
    best mean SI-SDR (si_sdr_np) over the valid samples, and the estimates put in that order."""
    import jax.numpy as jnp

    from audiojax.tasks.separation.task import Separation

    rng = np.random.default_rng(0)
    refs = rng.standard_normal((3, 2, 400)).astype(np.float32)
    est = refs + 0.6 * rng.standard_normal(refs.shape).astype(np.float32)
    est[0] = est[0, ::-1]  # swapped
    est[2, 1] = est[2, 0] + 0.1 * refs[2, 1]  # both estimates near source 1
    lengths = np.array([400, 300, 350], np.int32)
    aligned, best = Separation.align(None, jnp.asarray(est), jnp.asarray(refs), jnp.asarray(lengths))
    for b, n in enumerate(lengths):
        scores = {p: np.mean([M.si_sdr_np(est[b, p[s], :n], refs[b, s, :n]) for s in range(2)])
                  for p in ((0, 1), (1, 0))}
        p = max(scores, key=scores.get)
        assert float(best[b]) == pytest.approx(scores[p], abs=1e-3)
        np.testing.assert_array_equal(np.asarray(aligned[b]), est[b, list(p)])
    assert float(best[0]) > 0


def test_tiny_separation_run_end_to_end(tiny_separate, tiny_data_dir, tmp_path, cli_main,
                                        fast_compilation):
    """Train Conv-TasNet's tiny variant on the tiny corpus (8 kHz, min); `evaluate` on test
    gives a mean SI-SDRi equal to that of `separate`'s NAME_s1/NAME_s2 WAVs scored here under
    their best ordering; the mixtures' conditions (level, talkers) are tabled."""
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    workdir = tmp_path / "run"
    config = load_config(str(ROOT / "experiments/separate_convtasnet.py") + ":tiny",
                         [f"data.data_dir={tiny_data_dir}"])
    train_and_evaluate(config, workdir)
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    root = tiny_separate.path
    rows = [line.split("\t") for line in (root / "test.tsv").read_text().splitlines()]
    assert metrics["count"] == len(rows) and set(metrics["per_condition"]) == {"level", "talkers"}

    out = tmp_path / "separated"
    code, _, err = cli_main("separate", "--workdir", workdir, "--checkpoint", "latest", "--out",
                            out, *[root / r[0] for r in rows])
    assert code == 0, err
    si_sdri = []
    for mix_rel, *source_rels in rows:
        stem = Path(mix_rel).stem
        est = [sf.read(out / f"{stem}_s{k}.wav") for k in (1, 2)]
        refs = [sf.read(root / r)[0] for r in source_rels]
        mix = sf.read(root / mix_rel)[0]
        assert all(sr == 8000 and y.shape == mix.shape for y, sr in est)
        scores = [np.mean([M.si_sdr_np(est[p[s]][0], refs[s]) - M.si_sdr_np(mix, refs[s])
                           for s in range(2)]) for p in ((0, 1), (1, 0))]
        si_sdri.append(max(scores))
    assert np.mean(si_sdri) == pytest.approx(metrics["si_sdri"], abs=0.02)


def _voice(rng, t, f0):
    y = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    return 0.3 * y * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 4) * t) ** 2)


def test_a_tiny_model_separates_a_handful_of_mixtures(tmp_path, fast_compilation):
    """Four equal-level mixtures of a low and a high harmonic 'voice': after a short training
    under the permutation-invariant loss, the mask estimator improves their SI-SDR by more
    than 10 dB, whichever order the manifest gives the two."""
    from audiojax.evaluators import evaluator
    from audiojax.train.defaults import apply_variant
    from audiojax.train.loop import train_and_evaluate

    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    lines = []
    for i in range(4):
        low, high = _voice(rng, t, rng.uniform(100, 140)), _voice(rng, t, rng.uniform(300, 400))
        s1, s2 = (low, high) if i % 2 else (high, low)
        for name, y in (("mix", s1 + s2), ("s1", s1), ("s2", s2)):
            sf.write(tmp_path / f"{name}{i}.wav", y.astype(np.float32), 16000, subtype="FLOAT")
        lines.append(f"mix{i}.wav\ts1{i}.wav\ts2{i}.wav\n")
    (tmp_path / "train.tsv").write_text("".join(lines))
    recipe = load_module(ROOT / "experiments/enhance_mask_gru.py")
    config = recipe.enhance_config("mask_estimator", task="separation", source="separate")
    recipe.enhance_tiny(config)
    config = apply_variant(config, "tiny")
    with config.unlocked():
        config.data.source = f"manifest:{tmp_path}"
        config.num_train_steps, config.learning_rate, config.batch_size = 80, 0.01, 4
        config.data.max_seconds, config.model.hidden = 0.5, 32
        config.enhance.perceptual_stride = 0
        config.evals = {"validation": evaluator(str(tmp_path / "train.tsv"), every_steps=80)}
    result = train_and_evaluate(config, tmp_path / "run")
    assert result["count"] == 4 and result["si_sdri"] > 10.0, result["si_sdri"]


def test_a_corpus_version_is_a_data_source(tiny_separate, tiny_data_dir):
    """`separate/tiny/wav16k/max` opens that version's manifest; the size variants keep it."""
    from audiojax.data.sources import open_source
    from audiojax.tasks import task_class
    from audiojax.train.defaults import apply_variant

    columns = task_class("separation").columns
    source = open_source("separate/tiny/wav16k/max", "test", tiny_data_dir, columns=columns)
    first = (tiny_separate.path / "wav16k/max/test.tsv").read_text().splitlines()[0].split("\t")[0]
    assert len(source) == len((tiny_separate.path / "test.tsv").read_text().splitlines())
    assert source[0]["audio"] == str(tiny_separate.path / "wav16k/max" / first)
    config = load_config(str(ROOT / "experiments/separate_convtasnet.py"),
                         ["data.source=separate/full/wav16k/max"])
    with config.unlocked():
        assert apply_variant(config, "small").data.source == "separate/small/wav16k/max"


def test_dynamic_mixing_pairs_other_examples_at_a_new_level():
    """`separate.dynamic_mixing`: each example's first source with the second source of the
    example k places on (one k per step, never 0), cut to the shorter length, at a level
    within +-level_db, at the recorded mixture's RMS; the mixture is their sum. Off: the
    batch is left as it is."""
    import jax

    from audiojax.tasks.separation.task import Separation

    config = load_config(str(ROOT / "experiments/separate_mask_gru.py") + ":tiny",
                         ["separate.dynamic_mixing=True", "separate.level_db=3.0"])
    task = Separation(config, [])
    rng = np.random.default_rng(0)
    size, samples = 4, 800
    s1, s2 = (rng.standard_normal((size, samples)).astype(np.float32) * rng.uniform(0.1, 1, (size, 1))
              for _ in range(2))
    lengths = np.array([800, 500, 650, 700], np.int32)
    batch = {"audio": s1 + s2, "source1": s1, "source2": s2, "length": lengths,
             "mask": np.array([True, True, True, False])}
    shifts = set()
    for seed in range(6):
        out = jax.tree.map(np.asarray, task.training_batch(batch, jax.random.PRNGKey(seed)))
        corr = [[abs(np.corrcoef(out["source2"][b, :100], s2[j, :100])[0, 1]) for j in range(size)]
                for b in range(size)]
        partner = np.argmax(corr, axis=1)
        k = {(p - b) % size for b, p in enumerate(partner)}
        assert len(k) == 1 and k != {0}
        shifts |= k
        for b, p in enumerate(partner):
            n = min(lengths[b], lengths[p])
            assert out["length"][b] == n and not out["audio"][b, n:].any()
            np.testing.assert_allclose(out["audio"][b], out["source1"][b] + out["source2"][b], atol=1e-6)
            ratio1 = out["source1"][b, :n] / s1[b, :n]
            ratio2 = out["source2"][b, :n] / s2[p, :n]
            np.testing.assert_allclose(ratio1, ratio1[0], rtol=1e-4)
            np.testing.assert_allclose(ratio2, ratio2[0], rtol=1e-4)
            rms = lambda x: np.sqrt(np.mean(x[:n].astype(np.float64) ** 2))  # noqa: E731
            assert abs(20 * np.log10(rms(out["source1"][b]) / rms(out["source2"][b]))) <= 3.0 + 1e-3
            assert rms(out["audio"][b]) == pytest.approx(rms(batch["audio"][b]), rel=1e-4)
            assert out["mask"][b] == (batch["mask"][b] and batch["mask"][p])
    assert len(shifts) > 1
    # A micro-batch of one would pair each example with itself: refused, by config or shape.
    one = {k: v[:1] for k, v in batch.items()}
    with pytest.raises(ValueError, match="micro-batch, which holds 1: batch_size must be"):
        task.training_batch(one, jax.random.PRNGKey(0))
    with config.unlocked():
        config.batch_size, config.grad_accum_steps = 8, 8
    with pytest.raises(ValueError, match="batch_size=8 / grad_accum_steps=8 must be at least 2"):
        Separation.check_config(config)
    with config.unlocked():
        config.batch_size, config.grad_accum_steps = 8, 4
        Separation.check_config(config)
        config.separate.dynamic_mixing = False
    assert Separation(config, []).training_batch(batch, jax.random.PRNGKey(0)) is batch
