"""The `soundscapes` corpus (audiojax/data/corpora/soundscapes.py), built from fake recordings
and tables in a temporary folder."""

import json

import numpy as np
import pytest
import soundfile as sf

from audiojax.data.corpora import acoustics, sound_events as se, soundscapes as ss
from audiojax.data.events import read_events
from sound_fixtures import LABELS, fake_packages

SR = ss.SAMPLE_RATE


def _build(tmp_path, name="scenes", seed=0):
    table, source_table, _ = fake_packages(tmp_path / "pkgs", n_per_source=2)
    root = tmp_path / name
    root.mkdir()
    info = ss.write_corpus("tiny", seed, root, progress=False, table=table,
                           source_table=source_table, labels=LABELS, speech=False)
    return root, info, table


def test_scenes_events_and_folds(tmp_path):
    """Each scene is 10 s with 1-5 events of known labels, listed in its split's events file
    as scenes.jsonl says; test scenes draw only on fold 1's sources, validation on fold 2's."""
    root, info, table = _build(tmp_path)
    rows = [json.loads(line) for line in (root / "scenes.jsonl").read_text().splitlines()]
    sources = se.read_sources(tmp_path / "pkgs" / "sources.tsv")
    assert len(rows) == sum(ss.SIZES["tiny"].scenes.values())
    for split in ss.SPLITS:
        events = read_events(root / f"events_{split}.tsv", LABELS)
        mine = [r for r in rows if r["split"] == split]
        assert len(events) == len(mine) == ss.SIZES["tiny"].scenes[split]
        folds = set(se.fold_splits(1)[split])
        for r in mine:
            y, sr = sf.read(root / r["path"], dtype="float32")
            assert sr == SR and y.shape == (int(ss.SCENE_SECONDS * SR),)
            listed = events[str((root / r["path"]).resolve())]
            placed = sorted((e["onset_s"], e["offset_s"], e["label"]) for e in r["events"])
            assert listed == placed and 1 <= len(listed) <= 5
            assert all(0 <= a < b <= ss.SCENE_SECONDS for a, b, _ in listed)
            assert {sources[e["source"]].fold for e in r["events"]} <= folds
    assert info["splits"]["test"]["sources"] == ["src1"]
    assert info["splits"]["train"]["sources"] == ["src3", "src4", "src5"]


def test_event_levels_and_pieces():
    """An event's active power is its drawn SNR above the background's power; a long sound
    gives a faded segment of 1..MAX_EVENT_SECONDS."""
    rng = np.random.default_rng(3)
    entry = se.Entry("pkg", "src", "/x.wav", "tone", 1)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    y, events, facts = ss.scene(np.random.default_rng(7), [(entry, tone)], np.zeros(0), SR)
    assert events == sorted((e["onset_s"], e["offset_s"], "tone") for e in facts["events"])
    assert all(b - a == pytest.approx(1.0, abs=1e-3) for a, b, _ in events)
    long = rng.standard_normal(12 * SR).astype(np.float32)
    piece, start = ss.event_piece(rng, long)
    assert SR <= piece.size <= ss.MAX_EVENT_SECONDS * SR
    s = int(round(start * SR))
    fade = int(ss.FADE_SECONDS * SR)
    np.testing.assert_allclose(piece[fade:-fade], long[s + fade:s + piece.size - fade])
    assert abs(piece[0]) < 1e-6 and abs(piece[-1]) < 1e-6

    # The SNR rule, on a scene whose background is rebuilt from the scene's first draws.
    y, events, facts = ss.scene(np.random.default_rng(11), [(entry, tone)], np.zeros(0), SR)
    replay = np.random.default_rng(11)
    beta = replay.uniform(-1.0, 2.0)
    background = acoustics.coloured_noise(replay, int(ss.SCENE_SECONDS * SR), beta)
    assert facts["noise_beta"] == round(beta, 3)
    spans = [(int(round(e["onset_s"] * SR)), int(round(e["offset_s"] * SR))) for e in facts["events"]]
    quiet = np.ones(y.size, bool)
    for a, b in spans:
        quiet[a:b] = False
    scale = np.median(y[quiet] / background[quiet])           # the peak normalization's gain
    event_only = y / scale - background
    checked = 0
    for (a, b), e in zip(spans, facts["events"]):
        if all(b2 <= a or b <= a2 for a2, b2 in spans if (a2, b2) != (a, b)):  # not overlapped
            snr = 10 * np.log10(acoustics.active_power(event_only[a:b], SR) / np.mean(background ** 2))
            assert snr == pytest.approx(e["snr_db"], abs=0.1)
            checked += 1
    assert checked >= 1


def test_builds_repeat_for_a_seed_and_differ_across_seeds(tmp_path):
    one, _, _ = _build(tmp_path, "one", seed=0)
    two, _, _ = _build(tmp_path / "again", "two", seed=0)
    three, _, _ = _build(tmp_path / "other", "three", seed=1)
    for split in ss.SPLITS:
        assert (one / f"events_{split}.tsv").read_text() == (two / f"events_{split}.tsv").read_text()
        assert (one / f"events_{split}.tsv").read_text() != (three / f"events_{split}.tsv").read_text()
    assert (one / "scenes/test/00000.wav").read_bytes() == (two / "scenes/test/00000.wav").read_bytes()
