"""The instruments corpus: notes rendered by FluidSynth from sound fonts (here SoundFont 2 files
of looped waveforms written by the test), a held-out font that shares no sample with training,
validation programs held out of training, deterministic rendering, pitch ranges."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiojax.data.corpora import instruments as I
from sound_fixtures import harmonics, write_sf2

PROGRAMS = {0: "keyboard", 1: "keyboard", 24: "guitar", 25: "guitar", 26: "guitar", 33: "bass"}


# Each family's timbre: its overtones' amplitudes after a fundamental of 1.
OVERTONES = {"keyboard": (0.0, 0.5, 0.0, 0.3), "guitar": (0.5, 0.4, 0.35, 0.3, 0.25), "bass": (0.05,)}


def _timbres(seed: int) -> dict[int, np.ndarray]:
    """A font's waveforms: its family's timbre, each overtone moved by up to 0.05."""
    rng = np.random.default_rng(seed)
    return {p: harmonics(1, *(np.array(OVERTONES[f]) + rng.uniform(-0.05, 0.05, len(OVERTONES[f]))))
            for p, f in PROGRAMS.items()}


def _fonts(tmp_path: Path):
    """A test font, a training font, and a training font that copies one of the test's samples."""
    waves = _timbres(0)
    write_sf2(tmp_path / "test.sf2", waves)
    write_sf2(tmp_path / "train.sf2", _timbres(1))
    write_sf2(tmp_path / "copy.sf2", {**_timbres(2), 24: waves[24]})
    return (I.Font("pkg-test", str(tmp_path / "test.sf2"), "GPL-2", "test"),
            I.Font("pkg-train", str(tmp_path / "train.sf2"), "MIT", "train"),
            I.Font("pkg-copy", str(tmp_path / "copy.sf2"), "MIT", "train"),
            I.Font("pkg-absent", str(tmp_path / "absent.sf2"), "MIT", "train"))


def _build(tmp_path, fonts, seed=0, name="corpus", size="tiny"):
    root = tmp_path / name
    root.mkdir()
    return root, I.write_corpus(size, seed, root, progress=False, fonts=fonts, programs=PROGRAMS)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.wav")):
        h.update(path.read_bytes())
    return h.hexdigest()


def test_splits_fonts_and_deterministic_rendering(tmp_path):
    fonts = _fonts(tmp_path)
    root, info = _build(tmp_path, fonts)
    rows = [json.loads(line) for line in (root / "clips.jsonl").read_text().splitlines()]
    # The held-out font only in test, and test only from it; the font that shares a test sample
    # is left out, with the count; the absent one is named.
    assert {r["font"] for r in rows if r["split"] == "test"} == {"pkg-test"}
    assert {r["font"] for r in rows if r["split"] != "test"} == {"pkg-train"}
    assert info["fonts"]["left_out"] == {"pkg-copy": "shares 1 samples with the test font pkg-test",
                                         "pkg-absent": "not installed (make music)"}
    # Validation: the last program of each family of two or more, never trained on.
    validation = {r["program"] for r in rows if r["split"] == "validation"}
    train = {r["program"] for r in rows if r["split"] == "train"}
    assert validation == {1, 26} and train == {0, 24, 25, 33} and not validation & train
    assert info["labels"] == ["keyboard", "guitar", "bass"]
    assert info["splits"]["test"]["clips"] == len(PROGRAMS) * I.SIZES["tiny"].notes["test"]
    # Manifests: path, family, font; every clip 2 s at 16 kHz, its first note at its pitch.
    lines = [line.split("\t") for line in (root / "test.tsv").read_text().splitlines()]
    by_path = {r["path"]: r for r in rows}
    pitched = 0
    for path, family, font in lines:
        row = by_path[path]
        assert (family, font) == (PROGRAMS[row["program"]], "pkg-test")
        y, rate = sf.read(root / path)
        assert rate == 16000 and y.size == int(I.CLIP_SECONDS * 16000)
        assert 20 * np.log10(np.abs(y).max()) == pytest.approx(row["peak_db"], abs=0.01)
        note = row["notes"][0]
        if len(row["notes"]) == 1 and note["hold_s"] >= 0.5:   # the fundamental of a held note
            a = int((note["onset_s"] + 0.05) * 16000)
            seg = y[a:a + 6400]
            spectrum = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
            f0 = 440 * 2 ** ((note["pitch"] - 69) / 12)
            assert abs(np.argmax(spectrum) * 16000 / seg.size - f0) < 0.03 * f0 + 2.5
            pitched += 1
    assert pitched >= 2
    # The same seed renders the same bytes; another seed other notes.
    again, _ = _build(tmp_path, fonts, name="again")
    other, _ = _build(tmp_path, fonts, seed=1, name="other")
    assert _digest(root) == _digest(again) != _digest(other)


def test_a_clip_is_the_same_whatever_was_rendered_before(tmp_path):
    """A clip rendered first by a fresh synthesizer, and again after clips of other programs,
    pitches, velocities and lengths (voices reused, blocks part-filled): the same samples."""
    test, *_ = _fonts(tmp_path)
    clip = ({0: 24}, [{"pitch": 64, "velocity": 90, "onset_s": 0.013, "hold_s": 0.4},
                      {"pitch": 67, "velocity": 70, "onset_s": 0.2, "hold_s": 0.3}])
    fresh = I.Renderer()
    first = fresh.render(test.path, *clip, 0.7)
    fresh.close()
    used = I.Renderer()
    for program, pitch, velocity, seconds in ((0, 48, 127, 0.33), (33, 40, 41, 1.01),
                                              (25, 72, 100, 0.051)):
        used.render(test.path, {0: program}, [{"pitch": pitch, "velocity": velocity,
                                               "onset_s": 0.0, "hold_s": seconds / 2}], seconds)
    again = used.render(test.path, *clip, 0.7)
    used.close()
    assert np.abs(first).max() > 0.01 and first.size == again.size == int(0.7 * 16000)
    np.testing.assert_array_equal(first, again)


def test_missing_fonts_and_shared_samples_are_refused(tmp_path):
    test, train, copy, absent = _fonts(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"absent.sf2: the held-out test font is not "
                                                r"installed \(package pkg-absent: make music\)"):
        I.choose_fonts([I.Font("pkg-absent", absent.path, "MIT", "test"), train])
    with pytest.raises(FileNotFoundError, match="pkg-copy: shares 1 samples with the test font"):
        I.choose_fonts([test, copy])
    assert len(I.sample_digests(test.path) & I.sample_digests(copy.path)) == 1
    (tmp_path / "not.sf2").write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(ValueError, match="not.sf2: not a SoundFont 2 file"):
        I.sample_digests(tmp_path / "not.sf2")


def test_pitch_ranges_bin_the_first_note():
    from audiojax.data.corpora import CONDITIONS, clip_conditions

    bins = [clip_conditions({"program": 0, "pitch": p})["pitch range"] for p in (33, 47, 48, 71, 72)]
    assert bins == ["below C3", "below C3", "C3-B4", "C3-B4", "C5 and up"]
    assert set(bins) == set(CONDITIONS["pitch range"])
    assert all(I.split_of(p) in ("train", "validation") for p in I.PROGRAMS)
    assert {I.PROGRAMS[p] for p in I.PROGRAMS if I.split_of(p) == "validation"} == set(I.FAMILIES)


def test_tiny_instrument_model_names_the_families_of_the_held_out_font(tmp_path):
    """experiments/instruments_cnn.py, tiny, with the constant-Q front-end, on notes of three
    families rendered from a training font: the families of the held-out font's notes, per
    pitch range as well."""
    from audiojax.config import load_config
    from audiojax.evaluate import evaluate
    from audiojax.train.loop import train_and_evaluate

    root, info = _build(tmp_path, _fonts(tmp_path), size="small")
    (root / "info.json").write_text(json.dumps(info))
    experiment = Path(__file__).parents[1] / "experiments" / "instruments_cnn.py"
    config = load_config(f"{experiment}:tiny", [
        f"data.source={root}", "model.frontend=cqt", "num_train_steps=60", "batch_size=16",
        "learning_rate=0.01", "mixup=0.0", "model.time_masks=0", "model.freq_masks=0",
        "checkpoint_every_steps=60", "evals.validation.every_steps=60", "log_every_steps=20"])
    train_and_evaluate(config, tmp_path / "run")
    test = evaluate(tmp_path / "run", checkpoint="latest", split="test")
    clips = len(PROGRAMS) * I.SIZES["small"].notes["test"]
    # Guitar, the most common family, is half the clips: the model must hear the other two.
    assert test["count"] == clips and test["accuracy"] >= 0.75
    ranges = test["per_condition"]["pitch range"]
    assert sum(r["count"] for r in ranges.values()) == clips and "below C3" in ranges
