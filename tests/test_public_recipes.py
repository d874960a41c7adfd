"""Recipes for public corpora on disk: Speech Commands (TFDS catalog, 12 classes; the extracted
release through `audiojax data import`, 35 words) and LibriSpeech clean-100 (TFDS catalog), each
tiny variant trained and evaluated end to end, the TFDS ones on ``tfds.testing.mock_data``
(random examples served through ``tfds.data_source``, as for a prepared array_record dataset)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from audiojax.config import load_config

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("no", "up", "yes")
# (word, speaker hash, n) of the fake release; speaker c0ffee03 is validation, beef0004 test.
CLIPS = [(w, s, 0) for s in ("a1b2c3d4", "0badf00d", "c0ffee03", "beef0004") for w in WORDS]
CLIPS += [("yes", "a1b2c3d4", 1), ("no", "c0ffee03", 1)]


@pytest.fixture
def audio_feature_without_tf(monkeypatch):
    """As in tests/test_sources.py: ``tfds.features.Audio`` without TensorFlow (its one call
    to TF, ``tf.dtypes.as_dtype``, done by numpy); nothing when TF is installed."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        from tensorflow_datasets.core.features import audio_feature

        fake_tf = types.SimpleNamespace(dtypes=types.SimpleNamespace(as_dtype=np.dtype), string=object)
        monkeypatch.setattr(audio_feature, "tf", fake_tf)


def _mock(num_examples: int):
    return tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A fake extracted Speech Commands release: 1 s WAVs of seeded noise (16 kHz, 16-bit) in
    ``WORD/SPEAKER_nohash_N.wav``, the two lists, a background-noise recording, a LICENSE."""
    root = tmp_path_factory.mktemp("speech_commands_v0.02")
    rng = np.random.default_rng(19)
    for word, speaker, n in CLIPS:
        (root / word).mkdir(exist_ok=True)
        sf.write(root / word / f"{speaker}_nohash_{n}.wav",
                 (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000, subtype="PCM_16")
    (root / "_background_noise_").mkdir()
    sf.write(root / "_background_noise_" / "white_noise.wav",
             (0.1 * rng.standard_normal(48000)).astype(np.float32), 16000, subtype="PCM_16")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    for name, speaker in (("validation_list.txt", "c0ffee03"), ("testing_list.txt", "beef0004")):
        (root / name).write_text("".join(f"{w}/{s}_nohash_{n}.wav\n" for w, s, n in CLIPS if s == speaker))
    return root


@pytest.fixture(scope="module")
def imported(release, tmp_path_factory) -> Path:
    from audiojax.data.importers import import_speech_commands

    out, counts = import_speech_commands(release, tmp_path_factory.mktemp("manifests") / "sc")
    assert counts == {"train": 7, "validation": 4, "test": 3}
    return out


def _rows(manifest: Path) -> list[list[str]]:
    return [line.split("\t") for line in manifest.read_text().splitlines()]


def test_import_speech_commands_splits_by_the_lists(release, imported):
    listed = {split: set((release / name).read_text().split())
              for split, name in (("validation", "validation_list.txt"), ("test", "testing_list.txt"))}
    every = {f"{w}/{s}_nohash_{n}.wav" for w, s, n in CLIPS}
    expected = {"train": every - listed["validation"] - listed["test"], **listed}
    for split, members in expected.items():
        rows = _rows(imported / f"{split}.tsv")
        got = [str(Path(path).relative_to(release)) for path, _, _ in rows]
        assert sorted(got) == got and set(got) == members, split  # background noise left out
        for path, word, speaker in rows:
            assert Path(path).is_absolute() and Path(path).is_file()
            assert word == Path(path).parent.name and Path(path).name.startswith(f"{speaker}_nohash_")
    assert {s for _, _, s in _rows(imported / "train.tsv")} == {"a1b2c3d4", "0badf00d"}
    assert json.loads((imported / "info.json").read_text())["labels"] == list(WORDS)


def test_data_import_command(release, tmp_path, capsys):
    from audiojax.cli import main
    from audiojax.data.importers import import_speech_commands

    with pytest.raises(SystemExit) as done:  # into the release itself: paths relative to it
        main(["data", "import", "speech_commands", str(release), "--output", str(release)])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"wrote {release}: train 7 clips, validation 4 clips, test 3 clips\n"
    assert _rows(release / "test.tsv")[0] == ["no/beef0004_nohash_0.wav", "no", "beef0004"]
    for path in (release / f"{s}.tsv" for s in ("train", "validation", "test")):
        path.unlink()
    (release / "info.json").unlink()

    bad = tmp_path / "bad"
    (bad / "yes").mkdir(parents=True)
    sf.write(bad / "yes" / "1234abcd_nohash_0.wav", np.zeros(1600, np.float32), 16000)
    (bad / "validation_list.txt").write_text("yes/1234abcd_nohash_0.wav\n")
    cases = [(tmp_path / "missing", f"{tmp_path / 'missing'}: not a folder"),
             (bad, f"{bad / 'testing_list.txt'}: missing")]
    for folder, message in cases:
        with pytest.raises(SystemExit) as done:
            main(["data", "import", "speech_commands", str(folder), "--output", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert done.value.code == 2 and err.startswith(f"audiojax data: error: {message}")
        assert err.count("\n") == 1, err
    (bad / "testing_list.txt").write_text("\nyes/ffff0000_nohash_0.wav\n")
    with pytest.raises(ValueError, match=r"testing_list\.txt:2: yes/ffff0000_nohash_0\.wav: not a clip"):
        import_speech_commands(bad, tmp_path / "o")
    (bad / "testing_list.txt").write_text("yes/1234abcd_nohash_0.wav\n")
    with pytest.raises(ValueError, match="in both validation_list.txt and testing_list.txt"):
        import_speech_commands(bad, tmp_path / "o")
    (bad / "yes" / "take2.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"take2\.wav: not named SPEAKER_nohash_N\.wav"):
        import_speech_commands(bad, tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing written for a bad folder


def test_speech_commands_recipes_read_their_splits(audio_feature_without_tf, imported):
    """The recipes' data, without training: every split opens, names the labels the model
    gets, passes the task's check and gives batches of 1 s."""
    from audiojax.data import splits
    from audiojax.tasks import task_class

    with _mock(6):
        configs = {
            "speech_commands_12": load_config(str(ROOT / "experiments/speech_commands_12.py:tiny")),
            "speech_commands_35": load_config(str(ROOT / "experiments/speech_commands_35.py:tiny"),
                                              [f"data.source=manifest:{imported}"]),
        }
        for name, config in configs.items():
            cls = task_class(config.task)
            labels = cls.labels_for(config)
            assert labels == (["down", "go", "left", "no", "off", "on", "right", "stop", "up",
                               "yes", "_silence_", "_unknown_"] if name.endswith("12") else list(WORDS))
            task = cls(config, labels)
            for split, count in (("train", 6 if name.endswith("12") else 7), ("validation", None),
                                 ("test", None)):
                source = splits.open_split(config, split, task.columns)
                task.check_source(source, split)
                assert count is None or len(source) == count
            batch = next(iter(splits.loader_for(config, source, task.label_to_id, train=False,
                                                batch_size=4)))
            assert batch["audio"].shape == (4, 16000) and batch["mask"].sum() == min(4, len(source))
            assert config.data.source == ("tfds:speech_commands" if name.endswith("12")
                                          else f"manifest:{imported}")


def _train_and_evaluate(experiment: str, overrides: list[str], workdir: Path, split: str):
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    config = load_config(str(ROOT / "experiments" / f"{experiment}.py:tiny"),
                         ["num_train_steps=2", "checkpoint_every_steps=2", *overrides])
    val = train_and_evaluate(config, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in records) == 2 and np.isfinite(val["loss"])
    return val, evaluate(workdir, checkpoint="latest", split=split)


# BC-ResNet's training step compiles for minutes on 2 cores (as kws_bc_resnet.py in test_train).
@pytest.mark.slow
def test_speech_commands_12_end_to_end(audio_feature_without_tf, tmp_path, fast_compilation):
    with _mock(8):
        val, test = _train_and_evaluate("speech_commands_12", ["evals.validation.every_steps=2"],
                                        tmp_path / "run", "test")
    assert val["count"] == test["count"] == 8 and 0.0 <= test["accuracy"] <= 1.0
    assert len(test["confusion_matrix"]) == 12
    assert json.loads((tmp_path / "run" / "labels.json").read_text())[-2:] == ["_silence_", "_unknown_"]


@pytest.mark.slow
def test_speech_commands_35_end_to_end(imported, tmp_path, fast_compilation):
    val, test = _train_and_evaluate("speech_commands_35", [f"data.source=manifest:{imported}",
                                                          "evals.validation.every_steps=2"],
                                    tmp_path / "run", "test")
    assert val["count"] == 4 and test["count"] == 3 and len(test["confusion_matrix"]) == 3
    assert set(test["per_speaker"]) == {"beef0004"}  # the speaker column of the test list


def test_librispeech_100_end_to_end(audio_feature_without_tf, tmp_path, fast_compilation):
    from audiojax.data.splits import open_split

    with _mock(4):
        config = load_config(str(ROOT / "experiments/librispeech_100.py:tiny"))
        assert open_split(config, "train").split == "train_clean100"
        # Greedy decoding: the beam search compiles for longer and is tested in test_asr.py.
        val, test = _train_and_evaluate("librispeech_100", [
            "evals.dev_clean.every_steps=2", "decode.beam_width=1", "decode.ctc_weight=0.0"],
            tmp_path / "run", "test_clean")
    assert val["count"] == test["count"] == 4 and 0.0 <= test["cer"] and 0.0 <= test["wer"]
    assert test["data"] == "test_clean" and set(test["per_speaker"])  # speaker_id of each utterance
    assert all(e["reference"] for e in test["examples"])
