"""Speech enhancement: the enhance corpus's pairs and splits, the task end to end (train,
evaluate, `audiojax enhance`), a tiny model overfitting a few mixtures, bad manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiojax.config import load_config
from audiojax.data.corpora import acoustics
from audiojax.tasks.enhancement import metrics as M

ROOT = Path(__file__).resolve().parents[1]


def _clips(corpus):
    return [json.loads(line) for line in (corpus / "clips.jsonl").read_text().splitlines()]


def test_enhance_corpus_pairs_and_splits(tiny_enhance):
    """Each manifest line is (mixture, clean) of one length and rate; the mixture minus the
    clean file is noise at the SNR recorded; voices and recorded noise sources never cross
    splits; the summary names the noise packages."""
    root = tiny_enhance.path
    clips = _clips(root)
    lines = {s: (root / f"{s}.tsv").read_text().splitlines() for s in ("train", "validation", "test")}
    assert sum(map(len, lines.values())) == len(clips) and not (root / "test_clean.tsv").exists()
    for c in clips:
        assert f"{c['path']}\t{c['clean']}" in lines[c["split"]]
        mix, sr = sf.read(root / c["path"])
        clean, sr_clean = sf.read(root / c["clean"])
        assert sr == sr_clean == 16000 and mix.shape == clean.shape
        snr = 10 * np.log10(acoustics.active_power(clean, sr) / np.mean((mix - clean) ** 2))
        assert snr == pytest.approx(c["aug"]["snr_db"], abs=0.05)
        assert -5 <= c["aug"]["snr_db"] <= 20
    for key in ("group", "source"):
        owner = {}
        for c in clips:
            value = c[key] if key == "group" else c["aug"].get("source")
            if value:
                assert owner.setdefault(value, c["split"]) == c["split"], value
    noise = tiny_enhance.info["noise"]
    assert set(noise["splits"]) == {"train", "validation", "test"}
    assert "recorded noise from:" in str(tiny_enhance)


def _response(mixture: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The linear response from ``clean`` to ``mixture`` (a regularized Wiener deconvolution
    over the whole clip; uncorrelated noise spreads evenly over its taps), tap 0 first,
    negative lags at the end."""
    n = 1 << int(np.ceil(np.log2(2 * mixture.size)))
    m, c = np.fft.rfft(mixture, n), np.fft.rfft(clean, n)
    power = np.abs(c) ** 2
    return np.fft.irfft(m * np.conj(c) / (power + 1e-3 * power.mean()), n)


def test_dereverb_corpus_hears_the_speech_in_a_room_and_keeps_the_dry_target(tiny_data_dir,
                                                                              tiny_enhance):
    """The dereverb corpus: each mixture holds its dry target heard in a room. The response
    from target to mixture (deconvolved) starts at tap 0 (the target is aligned on the direct
    path) and carries energy in the 5-300 ms after it far beyond its acausal side (a room's
    reflections and tail are causal), where the enhance corpus's mixtures (target plus noise)
    have as much on either side; every clip records a room of the corpus's RT60 range, binned
    by evaluation's conditions."""
    from audiojax.data.corpora import build, clip_conditions, enhance

    corpus = build("dereverb", tiny_data_dir, size="tiny", seed=0, progress=False)
    assert corpus.info["task"] == "speech enhancement" and corpus.info["noise"]["rt60"] == [0.2, 1.0]
    assert "simulated rooms" in str(corpus)
    ratios, bins = {}, set()
    for summary in (corpus, tiny_enhance):
        for c in _clips(summary.path):
            if summary is corpus:
                # inverse Sabine lowers an RT60 a small room cannot reach
                assert 0.1 <= c["aug"]["room"]["rt60"] <= enhance.ROOM_RT60[1]
                bins.add(clip_conditions(c)["room"])
            mix, sr = sf.read(summary.path / c["path"])
            clean, _ = sf.read(summary.path / c["clean"])
            if c["aug"]["snr_db"] < 5:   # the noise hides the room
                continue
            h = _response(mix, clean)
            assert np.argmax(np.abs(h[:sr])) <= 2, c["path"]
            direct, tail = int(0.005 * sr), int(0.3 * sr)
            late, acausal = np.sum(h[direct:tail] ** 2), np.sum(h[-tail:-direct] ** 2)
            ratios.setdefault(summary.info["name"], []).append(late / acausal)
    assert len(ratios["dereverb"]) >= 5 and np.median(ratios["dereverb"]) > 4, ratios
    assert 0.5 < np.median(ratios["enhance"]) < 2, ratios
    assert len(bins) >= 2 and "none" not in bins


def test_tiny_enhancement_run_end_to_end(tiny_enhance, tiny_data_dir, tmp_path, cli_main,
                                         fast_compilation):
    """Train the mask estimator's tiny variant; `evaluate` on the test split gives SI-SDR(i)
    whose mean equals that of `enhance`'s WAVs scored here with NumPy; the spectrogram plot
    is written; records cropped to data.max_seconds are counted; a bad manifest line is named."""
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    workdir = tmp_path / "run"
    config = load_config(str(ROOT / "experiments/enhance_mask_gru.py") + ":tiny",
                         [f"data.data_dir={tiny_data_dir}"])
    train_and_evaluate(config, workdir)
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    root = tiny_enhance.path
    rows = [line.split("\t") for line in (root / "test.tsv").read_text().splitlines()]
    assert metrics["count"] == len(rows) and metrics["headline"].startswith("test at step 6: SI-SDRi ")
    assert "PESQ" in metrics["headline"] and set(metrics["per_condition"]) >= {"noise", "noise kind"}
    assert any(f.endswith(".example0.png") and Path(f).stat().st_size > 5000 for f in metrics["files"])
    saved = json.loads(Path(metrics["files"][0]).read_text())
    assert "plot_data" not in saved and saved["si_sdri"] == pytest.approx(metrics["si_sdri"])
    assert metrics["at_max_seconds"] == 0 and "scored on their centre" not in metrics["headline"]
    # Records longer than data.max_seconds are scored on their centre, and said to be.
    cropped = evaluate(workdir, checkpoint="latest", split="test", overrides=["data.max_seconds=0.5"])
    assert cropped["at_max_seconds"] == len(rows) and cropped["count"] == len(rows)
    assert "records reach data.max_seconds=0.5 s" in cropped["headline"]
    assert Path(cropped["files"][0]) != Path(metrics["files"][0])

    out = tmp_path / "enhanced"
    code, _, err = cli_main("enhance", "--workdir", workdir, "--checkpoint", "latest", "--out",
                            out, *[root / m for m, _ in rows])
    assert code == 0, err
    si_sdr, si_sdri = [], []
    for mix_rel, clean_rel in rows:
        est, sr = sf.read(out / Path(mix_rel).name)
        clean, _ = sf.read(root / clean_rel)
        mix, _ = sf.read(root / mix_rel)
        assert sr == 16000 and est.shape == clean.shape
        si_sdr.append(M.si_sdr_np(est, clean))
        si_sdri.append(si_sdr[-1] - M.si_sdr_np(mix, clean))
    # The WAVs are 16-bit: their SI-SDR is that of the float estimates within a little.
    assert np.mean(si_sdr) == pytest.approx(metrics["si_sdr"], abs=0.02)
    assert np.mean(si_sdri) == pytest.approx(metrics["si_sdri"], abs=0.02)

    code, _, err = cli_main("enhance", "--workdir", workdir, "--checkpoint", "latest", "--out",
                            out, root / rows[0][0], tmp_path / Path(rows[0][0]).name)
    assert code == 2 and "would overwrite the output of" in err

    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{root / rows[0][0]}\t{root / rows[0][1]}\n{root / rows[0][0]}\n")
    code, _, err = cli_main("evaluate", "--workdir", workdir, "--manifest", bad)
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"audiojax evaluate: error: {bad}:2: malformed line: expected mixture<TAB>clean, got 1 "
        f"column (no tab)")


def test_enhance_any_rate_channels_and_length(tmp_path):
    """`enhance`'s segmenting: with an identity 'model' the cross-faded segments give back the
    input; a stereo 44.1 kHz file longer than a segment comes back at its rate and length."""
    from audiojax.tasks.enhancement.enhance import processor, write_estimates

    class Identity:
        targets = ("clean",)

        def estimate(self, variables, batch):
            return batch["audio"][:, None, :]

    class Run:
        task = Identity()
        variables = {}
        config = load_config(str(ROOT / "experiments/enhance_mask_gru.py") + ":tiny",
                             ["enhance.segment_seconds=1.0"])

    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(int(3.7 * 16000))).astype(np.float32)
    np.testing.assert_allclose(processor(Run())(y)[0], y, atol=1e-6)

    # A file: stereo at 44.1 kHz, tones well inside the run's 8 kHz band (so the way to 16 kHz
    # and back keeps them). A 'model' whose output is 5x too loud comes back at the input's
    # rate, length and level, unclipped: what the mixed-down file holds.
    t = np.arange(44100 * 2 + 77) / 44100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1250 * t + 1)])
    sf.write(tmp_path / "in.wav", stereo.T, 44100, subtype="FLOAT")
    whole = processor(Run())
    write_estimates(tmp_path / "in.wav", lambda x: 5 * whole(x), 16000, [tmp_path / "out.wav"])
    out, sr = sf.read(tmp_path / "out.wav")
    assert sr == 44100 and out.shape == t.shape
    inner = slice(2000, -2000)  # the resamplers' edges
    np.testing.assert_allclose(out[inner], stereo.mean(0)[inner], atol=2e-3)


def test_estimates_get_the_mixtures_level():
    """`match_mixture`: estimates off by any gain, sign included, are given back the sources
    whose sum is the mixture; a repeated or silent estimate gets finite gains."""
    from audiojax.tasks.enhancement.enhance import match_mixture

    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 4000))
    mixture = s.sum(0)
    np.testing.assert_allclose(match_mixture(mixture, [0.2 * s[0], -5 * s[1]]), s, atol=1e-5)
    noisy = s[0] + 0.1 * rng.standard_normal(4000)
    one = match_mixture(noisy, [7 * s[0]])[0]  # the projection onto the mixture: ~ s[0]
    assert np.sum(one * s[0]) / np.sum(s[0] ** 2) == pytest.approx(1.0, abs=0.01)
    twice = match_mixture(mixture, [s[0], s[0]])
    np.testing.assert_allclose(twice, [s[0] * np.sum(mixture * s[0]) / np.sum(s[0] ** 2) / 2] * 2,
                               atol=1e-5)
    np.testing.assert_array_equal(match_mixture(mixture, [s[0], 0 * s[1]])[1], 0)


def _tone_mixture(rng, seconds=0.5, sr=16000):
    """A harmonic 'voice' with syllable-rate envelope, and white noise at 0 dB."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(110, 240)
    clean = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 12))
    clean *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 4) * t) ** 2
    clean = 0.3 * clean / np.abs(clean).max()
    noise = rng.standard_normal(t.size)
    noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2))
    return (clean + noise).astype(np.float32), clean.astype(np.float32)


def test_a_tiny_model_overfits_a_handful_of_mixtures(tmp_path, fast_compilation):
    """Four 0 dB mixtures of a harmonic voice and white noise: after a short training the
    mask estimator improves their SI-SDR by more than 10 dB."""
    from audiojax.evaluators import evaluator
    from audiojax.train.loop import train_and_evaluate

    rng = np.random.default_rng(0)
    lines = []
    for i in range(4):
        mix, clean = _tone_mixture(rng)
        sf.write(tmp_path / f"mix{i}.wav", mix, 16000, subtype="FLOAT")
        sf.write(tmp_path / f"clean{i}.wav", clean, 16000, subtype="FLOAT")
        lines.append(f"mix{i}.wav\tclean{i}.wav\n")
    (tmp_path / "train.tsv").write_text("".join(lines))
    config = load_config(str(ROOT / "experiments/enhance_mask_gru.py") + ":tiny",
                         [f"data.source=manifest:{tmp_path}", "num_train_steps=60",
                          "learning_rate=0.01", "batch_size=4", "data.max_seconds=0.5",
                          "model.hidden=32", "enhance.perceptual_stride=0"])
    with config.unlocked():
        config.evals = {"validation": evaluator(str(tmp_path / "train.tsv"), every_steps=60)}
    result = train_and_evaluate(config, tmp_path / "run")
    assert result["count"] == 4 and result["si_sdri"] > 10.0, result["si_sdri"]


@pytest.mark.parametrize("experiment", ["enhance_mask_gru.py", "enhance_convtasnet.py"])
def test_enhance_streams_a_causal_model_to_what_the_whole_input_gives(experiment,
                                                                     fast_compilation):
    """A causal model enhances an input longer than a segment chunk by chunk with its state
    carried: the same samples as the model over the whole input at once, where the
    cross-faded segments would differ."""
    import jax

    from audiojax.tasks import task_class
    from audiojax.tasks.enhancement.enhance import processor

    config = load_config(str(ROOT / "experiments" / experiment) + ":tiny",
                         ["model.causal=True", "enhance.segment_seconds=1.0"])
    task = task_class(config.task)(config, task_class(config.task).labels_for(config))
    y = (0.1 * np.random.default_rng(0).standard_normal(int(2.6 * 16000))).astype(np.float32)
    variables = task.init(jax.random.PRNGKey(0), {"audio": y[None], "length": np.array([y.size])})

    class Run:
        pass

    run = Run()
    run.task, run.variables, run.config = task, variables, config
    whole = np.asarray(task.estimate(variables, {"audio": y[None], "length": np.array([y.size])}))[0]
    streamed = processor(run)(y)
    assert streamed.shape == whole.shape == (1, y.size)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
