"""`audiojax data check`: every bad-input case produces its message with line and path."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf

import audiojax
from audiojax.data.check import Problem, check_manifest, run_check


@pytest.fixture(scope="module")
def bad_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    tone = (0.3 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    audiojax.save(root / "good.wav", tone, 16000)
    audiojax.save(root / "stereo.wav", np.stack([tone, tone]), 16000)
    audiojax.save(root / "trunc.wav", tone, 16000)
    (root / "trunc.wav").write_bytes((root / "trunc.wav").read_bytes()[:1044])
    (root / "corrupt.wav").write_bytes(b"this is not audio at all" * 20)
    (root / "zero.wav").write_bytes(b"")
    sf.write(root / "empty.wav", np.zeros(0, np.float32), 16000, subtype="PCM_16")
    nan = tone.copy()
    nan[100] = np.nan
    nan[200] = np.inf
    sf.write(root / "nan.wav", nan, 16000, subtype="FLOAT")  # 16-bit PCM cannot hold NaN
    lines = [
        "good.wav\tyes",          # 1
        "missing.wav\tyes",       # 2
        "corrupt.wav\tno",        # 3
        "trunc.wav\tno",          # 4
        "",                       # 5 blank: allowed
        "empty.wav\tyes",         # 6
        "nan.wav\tyes",           # 7
        "stereo.wav\tno",         # 8
        "good.wav\tmaybe\tbob",   # 9
        "good.wav",               # 10
        "zero.wav\tyes",          # 11
    ]
    manifest = root / "train.tsv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


EXPECTED = [
    (2, "missing.wav", "file not found"),
    (3, "corrupt.wav", "cannot decode audio ("),
    (4, "trunc.wav", "truncated: data chunk announces 32000 bytes, file holds 1000"),
    (6, "empty.wav", "empty audio (0 samples)"),
    (7, "nan.wav", "2 non-finite (NaN/Inf) samples"),
    (8, "stereo.wav", "wrong channel count: 2 channels, expected 1"),
    (9, "good.wav", "unknown label 'maybe' (not among the 2 labels)"),
    (10, "", "malformed line: expected path<TAB>label[<TAB>speaker], got 1 column (no tab)"),
    (11, "zero.wav", "empty file (0 bytes)"),
]


def test_every_problem_with_line_and_path(bad_manifest):
    problems = check_manifest(bad_manifest, labels=["yes", "no"], progress=False)
    assert len(problems) == len(EXPECTED)
    for p, (line, path, message) in zip(problems, EXPECTED):
        assert (p.manifest, p.line, p.path) == (str(bad_manifest), line, path)
        assert p.message.startswith(message), (p, message)
    assert str(problems[3]) == f"{bad_manifest}:6: empty.wav: empty audio (0 samples)"
    assert str(problems[7]) == (f"{bad_manifest}:10: malformed line: expected path<TAB>label[<TAB>speaker], "
                                "got 1 column (no tab)")


def test_labels_and_channels_checked_only_when_asked(bad_manifest):
    problems = check_manifest(bad_manifest, labels=None, expect_channels=None, progress=False)
    assert [p.line for p in problems] == [2, 3, 4, 6, 7, 10, 11]


def test_run_check_prints_and_fails(bad_manifest, capsys):
    out = io.StringIO()
    assert run_check(bad_manifest, labels=["yes", "no"], progress=False, out=out) == 1
    printed = out.getvalue().splitlines()
    assert len(printed) == len(EXPECTED)
    for text, (line, path, message) in zip(printed, EXPECTED):
        assert text.startswith(str(Problem(str(bad_manifest), line, path, message)))
    assert printed[0] == f"{bad_manifest}:2: missing.wav: file not found"
    assert "9 problem(s) on 9 line(s)" in capsys.readouterr().err


def test_run_check_clean_manifest_and_info_json_labels(tmp_path, clip_corpus, capsys):
    m = clip_corpus["manifest"]
    assert run_check(m, progress=False, out=io.StringIO()) == 0
    assert "OK" in capsys.readouterr().err
    # labels from an info.json next to the manifest
    (tmp_path / "info.json").write_text(json.dumps({"labels": ["no", "yes"]}))
    lines = [f"{clip_corpus['dir'] / rel}\t{label}" for rel, label, _, _ in clip_corpus["clips"][:3]]
    (tmp_path / "val.tsv").write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    assert run_check(tmp_path / "val.tsv", progress=False, out=out) == 1
    assert out.getvalue() == (f"{tmp_path / 'val.tsv'}:2: {clip_corpus['dir'] / 'wav/clip01.wav'}: "
                              "unknown label 'up' (not among the 2 labels)\n")
    assert run_check(tmp_path / "nope.tsv", progress=False, out=io.StringIO()) == 2


def test_manifests_with_the_columns_a_task_declares(tmp_path):
    """A two-waveform manifest (an enhancement task's ``mixture<TAB>clean``): every audio column
    is decoded, and files of one line must agree in rate and length."""
    from audiojax.data.manifest import Column, describe, write_manifest
    from audiojax.data.sources import ManifestSource

    columns = (Column("audio", "audio", title="mixture"), Column("clean", "audio"),
               Column("speaker", optional=True))
    assert describe(columns) == "mixture<TAB>clean[<TAB>speaker]"
    tone = (0.3 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    audiojax.save(tmp_path / "mix.wav", tone, 16000)
    audiojax.save(tmp_path / "clean.wav", 0.5 * tone, 16000)
    audiojax.save(tmp_path / "short.wav", tone[:7000], 16000)
    audiojax.save(tmp_path / "slow.wav", tone, 8000)
    manifest = tmp_path / "m.tsv"
    write_manifest(manifest, [(tmp_path / "mix.wav", tmp_path / "clean.wav", "s1"),
                              ("mix.wav", "short.wav"), ("mix.wav", "slow.wav"), ("mix.wav", "gone.wav")],
                   columns=columns)
    manifest.write_text(manifest.read_text() + "mix.wav\n")
    assert manifest.read_text().splitlines()[0] == "mix.wav\tclean.wav\ts1"  # relative paths
    problems = [str(p) for p in check_manifest(manifest, progress=False, columns=columns)]
    assert problems == [
        f"{manifest}:2: clean short.wav: 7000 samples at 16000 Hz, but audio has 8000 at 16000 Hz",
        f"{manifest}:3: clean slow.wav: 8000 samples at 8000 Hz, but audio has 8000 at 16000 Hz",
        f"{manifest}:4: clean gone.wav: file not found",
        f"{manifest}:5: malformed line: expected mixture<TAB>clean[<TAB>speaker], got 1 column (no tab)",
    ]
    source = ManifestSource(manifest, columns=columns, skip_malformed=True)
    assert source.signals.keys() == {"clean"} and len(source) == 4
    assert source[0]["clean"] == str(tmp_path / "clean.wav") and source[0]["speaker"] == "s1"
    assert source.malformed == [problems[-1]]
