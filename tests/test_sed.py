"""Sound event detection: metrics against sed_eval and sed_scores_eval, post-processing against
a NumPy transcription, events files as sources, the CRNN, and a tiny detector that learns to
find a constructed event within the collar."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiojax.data.events import EVENT_COLUMNS, ROLL_SECONDS, EventsSource, event_roll
from audiojax.tasks.sed import metrics as M

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["alarm", "bark", "clap", "drum"]


def _random_events(seed: int, files: int = 16):
    """References and noisy estimates (shifted, relabelled, missed, spurious) of ``files``
    10 s recordings."""
    rng = np.random.default_rng(seed)
    refs, ests = [], []
    for _ in range(files):
        ref, est = [], []
        for _ in range(rng.integers(0, 5)):
            on = float(rng.uniform(0, 9))
            off = min(10.0, on + float(rng.uniform(0.05, 3)))
            label = LABELS[rng.integers(3)]   # the last class never occurs in the references
            ref.append((round(on, 3), round(off, 3), label))
            if rng.random() < 0.75:
                est.append((round(max(0.0, on + rng.normal(0, 0.2)), 3),
                            round(min(10.0, off + rng.normal(0, 0.4)), 3),
                            label if rng.random() < 0.85 else LABELS[rng.integers(4)]))
        for _ in range(rng.integers(0, 3)):
            on = float(rng.uniform(0, 9))
            est.append((round(on, 3), round(min(10.0, on + rng.uniform(0.1, 2)), 3),
                        LABELS[rng.integers(4)]))
        refs.append(sorted(ref))
        ests.append(sorted(est))
    return refs, ests


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_event_and_segment_f1_match_sed_eval(seed):
    import dcase_util
    import sed_eval

    refs, ests = _random_events(seed)
    events = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=LABELS, t_collar=0.2, percentage_of_length=0.2,
        empty_system_output_handling="zero_score")
    segments = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=LABELS, time_resolution=1.0)

    def listed(evs, name):
        return dcase_util.containers.MetaDataContainer(
            [{"filename": name, "onset": a, "offset": b, "event_label": x} for a, b, x in evs])

    for i, (r, e) in enumerate(zip(refs, ests)):
        events.evaluate(listed(r, f"f{i}"), listed(e, f"f{i}"))
        segments.evaluate(listed(r, f"f{i}"), listed(e, f"f{i}"), evaluated_length_seconds=10.0)
    ours_events = M.event_f1(refs, ests, LABELS)
    ours_segments = M.segment_f1(refs, ests, [10.0] * len(refs), LABELS)
    for ours, theirs in ((ours_events, events), (ours_segments, segments)):
        overall = theirs.results_overall_metrics()["f_measure"]
        assert ours["micro_f1"] == pytest.approx(overall["f_measure"], abs=1e-9)
        assert ours["precision"] == pytest.approx(overall["precision"], abs=1e-9)
        assert ours["recall"] == pytest.approx(overall["recall"], abs=1e-9)
        assert ours["macro_f1"] == pytest.approx(
            theirs.results_class_wise_average_metrics()["f_measure"]["f_measure"], abs=1e-9)
        for label, f1 in ours["per_class_f1"].items():
            assert f1 == pytest.approx(theirs.results_class_wise_metrics()[label]["f_measure"]
                                       ["f_measure"], abs=1e-9)
    assert 0.1 < ours_events["micro_f1"] < 0.9   # the case is neither trivial nor hopeless


def test_bootstrap_interval_brackets_the_f1():
    refs, ests = _random_events(0, files=40)
    counts = np.stack([M.event_counts(r, e, LABELS) for r, e in zip(refs, ests)])
    micro, macro = M.f1_scores(counts)
    intervals = M.f1_intervals(counts, resamples=300)
    assert intervals["micro_f1"][0] < micro < intervals["micro_f1"][1]
    assert intervals["macro_f1"][0] < macro < intervals["macro_f1"][1]
    assert intervals == M.f1_intervals(counts, resamples=300)   # seeded


def test_detect_is_a_median_filter_and_a_threshold():
    """Against a NumPy transcription: the median over a centred window (edges repeated),
    then runs of frames at or above the threshold."""
    rng = np.random.default_rng(0)
    probs = rng.random((60, 2)) * 0.4
    probs[10:25, 0] = 0.9          # an event of 15 frames
    probs[40, 0] = 0.95            # a one-frame spike, removed by a 5-frame median
    probs[30:50, 1] = 0.7
    padded = np.pad(probs, ((2, 2), (0, 0)), mode="edge")
    expected = np.stack([np.median(padded[i:i + 5], axis=0) for i in range(60)])
    np.testing.assert_allclose(M.smooth_scores(probs, 5), expected)
    events = M.detect(M.smooth_scores(probs, 5), ["a", "b"], 0.1, threshold=0.5)
    assert events == [(1.0, 2.5, "a"), (3.0, 5.0, "b")]
    assert (4.0, 4.1, "a") in M.detect(M.smooth_scores(probs, 1), ["a", "b"], 0.1, threshold=0.5)


def test_psds1_of_perfect_useless_and_partial_scores():
    """sed_scores_eval's PSDS1 through our score frames: 1 for scores that are the truth,
    0 for constant ones, and the PSDS formula's value when half the recordings are right."""
    rng = np.random.default_rng(0)
    frame = 0.08
    refs = [[(1.04, 2.0, "alarm"), (3.04, 4.48, "bark")], [(0.48, 1.2, "clap")],
            [(2.0, 8.0, "alarm")], [(5.04, 6.0, "bark"), (6.4, 9.2, "clap")]]
    truth = []
    for r in refs:
        x = np.zeros((125, len(LABELS)))
        for a, b, label in r:
            x[int(round(a / frame)):int(round(b / frame)), LABELS.index(label)] = 1.0
        truth.append(x)
    durations = [10.0] * len(refs)
    assert M.psds1(truth, refs, durations, LABELS, frame) == pytest.approx(1.0)
    flat = [np.full_like(t, 0.5) for t in truth]
    assert M.psds1(flat, refs, durations, LABELS, frame) == pytest.approx(0.0)
    # Recordings 0 and 2 scored right, the others below every true score: the per-class
    # true positive rates are alarm 1, bark 1/2, clap 0 at every false-positive rate, and
    # PSDS (alpha_st 1) is their mean minus their standard deviation.
    partial = [t * 0.9 + 0.05 if k % 2 == 0 else rng.random(t.shape) * 0.5
               for k, t in enumerate(truth)]
    tpr = np.array([1.0, 0.5, 0.0])
    assert M.psds1(partial, refs, durations, LABELS, frame) == pytest.approx(
        tpr.mean() - tpr.std(), abs=1e-6)


def _scene(path: Path, seconds: float, events, sr=16000, seed=0):
    """A scene of noise with tone bursts (alarm: 1 kHz, clap: clicks) at the given events."""
    rng = np.random.default_rng(seed)
    y = 0.01 * rng.standard_normal(int(seconds * sr))
    t = np.arange(y.size) / sr
    for a, b, label in events:
        span = (t >= a) & (t < b)
        if label == "alarm":
            y[span] += 0.5 * np.sin(2 * np.pi * 1000 * t[span])
        else:
            y[span] += 0.5 * rng.standard_normal(span.sum()) * (np.sin(2 * np.pi * 7 * t[span]) > 0.5)
    sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")


def test_events_source_rolls_and_class_order(tmp_path):
    _scene(tmp_path / "a.wav", 2.0, [])
    _scene(tmp_path / "b.wav", 1.5, [])
    (tmp_path / "events_train.tsv").write_text(
        "a.wav\t0.105\t0.5\tclap\na.wav\t1.0\t1.2\talarm\nb.wav\n")
    source = EventsSource(tmp_path / "events_train.tsv")
    assert source.labels == ["alarm", "clap"] and len(source) == 2
    first = source[0]
    hop = int(ROLL_SECONDS * 16000)
    assert first["roll"].shape == (2 * 16000 // hop, 2) and first["label"] == "alarm,clap"
    expected = np.zeros((200, 2), np.float32)
    expected[10:50, 1] = 1     # 0.105 s starts in frame 10; 0.5 s ends frame 49
    expected[100:120, 0] = 1
    np.testing.assert_array_equal(first["roll"], expected)
    assert source[1]["roll"].sum() == 0 and source[1]["label"] == ""
    reordered = EventsSource(tmp_path / "events_train.tsv", ["clap", "alarm", "bark"])
    np.testing.assert_array_equal(reordered[0]["roll"][:, :2], expected[:, ::-1])
    np.testing.assert_array_equal(event_roll([(0.105, 0.5, "clap")], ["clap"], 200), expected[:, 1:])
    with pytest.raises(ValueError, match=r"events_train.tsv:1: 'clap' is not a class"):
        EventsSource(tmp_path / "events_train.tsv", ["alarm"])

    from audiojax.data.sources import open_source
    opened = open_source(str(tmp_path), "train", columns=EVENT_COLUMNS, sample_rate=16000)
    assert isinstance(opened, EventsSource) and len(opened) == 2
    with pytest.raises(FileNotFoundError, match="events_validation.tsv"):
        open_source(str(tmp_path), "validation", columns=EVENT_COLUMNS, sample_rate=16000)


def test_evaluation_scores_the_listed_events_and_refuses_what_it_would_cut(tmp_path):
    """Two overlapping claps stay two references (the roll merges them into one), events are
    cut at the recording's end, and a recording longer than the window is refused by name."""
    from audiojax.config import load_config
    from audiojax.tasks import task_class

    _scene(tmp_path / "a.wav", 3.0, [])
    (tmp_path / "events.tsv").write_text("a.wav\t0.2\t1.4\tclap\na.wav\t1.0\t2.0\tclap\n"
                                         "a.wav\t2.5\t3.5\talarm\n")
    source = EventsSource(tmp_path / "events.tsv")
    config = load_config(str(ROOT / "experiments" / "sed_crnn.py") + ":tiny", ["data.max_seconds=3.0"])
    task = task_class(config.task)(config, source.labels)
    task.check_source(source, "events.tsv")
    roll = source[0]["roll"]
    from_roll = M.roll_events(roll, source.labels, ROLL_SECONDS)
    assert [e for e in from_roll if e[2] == "clap"] == [(0.2, 2.0, "clap")]
    done = task.finish({"references": [from_roll], "seconds": [3.0]}, source, ["a.wav"])
    assert done["references"] == [[(0.2, 1.4, "clap"), (1.0, 2.0, "clap"), (2.5, 3.0, "alarm")]]
    # Scored as sed_eval scores the listed events: two estimates on the two claps match both.
    counts = M.event_counts(done["references"][0], [(0.25, 1.35, "clap"), (1.1, 2.0, "clap")],
                            source.labels)
    assert counts[source.labels.index("clap")].tolist() == [2, 2, 2]

    short = task_class(config.task)(load_config(str(ROOT / "experiments" / "sed_crnn.py") + ":tiny",
                                                ["data.max_seconds=2.0"]), source.labels)
    with pytest.raises(ValueError, match=r"events.tsv: .*a.wav lasts 3.00 s, longer than .*"
                                         r"max_seconds=2\); .*--config.data.max_seconds=3"):
        short.check_source(source, "events.tsv")


def test_crnn_frames_and_padding():
    """Output frames as output_frames says, and a recording's outputs within its length do
    not depend on how much padding its batch gave it."""
    import jax
    import jax.numpy as jnp

    from audiojax.models.crnn import CRNN

    model = CRNN(num_classes=3, channels=(4, 8), time_pools=(2, 2), gru_hidden=8, gru_layers=1)
    assert model.frame_hop == 320 * 4
    rng = np.random.default_rng(0)
    y = rng.standard_normal(32000).astype(np.float32) * 0.1
    variables = model.init(jax.random.key(0), jnp.zeros((1, 32000)), jnp.array([32000]), train=False)
    out = {}
    for pad in (8000, 24000):
        x = np.concatenate([y, np.zeros(pad, np.float32)])[None]
        logits, valid = model.apply(variables, x, jnp.array([32000]), train=False)
        assert logits.shape == (1, model.output_frames(32000 + pad), 3)
        out[pad] = np.asarray(logits[0, :int(valid[0])])
    assert out[8000].shape[0] == model.output_frames(32000)
    np.testing.assert_allclose(out[8000], out[24000], atol=1e-5)


def test_targets_are_the_roll_max_pooled():
    from audiojax.config import load_config
    from audiojax.tasks import task_class

    config = load_config(str(ROOT / "experiments" / "sed_crnn.py") + ":tiny")
    task = task_class(config.task)(config, LABELS)
    assert task.pool == task.model.frame_hop // 160 == 8
    roll = (np.random.default_rng(0).random((2, 1001, 4)) > 0.9).astype(np.float32)
    frames = task.model.output_frames(160000)
    got = np.asarray(task.targets(roll, frames))
    padded = np.zeros((2, frames * 8, 4), np.float32)
    padded[:, :min(1001, frames * 8)] = roll[:, :frames * 8]
    np.testing.assert_array_equal(got, padded.reshape(2, frames, 8, 4).max(2))


def _scenes(root: Path, counts: dict[str, int], seed: int = 0) -> None:
    """A corpus of 3 s scenes (``events_SPLIT.tsv``, ``info.json``) with an alarm and a clap
    each in 80% of them, at random times."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        folder = root / split
        folder.mkdir(parents=True)
        lines = []
        for k in range(count):
            events = []
            for label in ("alarm", "clap"):
                if rng.random() < 0.8:
                    a = float(rng.uniform(0.1, 1.9))
                    events.append((round(a, 3), round(a + float(rng.uniform(0.4, 0.9)), 3), label))
            _scene(folder / f"{k}.wav", 3.0, events, seed=k + 100 * len(split))
            lines += [f"{split}/{k}.wav\t{a}\t{b}\t{x}" for a, b, x in events] or [f"{split}/{k}.wav"]
        (root / f"events_{split}.tsv").write_text("\n".join(lines) + "\n")
    (root / "info.json").write_text(json.dumps({"labels": ["alarm", "clap"]}))


def test_four_devices_train_and_evaluate_as_one(tmp_path, run_cli, checkpoints):
    """pmap over 4 devices: the same parameters after 3 steps as one device, and the same
    validation figures (rows gathered across devices, references from the events file)."""
    _scenes(tmp_path / "scenes", {"train": 8, "validation": 6})
    common = ["--config", "experiments/sed_crnn.py:tiny", f"--config.data.source={tmp_path / 'scenes'}",
              "--config.data.max_seconds=3.0", "--config.batch_size=4", "--config.num_train_steps=3",
              "--config.checkpoint_every_steps=3", "--config.evals.validation.every_steps=3",
              "--config.optimizer=sgd", "--config.learning_rate=0.01", "--config.model.dropout=0.0"]
    run_cli(["train", *common, "--workdir", tmp_path / "one"], tmp_path, devices=1)
    run_cli(["train", *common, "--config.parallel=pmap", "--workdir", tmp_path / "four"],
            tmp_path, devices=4)
    one, four = checkpoints.params(tmp_path / "one"), checkpoints.params(tmp_path / "four")
    assert int(one["step"]) == int(four["step"]) == 3
    checkpoints.assert_same(one, four, rtol=1e-4, atol=1e-6)

    def validation(workdir):
        records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        return next(r for r in records if r["split"] == "validation")

    a, b = validation(tmp_path / "one"), validation(tmp_path / "four")
    assert a["count"] == b["count"] == 6 and a["references"] == b["references"] == 9
    assert a["estimates"] == b["estimates"] > 0
    for key in ("loss", "event_micro_f1", "segment_micro_f1", "segment_precision", "psds1"):
        assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-4), key


def test_tiny_detector_finds_a_constructed_event(tmp_path, capsys):
    """A tiny CRNN trained on scenes of noise with 1 kHz alarms and noise claps at random
    times finds the events of held-out scenes within the 200 ms collar; the evaluation of
    an events file (`evaluate --events`) gives the same figures as the test split's; `audiojax
    tag` prints and writes the events that the evaluation's post-processing finds, for a
    file of another rate and channel count too, and refuses a clip run's option."""
    from audiojax.config import load_config
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    _scenes(tmp_path / "scenes", {"train": 48, "validation": 6, "test": 6})
    config = load_config(str(ROOT / "experiments" / "sed_crnn.py") + ":tiny", [
        f"data.source={tmp_path / 'scenes'}", "data.max_seconds=3.0", "num_train_steps=150",
        "batch_size=8", "learning_rate=0.005", "model.channels=(8,8,8,8)", "model.gru_hidden=16",
        "model.dropout=0.0", "model.time_masks=0", "model.freq_masks=0", "augment.gain_db=0.0",
        "checkpoint_every_steps=150", "evals.validation.every_steps=150", "log_every_steps=50"])
    workdir = tmp_path / "run"
    train_and_evaluate(config, workdir)
    test = evaluate(workdir, checkpoint="latest", split="test")
    assert test["event_micro_f1"] >= 0.75 and test["segment_micro_f1"] >= 0.8
    assert test["count"] == 6 and test["psds1"] > 0.3
    assert Path(test["files"][1]).suffix == ".png"
    again = evaluate(workdir, checkpoint="latest",
                     events=tmp_path / "scenes" / "events_test.tsv")
    assert again["event_micro_f1"] == test["event_micro_f1"] and again["psds1"] == test["psds1"]

    from audiojax import audio
    from audiojax.cli import main
    from audiojax.data.events import read_events
    from audiojax.runs import restore
    from audiojax.tasks.sed.tag import tag

    run = restore(workdir, "latest")
    scenes = tmp_path / "scenes" / "test"
    stereo = tmp_path / "stereo.wav"          # scene 0 at 22.05 kHz in two channels
    y, _ = audio.load(scenes / "0.wav", sr=22050)
    sf.write(stereo, np.stack([y, y], 1), 22050)
    files = [str(scenes / "0.wav"), str(scenes / "1.wav"), str(stereo)]
    tagged = tag(run, files)
    probs, valid = run.task.probabilities(run.variables, audio.load(files[0])[0][None],
                                          np.array([48000]))
    assert [e[:3] for e in tagged[0].events] == run.task.detect(
        run.task.smooth(np.asarray(probs[0, :int(valid[0])])))
    assert {e[2] for e in tagged[2].events} == {e[2] for e in tagged[0].events}
    out = tmp_path / "tags" / "events.tsv"
    out.parent.mkdir()
    with pytest.raises(SystemExit) as done:
        main(["tag", "--workdir", str(workdir), "--checkpoint", "latest", "--output", str(out), *files[:2]])
    assert done.value.code == 0
    printed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(p, float(a), float(b), x) for p, a, b, x, _ in (r for r in printed if len(r) == 5)] == [
        (f, round(a, 3), round(b, 3), x) for f, t in zip(files, tagged[:2]) for a, b, x, _ in t.events]
    written = read_events(out, run.labels)
    assert list(written) == [str(Path(f).resolve()) for f in files[:2]]
    assert written[files[0]] == sorted((round(a, 3), round(b, 3), x) for a, b, x, _ in tagged[0].events)
    with pytest.raises(SystemExit) as refused:
        main(["tag", "--workdir", str(workdir), "--top-k", "5", files[0]])
    assert refused.value.code == 2 and "--top-k: not an option" in capsys.readouterr().err


def test_data_check_of_an_events_file_names_each_bad_line(tmp_path, capsys):
    from audiojax.cli import main

    _scene(tmp_path / "a.wav", 2.0, [])
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    (tmp_path / "events.tsv").write_text(
        "a.wav\t0.1\t0.5\tclap\n"
        "a.wav\t0.5\t2.5\talarm\n"          # past the end of the 2 s recording
        "a.wav\t0.9\t0.2\tclap\n"           # onset after offset
        "gone.wav\n"                        # no such file
        "broken.wav\n")                     # does not decode
    with pytest.raises(SystemExit) as done:
        main(["data", "check", "--task", "sed", str(tmp_path / "events.tsv")])
    out = capsys.readouterr().out.splitlines()
    assert done.value.code == 1
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in out] == ["2", "3", "4", "5"]
    assert "event ends at 2.5 s, after the recording's 2.000 s" in out[0]
    assert "need 0 <= onset <= offset" in out[1] and "no such audio file 'gone.wav'" in out[2]
    assert str(tmp_path / "broken.wav") in out[3]
