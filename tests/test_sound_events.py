"""The `events` corpus (audiojax/data/corpora/sound_events.py): built here from fake recordings
and tables in a temporary folder (the Debian packages of `make sounds` are not installed in CI),
and its checked-in tables checked for what the build relies on."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiojax.data.corpora import sound_events as se
from sound_fixtures import LABELS, fake_packages as _fake_packages, sound as _sound

ROOT = Path(__file__).resolve().parents[1]
SR = se.SAMPLE_RATE


def _read(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_full_build_folds_splits_and_clips(tmp_path):
    table, source_table, audio = _fake_packages(tmp_path / "pkgs")
    root = tmp_path / "events"
    root.mkdir()
    info = se.write_corpus("full", 0, root, progress=False, table=table,
                           source_table=source_table, labels=LABELS)
    clips = [json.loads(line) for line in (root / "clips.jsonl").read_text().splitlines()]
    # Every file once; the 12 s file as 2 distinct crops (it holds 2 whole 5 s segments).
    assert len(clips) == 5 * 3 * 3 + 1 and info["labels"] == list(LABELS)
    long = [c for c in clips if c["file"].endswith("pkg3/noise0.wav")]
    assert len(long) == 2 and long[0]["offset_s"] != long[1]["offset_s"]

    for c in clips:
        y, sr = sf.read(root / c["path"], dtype="float32")
        assert sr == SR and y.shape == (int(se.CLIP_SECONDS * SR),)
        peak_db = 20 * np.log10(np.abs(y).max())
        assert se.PEAK_DB[0] - 0.01 <= peak_db <= se.PEAK_DB[1] + 0.01
        assert peak_db == pytest.approx(c["peak_db"], abs=0.01)
        # The clip is the recording (silent ends trimmed) at its offset, scaled: correlation ~1.
        source = audio[c["file"]]
        loud = np.flatnonzero(np.abs(source) > 1e-3 * np.abs(source).max())
        source = source[loud[0]:loud[-1] + 1]
        n, at = y.size, int(round(c["offset_s"] * SR))
        if source.size <= n:
            piece, got = source, y[at:at + source.size]
            assert np.abs(np.delete(y, np.arange(at, at + source.size))).max() == 0.0
        else:
            piece, got = source[at:at + n], y
        assert np.corrcoef(piece, got)[0, 1] > 0.999

    # Folds by source; fold K's splits: test K, validation K+1, train the other three.
    fold_rows = {k: _read(root / f"fold{k}.tsv") for k in range(1, se.FOLDS + 1)}
    for k, rows in fold_rows.items():
        assert {r[2] for r in rows} == {f"src{k}"}
        assert {r[1] for r in rows} == set(LABELS)
    for k in range(1, se.FOLDS + 1):
        version = root / f"fold{k}"
        val = k % se.FOLDS + 1
        assert _read(version / "test.tsv") == [["../" + r[0], *r[1:]] for r in fold_rows[k]]
        assert _read(version / "validation.tsv") == [["../" + r[0], *r[1:]] for r in fold_rows[val]]
        train = {r[0] for r in _read(version / "train.tsv")}
        others = {"../" + r[0] for j, rows in fold_rows.items() if j not in (k, val) for r in rows}
        assert train == others
        assert json.loads((version / "info.json").read_text())["labels"] == list(LABELS)
        for split in ("train", "validation", "test"):
            assert all((version / r[0]).is_file() for r in _read(version / f"{split}.tsv"))
    assert _read(root / "test.tsv") == fold_rows[1]
    assert info["folds"]["3"]["clips"] == len(fold_rows[3]) == 10
    assert info["packages"]["pkg1"] == {"licence": ["GPL-2+"], "files": 9}


def test_sizes_take_spread_subsets_and_builds_repeat(tmp_path):
    table, source_table, _ = _fake_packages(tmp_path / "pkgs", n_per_source=5)
    entries = se.read_table(table, LABELS)
    small = se.select(entries, se.EventsSpec(per_source_label=3, crops=1))
    per_group = {}
    for e in small:
        per_group.setdefault((e.source, e.label), []).append(Path(e.path).name)
    # Three of each source's five files of a label, spread over them: the first, middle and last.
    assert all(sorted(v) == [f"{label}{i}.wav" for i in (0, 2, 4)]
               for (_, label), v in per_group.items())
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    kw = dict(progress=False, table=table, source_table=source_table, labels=LABELS)
    info_a = se.write_corpus("tiny", 0, a, **kw)
    info_b = se.write_corpus("tiny", 0, b, **kw)
    assert info_a["fingerprint"] == info_b["fingerprint"]
    assert (a / "clips.jsonl").read_bytes() == (b / "clips.jsonl").read_bytes()
    assert len(_read(a / "fold1.tsv")) == len(LABELS)   # tiny: one file per source and label


def _table(tmp_path, rows: list[str], sources: list[str] | None = None):
    table, source_table = tmp_path / "t.tsv", tmp_path / "s.tsv"
    table.write_text("\n".join(rows) + "\n")
    source_table.write_text("\n".join(sources or ["a\tpa\tGPL\t1", "b\tpb\tGPL\t2"]) + "\n")
    return table, source_table


@pytest.mark.parametrize("rows, sources, message", [
    (["pa\ta\t/x/1.wav\ttone", "pa\ta\t/x/2.wav\tsiren"], None, r"t.tsv:2: /x/2.wav: label 'siren'"),
    (["pa\ta\tx/1.wav\ttone"], None, r"t.tsv:1: x/1.wav: give the absolute path"),
    (["pa\ta\t/x/1.wav\ttone", "pb\tb\t/x/1.wav\ttone"], None, r"t.tsv:2: /x/1.wav is listed already at line 1"),
    (["pa\ta\t/x/1.wav"], None, r"t.tsv:1: expected 4 tab-separated columns, got 3"),
    (["pa\tc\t/x/1.wav\ttone"], None, r"t.tsv:1: source 'c' is not in the source table"),
    (["pb\ta\t/x/1.wav\ttone"], None, r"t.tsv:1: source 'a' belongs to package pa, not pb"),
    (["pa\ta\t/x/1.wav\ttone", "pb\tb\t/x/2.wav\tnoise"], None, r"labels heard in one fold only: noise, tone"),
    (["pa\ta\t/x/1.wav\ttone"], ["a\tpa\tGPL\t6"], r"s.tsv:1: fold '6' of a: must be 1..5"),
    (["pa\ta\t/x/1.wav\ttone"], ["a\tpa\tGPL\t1", "a\tpa\tGPL\t2"], r"s.tsv:2: source a is listed twice"),
])
def test_table_errors_name_the_line(tmp_path, rows, sources, message):
    table, source_table = _table(tmp_path, rows, sources)
    with pytest.raises(ValueError, match=message):
        se.write_corpus("full", 0, tmp_path, progress=False, table=table,
                        source_table=source_table, labels=LABELS)


def test_build_refuses_missing_packages_unreadable_and_repeated_sounds(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "s").mkdir()
    one, two, bad = (tmp_path / "s" / n for n in ("one.wav", "two.wav", "bad.ogg"))
    y = _sound("tone", 1.0, rng).astype(np.float32)
    sf.write(one, y, SR)
    sf.write(two, y, SR)             # the same sound under another name (another kit's copy)
    bad.write_bytes(b"RIFF not audio")
    root = tmp_path / "out"
    kw = dict(progress=False, labels=LABELS)
    table, sources = _table(tmp_path, [f"pa\ta\t{one}\ttone", f"pb\tb\t{two}\ttone"])
    root.mkdir()
    with pytest.raises(ValueError, match=r"t.tsv:2: .*two.wav holds the same sound as line 1"):
        se.write_corpus("full", 0, root, table=table, source_table=sources, **kw)
    table, sources = _table(tmp_path, [f"pa\ta\t{one}\ttone", f"pb\tb\t{bad}\ttone"])
    with pytest.raises(ValueError, match=r"t.tsv:2: .*bad.ogg cannot be read"):
        se.write_corpus("full", 0, tmp_path / "out2", table=table, source_table=sources, **kw)
    table, sources = _table(tmp_path, [f"pa\ta\t{one}\ttone", "pb\tb\t/nowhere/x.wav\ttone"])
    with pytest.raises(FileNotFoundError, match=r"files of packages not installed here: pb "
                                                r"\(install them: make sounds\)"):
        se.write_corpus("full", 0, tmp_path / "out3", table=table, source_table=sources, **kw)


def test_checked_in_tables_hold_together():
    entries = se.read_table()
    sources = se.read_sources()
    se.check_tables(entries, sources)
    assert {e.label for e in entries} == set(se.LABELS)
    assert {s for e in entries for s in [e.source]} == set(sources)
    # Nothing spoken, sung or voiced, by name (the review's rule), and no music folders.
    voiced = re.compile(r"speech|voice|vocal|vox|choir|sing|laugh|scream|yell|talk|/music/", re.I)
    assert not [e.path for e in entries if voiced.search(e.path)]
    # `make sounds` installs exactly the packages the table takes.
    makefile = (ROOT / "Makefile").read_text()
    block = re.search(r"^SOUND_PACKAGES := (.*?)(?<!\\)\n", makefile, re.S | re.M).group(1)
    assert set(block.replace("\\", " ").split()) == {e.package for e in entries}
    # Each label's files: every fold's test set has sources the other folds' training lacks.
    folds = {}
    for e in entries:
        folds.setdefault(e.label, set()).add(sources[e.source].fold)
    assert min(len(f) for f in folds.values()) >= 2


def test_events_experiment_tiny_end_to_end(tmp_path, capsys):
    """experiments/events_cnn.py:tiny trains on a fake events build; the test fold's mean
    average precision from the evaluator matches scikit-learn's on predict's probabilities;
    `audiojax tag --output` writes each file's top class as a manifest line."""
    from sklearn.metrics import average_precision_score

    from audiojax.config import load_config
    from audiojax.data import corpus_dir
    from audiojax.evaluate import evaluate
    from audiojax.runs import restore
    from audiojax.tasks.classification.predict import predict
    from audiojax.train.loop import train_and_evaluate

    table, source_table, _ = _fake_packages(tmp_path / "pkgs", n_per_source=2)
    data_dir = tmp_path / "data"
    root = corpus_dir(data_dir, "events", "tiny")
    root.mkdir(parents=True)
    info = se.write_corpus("tiny", 0, root, progress=False, table=table,
                           source_table=source_table, labels=LABELS)
    (root / "info.json").write_text(json.dumps(info))
    config = load_config(str(ROOT / "experiments" / "events_cnn.py") + ":tiny",
                         [f"data.data_dir={data_dir}"])
    assert config.data.source == "events/tiny/fold1" and config.mixup > 0
    workdir = tmp_path / "run"
    train_and_evaluate(config, workdir)
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    run = restore(workdir, "latest")
    assert run.labels == list(LABELS)
    lines = _read(root / "fold1" / "test.tsv")
    predictions = predict(run, [str(root / "fold1" / p) for p, *_ in lines], top_k=len(LABELS))
    probs = np.array([[dict(p.top)[label] for label in LABELS] for p in predictions])
    onehot = np.array([[label == c for c in LABELS] for _, label, *_ in lines])
    assert metrics["count"] == len(lines) == 3
    assert metrics["mean_average_precision"] == pytest.approx(
        average_precision_score(onehot, probs, average="macro"), abs=1e-6)

    from audiojax.cli import main

    out = tmp_path / "tags.tsv"
    files = [str(root / "fold1" / p) for p, *_ in lines]
    with pytest.raises(SystemExit) as done:
        main(["tag", "--workdir", str(workdir), "--checkpoint", "latest", "--output", str(out), *files])
    assert done.value.code == 0
    tops = [max(p.top, key=lambda t: t[1])[0] for p in predictions]
    assert _read(out) == [[str(Path(f).resolve().relative_to(tmp_path)), top]
                          for f, top in zip(files, tops)]
    assert capsys.readouterr().out.splitlines()[0].startswith(files[0] + "\t" + tops[0])
