"""`audiojax report`: the table's numbers are the runs' own (metrics.jsonl, eval_*.json,
sweep_run.json), grouped over seeds; a plain folder of workdirs works too."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiojax.report import report

ROOT = Path(__file__).resolve().parents[1]


def _fake_run(folder: Path, frontend: str, seed: int, rng, sweep: bool = True) -> dict:
    """A workdir as the trainer and the sweep leave it, with seeded random numbers."""
    name = f"kws_logmel_cnn__model.frontend={frontend}__seed={seed}"
    workdir = folder / name
    workdir.mkdir(parents=True)
    config = {"experiment": "experiments/kws_logmel_cnn.py:small", "seed": seed,
              "model": {"name": "logmel_cnn", "frontend": frontend}, "best_metric": "accuracy",
              "best_mode": "max", "eval_split": "validation", "batch_size": 64}
    (workdir / "config.json").write_text(json.dumps(config))
    acc = rng.uniform(0, 1, 4).tolist()
    speed = rng.uniform(10, 100, 3).tolist()
    records = [{"step": 100 * (i + 1), "split": "train", "time": 1000.0 + i, "loss": 1.0,
                "examples_per_second": speed[i]} for i in range(3)]
    records += [{"step": 100 * (i + 1), "split": "validation", "time": 1000.5 + i, "loss": 2.0,
                 "accuracy": a} for i, a in enumerate(acc)]
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    test = float(rng.uniform(0, 1))
    (workdir / "eval_test.json").write_text(json.dumps({"accuracy": test, "loss": 1.5}))
    attempts = rng.uniform(60, 600, 2).tolist()
    if sweep:
        (workdir / "sweep_run.json").write_text(json.dumps({
            "config": config["experiment"], "overrides": {"model.frontend": frontend, "seed": seed},
            "attempts": [{"seconds": s, "returncode": 0} for s in attempts]}))
    return {"final": acc[-1], "best": max(acc), "test": test, "steps": 400,
            "wall": sum(attempts) if sweep else 3.5, "speed": np.mean(speed[1:])}


@pytest.mark.parametrize("sweep", [True, False])
def test_report_rows_are_the_runs_own_numbers_over_seeds(tmp_path, sweep):
    rng = np.random.default_rng(0)
    truth = {f: [_fake_run(tmp_path, f, s, rng, sweep) for s in (0, 1, 2)] for f in ("logmel", "mfcc")}
    paths = report(tmp_path)
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert [r["model.frontend"] for r in rows] == ["logmel", "mfcc"]
    for row in rows:
        runs = truth[row["model.frontend"]]
        assert row["runs"] == "3" and row["seeds"] == "0 1 2"
        for col, key in (("final_accuracy", "final"), ("best_accuracy", "best"), ("test_accuracy", "test")):
            values = [r[key] for r in runs]
            assert float(row[col]) == pytest.approx(np.mean(values), rel=1e-12)
            assert float(row[col + "_std"]) == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        assert float(row["steps"]) == 400
        assert float(row["wall_minutes"]) == pytest.approx(np.mean([r["wall"] for r in runs]) / 60)
        assert float(row["examples_per_second"]) == pytest.approx(np.mean([r["speed"] for r in runs]))
    md = (tmp_path / "report.md").read_text()
    logmel = truth["logmel"]
    mean, std = np.mean([r["final"] for r in logmel]), np.std([r["final"] for r in logmel], ddof=1)
    assert f"| logmel | 3 | {mean:.4g} ± {std:.4g} |" in md
    for png in paths[2:]:
        assert png.stat().st_size > 5000


def test_report_cli_names_a_folder_without_runs(tmp_path):
    out = subprocess.run([sys.executable, "-m", "audiojax", "report", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert f"audiojax report: error: {tmp_path}: no run workdirs in it" in out.stderr


def test_curves_are_named_by_folder_when_the_factors_are_too_long_to_read():
    from audiojax.report import LEGEND_CHARS, curve_label

    member = {"name": "asr_large_9k", "seed": 0}
    assert curve_label({"configuration": "model.frontend=mfcc"}, member) \
        == "model.frontend=mfcc (seed 0)"
    long = ", ".join(f"key{i}=value{i}" for i in range(10))
    assert len(long) > LEGEND_CHARS and curve_label({"configuration": long}, member) == "asr_large_9k"


def test_learning_curves_plot_every_metric_the_evaluators_report(tmp_path, monkeypatch):
    from audiojax import plots

    panels = []
    monkeypatch.setattr(plots.plt.Axes, "set", lambda ax, **kw: panels.append(kw.get("ylabel")) or None,
                        raising=False)
    records = [{"step": s, "split": "train", "time": 0.0, "loss": 2.0 / s, "nll_bits_per_sample": 8.0,
                "grad_norm": 1.0, "learning_rate": 1e-3} for s in (1, 2)]
    records += [{"step": 2, "split": "validation", "time": 0.0, "loss": 1.5, "count": 4.0,
                 "nll_bits_per_sample": 7.0, "cer": 0.5},
                {"step": 2, "split": "mine", "time": 0.0, "loss": 1.2, "count": 2.0, "accuracy": 0.5}]
    plots.learning_curves_png(tmp_path / "c.png", records)
    assert panels == ["loss", "accuracy", "cer", "nll_bits_per_sample"]
    assert (tmp_path / "c.png").stat().st_size > 1000
