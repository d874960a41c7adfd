"""The command line: `audiojax` and `python -m audiojax`, the demo, data build and check."""

import re
import subprocess
import sys
from pathlib import Path

import audiojax

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "audiojax", *args], cwd=ROOT, capture_output=True,
                          text=True, **kw)


def test_help_lists_the_subcommands_and_every_task_command():
    from audiojax.tasks import all_commands

    out = _run("--help")
    assert out.returncode == 0
    listed = set(re.findall(r"^    (\S+)", out.stdout, re.M))
    assert {"demo", "train", "evaluate", "sweep", "report", "data"} <= listed
    assert set(all_commands()) == {"predict", "listen", "export", "transcribe", "lm", "generate",
                                   "embed", "verify", "enhance", "separate", "tag"} <= listed


def test_demo_writes_audio_and_a_plot_that_agrees_with_librosa(tmp_path):
    out = _run("demo", "--out", str(tmp_path), "--text", "seven")
    assert out.returncode == 0, out.stderr
    y, sr = audiojax.load(tmp_path / "speech.wav")
    assert sr == 16000 and 0.2 < len(y) / sr < 3
    assert (tmp_path / "features.png").stat().st_size > 10_000
    mel_db, mfcc = map(float, re.search(r"log-mel ([\d.e+-]+) dB, MFCC ([\d.e+-]+)", out.stdout).groups())
    assert mel_db < 1e-2 and mfcc < 1e-2


def test_data_build_and_check(tmp_path):
    out = _run("data", "build", "commands", "--size", "tiny", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert re.search(r"train\s+\d+\s+\d+", out.stdout)  # the summary table
    ok = _run("data", "check", str(tmp_path / "commands_tiny" / "train.tsv"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "commands_tiny" / "bad.tsv"
    bad.write_text("missing.wav\tyes\nno-tab-here\n")
    out = _run("data", "check", str(bad))
    assert out.returncode == 1
    assert f"{bad}:1: missing.wav: file not found" in out.stdout
    assert f"{bad}:2: malformed line" in out.stdout
