"""Local synthetic corpora: formats, speaker-disjoint splits, determinism, TFDS round trip."""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiojax.data import CORPUS_SPLITS, SPLITS, corpus_dir
from audiojax.data.corpora import WORDS, build, acoustics, sentences, voices
from audiojax.data.corpora.builder import SPLIT_TABLE, assign_splits, split_table


def read_manifest(root: Path, split: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (root / f"{split}.tsv").read_text().splitlines():
        fields = line.split("\t")
        assert len(fields) == 3, f"{split}.tsv: bad line {line!r}"
        rows.append(tuple(fields))
    return rows


def clip_records(root: Path) -> list[dict]:
    return [json.loads(l) for l in (root / "clips.jsonl").read_text().splitlines()]


# --- format -----------------------------------------------------------------------------------


def test_commands_layout_and_manifests(tiny_commands, tiny_data_dir):
    root = tiny_commands.path
    assert root == corpus_dir(tiny_data_dir, "commands", "tiny")
    info = json.loads((root / "info.json").read_text())
    assert info["name"] == "commands" and info["size"] == "tiny" and info["seed"] == 0
    assert info["sample_rate"] == 16000
    assert info["labels"] == list(WORDS) and len(WORDS) == 35 and WORDS[0] == "backward"
    total = 0
    for split in CORPUS_SPLITS:
        rows = read_manifest(root, split)
        assert rows, split
        assert info["splits"][split]["clips"] == len(rows)
        assert info["splits"][split]["speakers"] == len({s for _, _, s in rows})
        for rel, label, speaker in rows:
            assert not rel.startswith("/") and rel.endswith(".wav")
            assert (root / rel).is_file()
            assert label in WORDS
            assert Path(rel).parts[:3] == ("wav", split, speaker)
        total += len(rows)
    assert 20 <= total <= 70  # tiny means tiny
    text = str(tiny_commands)
    for split in SPLITS:
        assert split in text


def test_the_clean_test_split_is_the_test_clips_without_room_noise_or_channel(tiny_commands):
    root = tiny_commands.path
    test, clean = read_manifest(root, "test"), read_manifest(root, "test_clean")
    assert [(Path(p).name, w, s) for p, w, s in test] == [(Path(p).name, w, s) for p, w, s in clean]
    info = json.loads((root / "info.json").read_text())
    assert info["splits"]["test_clean"]["clips"] == len(test) and "test_clean" in CORPUS_SPLITS
    records = {r["path"]: r for r in clip_records(root)}
    harsh_rooms = 0
    for (rel, _, _), (clean_rel, _, _) in zip(test, clean):
        r, c = records[rel], records[clean_rel]
        assert c["split"] == "test_clean" and c["index"] == r["index"] and c["synth"] == r["synth"]
        assert set(c["aug"]) == {"peak_dbfs"} and c["aug"]["peak_dbfs"] == r["aug"]["peak_dbfs"]
        harsh_rooms += "room" in r["aug"]
        y = sf.read(str(root / clean_rel), dtype="float64")[0]
        # Nothing added: digital silence around the word, and the test clip's level.
        assert np.abs(y[:160]).max() == 0.0 or np.abs(y[-160:]).max() == 0.0, clean_rel
        assert 20 * np.log10(np.abs(y).max()) == pytest.approx(c["aug"]["peak_dbfs"], abs=0.01)
        if "snr_db" in r["aug"]:  # the harsh clip is the clean one plus something else
            harsh = sf.read(str(root / rel), dtype="float64")[0]
            assert not np.allclose(harsh, y, atol=1e-3)
    assert harsh_rooms > 0  # the test split itself is not clean


def test_each_training_clip_is_recorded_several_times_and_some_stay_dry(tiny_commands):
    """Training: ``renders`` recordings of one synthesis, each its own speed, tempo, placement
    and acoustics; only training recordings are left dry by the dry draw."""
    from audiojax.data.corpora.builder import SIZES as SPECS

    renders = SPECS["commands"]["tiny"].renders
    assert renders >= 2
    records = clip_records(tiny_commands.path)
    by_index: dict[int, list[dict]] = {}
    for r in records:
        if r["split"] == "train":
            by_index.setdefault(r["index"], []).append(r)
    assert by_index and all(sorted(x["render"] for x in rs) == list(range(renders))
                            for rs in by_index.values())
    for rs in by_index.values():
        assert len({(x["synth"]["rate"], x["synth"]["pitch"]) for x in rs}) == 1   # one synthesis
        assert len({(x["synth"]["speed"], x["synth"]["tempo"]) for x in rs}) == renders
        audio = [sf.read(str(tiny_commands.path / x["path"]))[0] for x in rs]
        assert not np.allclose(audio[0], audio[1], atol=1e-3)
    dry = lambda r: set(r["aug"]) == {"peak_dbfs"}
    train = [r for r in records if r["split"] == "train"]
    assert 0 < sum(map(dry, train)) < len(train)
    assert not any(dry(r) for r in records if r["split"] in ("validation", "test"))
    assert all(r["render"] == 0 for r in records if r["split"] != "train")


def test_commands_clips_are_one_second_audible_and_unclipped(tiny_commands):
    root = tiny_commands.path
    for split in SPLITS:
        for rel, label, _ in read_manifest(root, split):
            i = sf.info(str(root / rel))
            assert (i.samplerate, i.channels, i.subtype, i.frames) == (16000, 1, "PCM_16", 16000)
            y, _ = sf.read(str(root / rel), dtype="int16")
            peak = int(np.abs(y.astype(np.int32)).max())
            assert peak > 0.03 * 32767, f"{rel} is nearly silent (peak {peak})"
            assert peak < 0.95 * 32767, f"{rel} is clipped or at full scale (peak {peak})"
            # Speech, not a constant: the loudest 50 ms frame stands well above the quietest.
            frames = y[: 16000 // 800 * 800].astype(np.float64).reshape(-1, 800)
            e = np.sqrt(np.mean(frames ** 2, axis=1)) + 1e-3
            assert e.max() / e.min() > 2.0, f"{rel}: no speech envelope"


def test_commands_word_fits_inside_the_clip(tiny_commands):
    """Recorded placement: trimmed word never reaches past the end (the buffer is 1 s)."""
    for r in clip_records(tiny_commands.path):
        assert r["seconds"] == 1.0


def test_sentences_transcripts_and_audio(tiny_sentences):
    root = tiny_sentences.path
    texts = {}
    for split in SPLITS:
        rows = read_manifest(root, split)
        assert rows
        for rel, label, speaker in rows:
            assert re.fullmatch(r"[a-z']+( [a-z']+)*", label), label
            assert len(label.split()) >= 3
            y, sr = sf.read(str(root / rel), dtype="int16")
            assert sr == 16000 and y.ndim == 1
            assert 0.5 < y.size / sr < 15
            assert 0.03 * 32767 < np.abs(y.astype(np.int32)).max() < 0.95 * 32767
            texts.setdefault(split, set()).add(label)
    assert not texts["train"] & texts["test"], "a test sentence is also in train"
    assert tiny_sentences.info["labels"] is None


def test_normalize():
    assert sentences.normalize("Don't STOP -- it's 'fine', Mr. O'Neil!") == \
        "don't stop it's fine mr o'neil"
    assert sentences.normalize("  Two\tspaces\n") == "two spaces"
    for s in sentences.grammar_sentences(200):
        assert re.fullmatch(r"[a-z']+( [a-z']+)*", s), s


# --- speakers and splits ----------------------------------------------------------------------


@pytest.mark.parametrize("corpus", ["tiny_commands", "tiny_sentences"])
def test_splits_are_speaker_disjoint_with_an_unseen_engine(corpus, request):
    summary = request.getfixturevalue(corpus)
    root = summary.path
    speakers = {s: {spk for _, _, spk in read_manifest(root, s)} for s in SPLITS}
    assert all(len(v) >= 1 for v in speakers.values())
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    recs = clip_records(root)
    groups = {s: {r["group"] for r in recs if r["split"] == s} for s in SPLITS}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["validation"]
    engines = {s: {r["engine"] for r in recs if r["split"] == s} for s in SPLITS}
    held = summary.info["held_out_engine"]
    assert held in engines["test"] and held not in engines["train"]
    assert engines["test"] - engines["train"]


def full_voice_set() -> list:
    vs = []
    for acc in voices.ESPEAK_ACCENTS:
        vs.append(voices.Voice("espeak", acc, f"espeak-{acc}"))
    vs += voices.with_variants(vs, 6)
    vs += [voices.Voice("flite", n, g) for n, g in voices.FLITE_VOICES.items()]
    vs += [voices.Voice("festival", n, g) for n, (g, _) in voices.FESTIVAL_VOICES.items()]
    vs += [voices.Voice("mbrola", n, f"mbrola-{d}") for n, d in
           {**voices.MBROLA_VOICES, **voices.MBROLA_OTHER_VOICES}.items()]
    vs += [voices.Voice("pico", n, g) for n, g in voices.PICO_VOICES.items()]
    vs += [voices.Voice("rhvoice", n, g) for n, g in voices.RHVOICE_VOICES.items()]
    return vs


def test_assign_splits_on_a_full_voice_set():
    """Every engine installed: pico is test-only, groups never straddle splits, and every group
    the engines can produce has its row in the checked-in table."""
    vs = full_voice_set()
    splits, held = assign_splits(vs)
    assert held == "pico"
    assert sum(len(v) for v in splits.values()) == len(vs)
    g = {s: {v.group for v in splits[s]} for s in SPLITS}
    assert not g["train"] & g["test"] and not g["train"] & g["validation"] \
        and not g["validation"] & g["test"]
    assert all(v.engine != "pico" for v in splits["train"] + splits["validation"])
    assert len(splits["train"]) >= 30
    assert len({v.engine for v in splits["train"]}) >= 4
    assert len({v.engine for v in splits["validation"]}) >= 3   # model selection on several engines
    assert set(split_table()) == {v.group for v in vs}          # no row for a voice that cannot exist
    table_rows = [l for l in SPLIT_TABLE.read_text().splitlines() if l and not l.startswith("#")]
    for row in table_rows:                                      # its voices column names them
        group, split, names = row.split("\t")
        listed = {tuple(n.split()) for n in names.split(", ")}
        assert listed == {(v.engine, v.name) for v in vs if v.group == group and not v.variant}, row


def test_a_voice_group_without_a_row_is_refused():
    stranger = voices.Voice("espeak", "en-au", "espeak-en-au")
    with pytest.raises(ValueError, match=r"voice groups espeak-en-au have no split in .*voice_splits"
                                         r"\.tsv: add a row for each"):
        assign_splits(full_voice_set() + [stranger])


def test_large_sentences_has_four_times_the_training_recordings():
    from audiojax.data.corpora.builder import SIZES as SPECS, plan

    splits, _ = assign_splits(full_voice_set())
    full, large = (plan("sentences", SPECS["sentences"][s], splits, 0, s)
                   for s in ("full", "large"))
    count = lambda clips, split: sum(c.split == split for c in clips)
    assert 3.9 < count(large, "train") / count(full, "train") < 4.1
    for split in ("validation", "test"):
        assert count(large, split) == count(full, split)
        assert {c.label for c in large if c.split == split} \
            == {c.label for c in full if c.split == split}       # same held-out sentences
    texts = [c.label for c in large if c.split == "train"]
    assert all(sentences.split_of_text(t) == "train" for t in texts)
    assert len(set(texts)) > 0.45 * len(texts)                    # each read about twice
    for s in ("tiny", "small", "full"):                           # the other sizes unchanged
        assert SPECS["sentences"][s].train_factor == SPECS["commands"][s].train_factor == 1.0
    with pytest.raises(ValueError, match=r"unknown size 'large' of commands; choose one of"):
        build("commands", "/nonexistent", size="large")


# --- determinism and reuse --------------------------------------------------------------------


def test_same_seed_same_corpus_in_another_dir_with_other_worker_count(tiny_commands, tmp_path):
    again = build("commands", tmp_path, size="tiny", seed=0, progress=False, workers=2,
                  tfds=False)
    a, b = tiny_commands.path, again.path
    for split in SPLITS:
        assert (a / f"{split}.tsv").read_bytes() == (b / f"{split}.tsv").read_bytes()
        for rel, _, _ in read_manifest(a, split):
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert again.info["fingerprint"] == tiny_commands.info["fingerprint"]


def test_existing_build_is_reused(tiny_commands, tiny_data_dir):
    before = (tiny_commands.path / "info.json").stat().st_mtime_ns
    again = build("commands", tiny_data_dir, size="tiny", seed=0, progress=False)
    assert again.reused and again.seconds < 5
    assert (tiny_commands.path / "info.json").stat().st_mtime_ns == before
    assert not [p for p in tiny_data_dir.iterdir() if ".building-" in p.name]


# --- TFDS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("corpus", ["tiny_commands", "tiny_sentences"])
def test_tfds_data_source_round_trip(corpus, request):
    import tensorflow_datasets as tfds

    import audiojax.data.corpora.tfds_builders  # noqa: F401 - registers the builders

    summary = request.getfixturevalue(corpus)
    root = summary.path
    sources = tfds.data_source(f"audiojax_{summary.name}/tiny", data_dir=summary.tfds_dir,
                               download=False)
    for split in SPLITS:
        rows = {rel[:-4]: (label, spk) for rel, label, spk in read_manifest(root, split)}
        src = sources[split]
        assert len(src) == len(rows)
        seen = set()
        for i in range(len(src)):
            ex = src[i]
            key = ex["id"].decode()
            label, spk = rows[key]
            wav, sr = sf.read(str(root / (key + ".wav")), dtype="int16")
            assert ex["audio"].dtype == np.int16
            np.testing.assert_array_equal(ex["audio"], wav)
            assert ex["speaker"].decode() == spk
            if summary.name == "commands":
                assert WORDS[int(ex["label"])] == label
            else:
                assert ex["label"].decode() == label
            seen.add(key)
        assert seen == set(rows)
    assert "tensorflow" not in sys.modules  # everything above ran without TensorFlow


def test_tfds_copy_of_a_split_over_the_memory_buffer_needs_no_tensorflow(tiny_sentences, tmp_path,
                                                                         monkeypatch):
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import shuffle

    from audiojax.data.corpora import tfds_builders

    # As if every split were over TFDS's 1 GB buffer, which it spills through TensorFlow.
    monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1000)
    info = json.loads((tiny_sentences.path / "info.json").read_text())
    (tmp_path / tiny_sentences.path.name).symlink_to(tiny_sentences.path)   # a fresh TFDS copy
    tfds_builders.prepare("sentences", "tiny", tmp_path, tiny_sentences.path, info["fingerprint"],
                          progress=False)
    assert shuffle.MAX_MEM_BUFFER_SIZE == 1000                     # restored
    sources = tfds.data_source("audiojax_sentences/tiny", data_dir=tmp_path / "tfds",
                               download=False)
    for split in SPLITS:
        ids = [sources[split][i]["id"].decode() for i in range(len(sources[split]))]
        assert sorted(i + ".wav" for i in ids) == sorted(rel for rel, _, _ in read_manifest(tiny_sentences.path, split))
    assert "tensorflow" not in sys.modules


# --- engines and acoustics --------------------------------------------------------------------


def test_bad_synthesis_names_voice_and_text():
    for v in (voices.Voice("espeak", "xx-no-such-voice", "g"),
              voices.Voice("flite", "no_such_voice", "g")):
        with pytest.raises(voices.SynthesisError, match=r"no_such_voice|xx-no-such-voice") as e:
            voices.synthesize(v, "hello world")
        assert "hello world" in str(e.value)
        # As a builder's worker process sends it back (pickled): the same one-line message.
        assert str(pickle.loads(pickle.dumps(e.value))) == str(e.value)


def test_acoustics_primitives():
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    padded = np.concatenate([np.zeros(4000, np.float32), tone, np.zeros(4000, np.float32)])
    trimmed = acoustics.trim_silence(padded, sr)
    assert sr <= trimmed.size <= sr + 800
    slow = acoustics.tempo(tone, sr, 0.8)
    assert abs(slow.size - sr / 0.8) < 400
    assert acoustics.speed(tone, 1.1).size == pytest.approx(sr / 1.1, abs=2)
    noise = acoustics.coloured_noise(rng, sr, 0.0)
    mixed = acoustics.mix_at_snr(tone, noise, 10.0, sr)
    snr = 10 * np.log10(np.mean(tone ** 2) / np.mean((mixed - tone) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)
    pink = np.abs(np.fft.rfft(acoustics.coloured_noise(rng, 1 << 15, 1.0))) ** 2
    f = np.fft.rfftfreq(1 << 15)
    lo, hi = pink[(f > 0.005) & (f < 0.01)].mean(), pink[(f > 0.2) & (f < 0.4)].mean()
    assert lo > 10 * hi  # pink noise falls with frequency
    h, room = acoustics.room_ir(rng, sr, (0.3, 0.6))
    assert np.argmax(np.abs(h)) < 20 and h.size > 0.2 * sr and 0.1 < room["rt60"] <= 0.6


def test_voice_subsets_are_whole_groups_per_family_and_nested(tmp_path):
    from audiojax.data.corpora import voice_families, voice_subset

    groups = {("espeak", f"en-{i}"): [f"espeak-en-{i}", f"espeak-en-{i}-m1"] for i in range(4)}
    groups.update({("mbrola", f"mb-{i}"): [f"mbrola-{i}"] for i in range(2)})
    groups[("flite", "cmu-slt")] = ["flite-slt", "festival-slt", "rhvoice-slt"]
    groups[("rhvoice", "rh-x")] = ["rhvoice-x"]
    with (tmp_path / "clips.jsonl").open("w") as f:
        for (engine, group), speakers in groups.items():
            for split in ("train", "test"):
                for s in speakers:
                    f.write(json.dumps({"split": split, "engine": engine, "group": group,
                                        "speaker": f"{s}-{split}"}) + "\n")
    families = voice_families(tmp_path)
    assert {f: len(g) for f, g in families.items()} == {"espeak": 4, "mbrola": 2, "other": 2}
    subsets = {q: voice_subset(tmp_path, q, seed=3) for q in (0.25, 0.5, 1.0)}
    assert subsets[1.0] == sorted(s + "-train" for ss in groups.values() for s in ss)
    assert set(subsets[0.25]) <= set(subsets[0.5]) <= set(subsets[1.0])
    for q, kept in subsets.items():
        for family, fam_groups in families.items():
            chosen = [g for g, ss in fam_groups.items() if set(ss) <= set(kept)]
            assert len(chosen) == max(1, round(q * len(fam_groups)))   # whole groups, per family
            partial = [g for g, ss in fam_groups.items() if set(ss) & set(kept) and g not in chosen]
            assert not partial
    assert voice_subset(tmp_path, 0.5, seed=3) == subsets[0.5]      # seeded
    with pytest.raises(ValueError, match="data.train_voices: a fraction in"):
        voice_subset(tmp_path, 0.0)
    with pytest.raises(FileNotFoundError, match="clips.jsonl"):
        voice_subset(tmp_path / "nowhere", 0.5)


def test_training_on_a_fraction_of_the_voices(tiny_commands, tiny_data_dir):
    from audiojax.data.corpora import voice_subset
    from audiojax.config import load_config
    from audiojax.data.splits import open_split

    def split(name, *overrides):
        config = load_config(str(Path(__file__).parents[1] / "experiments/kws_logmel_cnn.py:tiny"),
                             [f"data.data_dir={tiny_data_dir}", *overrides])
        source = open_split(config, name)
        return [source[i]["speaker"] for i in range(len(source))]

    every = split("train")
    half = split("train", "data.train_voices=0.5")
    kept = voice_subset(tiny_commands.path, 0.5)
    assert set(half) == set(kept) and set(kept) < set(every)
    assert half == [s for s in every if s in kept]                  # manifest order kept
    assert split("validation", "data.train_voices=0.5") == split("validation")
    manifest = str(tiny_commands.path / "{split}.tsv")
    with pytest.raises(ValueError, match="only for a local corpus"):
        split("train", f"data.source={manifest}", "data.train_voices=0.5")


def test_sampled_condition_manifests(tmp_path):
    from audiojax.cli import main
    from audiojax.data.corpora import noise_kind, sample_clips
    from audiojax.data.manifest import read_manifest as read_rows

    rng = np.random.default_rng(0)
    noises = [None, "colour+0.60", "colour-0.08", "babble+"]
    clips = []
    for i in range(400):
        aug = {"peak_dbfs": -20.0}
        if noises[i % 4]:
            aug.update(noise=noises[i % 4], snr_db=float(rng.uniform(0, 30)))
        clips.append({"split": ("train", "validation")[i % 5 == 0], "path": f"wav/{i:04d}.wav",
                      "label": f"text {i}", "speaker": f"v{i % 7}", "aug": aug})
    (tmp_path / "clips.jsonl").write_text("".join(json.dumps(c) + "\n" for c in clips))
    assert [noise_kind(c) for c in clips[:4]] == ["none", "colour", "colour", "babble"]

    rows = sample_clips(tmp_path, "validation", 10, seed=1, noise="babble", snr_db=(0, 15))
    by_path = {str(tmp_path.resolve() / c["path"]): c for c in clips}
    picked = [by_path[p] for p, _, _ in rows]
    assert len({p for p, _, _ in rows}) == 10                    # without replacement
    assert all(c["split"] == "validation" and c["aug"]["noise"] == "babble+"
               and c["aug"]["snr_db"] < 15 for c in picked)
    assert [(r[1], r[2]) for r in rows] == [(c["label"], c["speaker"]) for c in picked]
    assert rows == sample_clips(tmp_path, "validation", 10, seed=1, noise="babble", snr_db=(0, 15))
    assert rows != sample_clips(tmp_path, "validation", 10, seed=2, noise="babble", snr_db=(0, 15))
    matching = [c for c in clips if c["split"] == "train" and noise_kind(c) == "none"]
    assert sorted(p for p, _, _ in sample_clips(tmp_path, "train", len(matching), noise="none")) \
        == sorted(str(tmp_path.resolve() / c["path"]) for c in matching)   # all, when all asked

    out = tmp_path / "val_colour.tsv"                 # inside the corpus: relative paths
    with pytest.raises(SystemExit) as e:
        main(["data", "sample", str(tmp_path), "--count", "5", "--noise", "colour", "--seed", "3",
              "--output", str(out)])
    assert e.value.code == 0
    entries = read_rows(out)
    assert [(e.path, e.label, e.speaker) for e in entries] == [
        (str(Path(p).relative_to(tmp_path.resolve())), label, speaker)
        for p, label, speaker in sample_clips(tmp_path, "validation", 5, seed=3, noise="colour")]
    with pytest.raises(ValueError,
                       match=r"count \(--count\): 500 clips asked, \d+ of split 'train'"):
        sample_clips(tmp_path, "train", 500)
    with pytest.raises(ValueError, match=r"snr_db \(--snr\): give the noise kind"):
        sample_clips(tmp_path, "train", 5, noise="none", snr_db=(0, 10))
    with pytest.raises(ValueError, match="noise: one of none, colour, babble"):
        sample_clips(tmp_path, "train", 5, noise="pink")


def test_clip_conditions_bin_each_recording_and_find_its_corpus(tmp_path):
    from audiojax.data.corpora import CONDITIONS, clip_conditions, conditions_of

    room = {"room": [4.0, 5.0, 3.0], "distance": 2.0}
    clips = [
        {"path": "wav/a.wav", "aug": {"peak_dbfs": -3.0}},
        {"path": "wav/b.wav", "aug": {"room": {**room, "rt60": 0.399}, "noise": "colour+0.6",
                                      "snr_db": 20.0}},
        {"path": "wav/c.wav", "aug": {"room": {**room, "rt60": 0.4}, "noise": "babble+",
                                      "snr_db": 19.99, "channel": "lowpass 4213"}},
        {"path": "wav/d.wav", "aug": {"room": {**room, "rt60": 0.65}, "noise": "babble+colour-0.1",
                                      "snr_db": 9.9, "channel": "bandpass 239-3636"}},
    ]
    bins = [clip_conditions(c) for c in clips]
    assert bins == [
        {"room": "none", "noise": "none", "noise kind": "none", "channel": "full band", "dry": "dry"},
        {"room": "RT60 < 0.4 s", "noise": "SNR >= 20 dB", "noise kind": "colour",
         "channel": "full band", "dry": "not dry"},
        {"room": "RT60 0.4-0.65 s", "noise": "SNR 10-20 dB", "noise kind": "babble",
         "channel": "lowpass", "dry": "not dry"},
        {"room": "RT60 >= 0.65 s", "noise": "SNR < 10 dB", "noise kind": "babble+colour",
         "channel": "bandpass", "dry": "not dry"},
    ]
    assert all(b[name] in CONDITIONS[name] for b in bins for name in b)
    mixture = {"voices": ["espeak-en", "espeak-en-us"], "engines": ["espeak", "espeak"],
               "aug": {"level_db": -2.5}}
    assert clip_conditions(mixture) == {"level": "|level| >= 2.5 dB", "talkers": "same engine"}
    mixture.update(engines=["espeak", "flite"], aug={"level_db": 2.49})
    assert clip_conditions(mixture) == {"level": "|level| < 2.5 dB", "talkers": "different engines"}
    corpus = tmp_path / "corpus"
    (corpus / "wav").mkdir(parents=True)
    (corpus / "clips.jsonl").write_text("".join(json.dumps(c) + "\n" for c in clips))
    expected = {name: [bins[i][name] for i in (3, 0, 2)] for name in bins[0]}
    # A TFDS split's ids (relative, no .wav) and a manifest's paths (relative to it, or
    # absolute) find the same records.
    assert conditions_of(["wav/d", "wav/a", "wav/c"], base=corpus) == expected
    assert conditions_of(["d.wav", "a.wav", "c.wav"], base=corpus / "wav") == expected
    assert conditions_of([str(corpus / "wav" / f) for f in ("d.wav", "a.wav", "c.wav")]) == expected
    assert conditions_of(["wav/a", "wav/zzz"], base=corpus) is None      # not all in the corpus
    assert conditions_of([str(tmp_path / "elsewhere.wav")]) is None      # no clips.jsonl above
    assert conditions_of([]) is None


def test_crossed_set_reads_held_out_sentences_with_training_voices(tiny_sentences, tmp_path):
    from audiojax.cli import main
    from audiojax.data.corpora.builder import write_crossed

    sets = [tmp_path / "a", tmp_path / "b"]
    for out in sets:
        out.mkdir()
        assert write_crossed("tiny", 0, out, "train", "validation", 3, progress=False,
                             workers=1) == 3
    rows = read_manifest(sets[0], "manifest")
    train_speakers = {s for _, _, s in read_manifest(tiny_sentences.path, "train")}
    assert {s for _, _, s in rows} <= train_speakers
    assert all(sentences.split_of_text(t) == "validation" for _, t, _ in rows)
    assert len({t for _, t, _ in rows}) == 3
    assert rows == read_manifest(sets[1], "manifest")                  # seeded
    for rel, _, _ in rows:
        a, sr = sf.read(str(sets[0] / rel), dtype="int16")
        b, _ = sf.read(str(sets[1] / rel), dtype="int16")
        assert sr == 16000 and a.size > 0.5 * sr and np.array_equal(a, b)
    assert [r["texts"] for r in clip_records(sets[0])] == ["validation"] * 3              # labelled
    with pytest.raises(SystemExit) as e:                                  # a used folder: refused
        main(["data", "cross", "--size", "tiny", "--count", "2", "--output", str(sets[0])])
    assert e.value.code == 2
    with pytest.raises(ValueError, match=r"count: 1 to \d+ \(the test sentences\)"):
        write_crossed("tiny", 0, tmp_path, "train", "test", 10 ** 6)
