"""The styles corpus: scores of music21's corpus rendered from sound fonts (here SoundFont 2
files of looped waveforms written by the test): splits by piece, the held-out font in test
only, excerpts that play the score's notes at the drawn tempo, deterministic builds."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from audiojax.data.corpora import instruments as I
from audiojax.data.corpora import styles as S
from sound_fixtures import harmonics, write_sf2

PROGRAMS = (0, 24, 40, 73)
SOURCES = {"chorale": S.SOURCES["chorale"], "reel": S.SOURCES["reel"], "jig": S.SOURCES["jig"]}


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fonts")
    for name, seed in (("test", 0), ("train", 1)):
        rng = np.random.default_rng(seed)
        write_sf2(folder / f"{name}.sf2", {p: harmonics(1, *rng.uniform(0, 0.5, 3)) for p in PROGRAMS})
    return (I.Font("pkg-test", str(folder / "test.sf2"), "GPL-2", "test"),
            I.Font("pkg-train", str(folder / "train.sf2"), "MIT", "train"))


def _build(root: Path, fonts, seed=0) -> dict:
    root.mkdir()
    return S.write_corpus("tiny", seed, root, progress=False, fonts=fonts, programs=PROGRAMS,
                          sources=SOURCES)


def test_splits_by_piece_held_out_font_and_determinism(tmp_path, fonts):
    info = _build(tmp_path / "a", fonts)
    rows = [json.loads(line) for line in (tmp_path / "a" / "clips.jsonl").read_text().splitlines()]
    pieces = {split: {r["piece"] for r in rows if r["split"] == split}
              for split in ("train", "validation", "test")}
    assert all(pieces.values()) and not (pieces["train"] & pieces["test"]) \
        and not (pieces["train"] & pieces["validation"]) and not (pieces["validation"] & pieces["test"])
    assert {r["font"] for r in rows if r["split"] == "test"} == {"pkg-test"}
    assert {r["font"] for r in rows if r["split"] != "test"} == {"pkg-train"}
    assert info["labels"] == list(SOURCES) and {r["label"] for r in rows} == set(SOURCES)
    assert all(set(r["programs"].values()) <= set(PROGRAMS) for r in rows)
    lines = [line.split("\t") for line in (tmp_path / "a" / "test.tsv").read_text().splitlines()]
    assert [(label, piece) for _, label, piece in lines] == [
        (r["label"], str(Path(r["piece"]).with_suffix(""))) for r in rows if r["split"] == "test"]

    def digest(root):
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*.wav")))).hexdigest()

    _build(tmp_path / "b", fonts)
    _build(tmp_path / "c", fonts, seed=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_an_excerpt_plays_the_score_at_its_tempo():
    """Onsets are the score's in quarter notes times 60 / tempo, from the drawn start, looped
    past the piece's end; pitches transposed; one channel per part, never the drum channel."""
    notes = [(0.0, 1.0, 60, 0), (1.0, 0.5, 64, 0), (1.5, 0.5, 67, 1), (2.0, 2.0, 48, 1)]
    programs, played, facts = S.excerpt(notes, 4.0, "reel", list(PROGRAMS), np.random.default_rng(3))
    spq = 60.0 / facts["tempo_qpm"]
    expected = sorted((round((on + 4.0 * r) * spq - facts["start_s"], 4), pitch + facts["transpose"])
                      for r in range(40) for on, _, pitch, _ in notes
                      if 0 <= (on + 4.0 * r) * spq - facts["start_s"] < S.EXCERPT_SECONDS)
    got = sorted((n["onset_s"], n["pitch"]) for n in played)
    assert len(got) == len(expected) > 10
    np.testing.assert_allclose([g[0] for g in got], [e[0] for e in expected], atol=2e-4)
    assert [g[1] for g in got] == [e[1] for e in expected]
    assert set(programs) == {0, 1} and set(programs.values()) <= set(PROGRAMS)
    assert S.TEMPI["reel"][0] <= facts["tempo_qpm"] <= S.TEMPI["reel"][1]
    assert abs(facts["transpose"]) <= S.TRANSPOSE
    many = [(0.0, 1.0, 60, p) for p in range(12)]
    programs, _, _ = S.excerpt(many, 1.0, "chorale", [0], np.random.default_rng(0))
    assert 9 not in programs and len(programs) == 12
