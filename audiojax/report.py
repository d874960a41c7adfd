"""``audiojax report DIR``: one table and a few plots for every run of a sweep (or any folder of
run workdirs).

Writes ``DIR/report.csv`` and ``DIR/report.md`` (one row per configuration: its factors, the
number of seeds, mean and standard deviation over seeds of the final and best validation
metric and of every ``eval_*.json`` metric, steps, wall time, training examples/s), and
``DIR/report_metric.png`` (the metric per factor level, error bars = std over runs) and
``DIR/report_curves.png`` (the validation curves of every run, overlaid).

Factors are the overrides of a sweep's runs (``sweep_run.json``) other than ``seed``, plus the
experiment file when runs differ in it; for a plain folder, the config keys that differ
between runs (``seed`` aside).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from audiojax.sweep import RUN_FILE, run_workdirs  # noqa: E402
from audiojax.train.loop import read_run_config  # noqa: E402
from audiojax.train.metrics_log import read_metrics  # noqa: E402

IGNORED_KEYS = {"seed", "experiment", "data.data_dir"}  # never factors


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _experiment_name(config: dict) -> str:
    """``path/to/kws_seed_cnn.py:small`` -> ``kws_seed_cnn:small``."""
    path, sep, variant = str(config.get("experiment", "")).partition(":")
    return Path(path).stem + sep + variant


def read_run(workdir: Path, metric: str | None = None) -> dict:
    """One run's numbers: ``{"name", "config", "seed", "overrides", "steps", "final", "best",
    "evals": {split: value}, "wall_seconds", "examples_per_second", "curve": [(step, value)]}``.

    ``final``/``best``: the last and the best (by ``best_mode``) value of ``metric``
    (``EVALUATOR/METRIC`` or a metric of the evaluator ranking checkpoints; default the run's
    ``best_metric``) over that evaluator's records in ``metrics.jsonl``.
    """
    config = read_run_config(workdir).to_dict()
    best_evaluator, _, best = config["best_metric"].partition("/")
    if metric and "/" in metric:
        split, metric = metric.split("/", 1)
    else:
        split, metric = best_evaluator, metric or best
    records = read_metrics(workdir)
    curve = [(r["step"], r[metric]) for r in records if r["split"] == split and metric in r]
    values = [v for _, v in curve]
    pick = min if config["best_mode"] == "min" else max
    train = [r for r in records if r["split"] == "train" and "examples_per_second" in r]
    # The first window includes compilation: not throughput.
    speeds = [r["examples_per_second"] for r in (train[1:] or train)]
    sweep_file = workdir / RUN_FILE
    spec = json.loads(sweep_file.read_text()) if sweep_file.exists() else None
    if spec and spec.get("attempts"):
        wall = sum(a["seconds"] for a in spec["attempts"])
    else:
        times = [r["time"] for r in records]
        wall = max(times) - min(times) if times else float("nan")
    evals = {}
    for path in sorted(workdir.glob("eval_*.json")):
        data = json.loads(path.read_text())
        if metric in data:
            evals[path.stem.removeprefix("eval_")] = float(data[metric])
    return {"name": workdir.name, "workdir": workdir, "config": config, "metric": metric,
            "seed": config.get("seed"), "overrides": spec["overrides"] if spec else None,
            "experiment": _experiment_name(config),
            "steps": max((r["step"] for r in records), default=0),
            "final": values[-1] if values else float("nan"),
            "best": pick(values) if values else float("nan"),
            "evals": evals, "wall_seconds": wall,
            "examples_per_second": float(np.mean(speeds)) if speeds else float("nan"),
            "curve": curve}


def factors_of(runs: list[dict]) -> list[str]:
    """Factor names (see the module docstring); each run gets ``run["factors"]`` filled in."""
    if all(r["overrides"] is not None for r in runs):
        per_run = [{k: _text(v) for k, v in r["overrides"].items() if k not in IGNORED_KEYS}
                   for r in runs]
        if len({r["experiment"] for r in runs}) > 1:
            for r, f in zip(runs, per_run):
                f["experiment"] = r["experiment"]
    else:
        flat = [{k: _text(v) for k, v in _flatten(r["config"]).items() if k not in IGNORED_KEYS}
                for r in runs]
        keys = set().union(*flat)
        varying = sorted(k for k in keys if len({f.get(k) for f in flat}) > 1)
        per_run = [{k: f.get(k, "") for k in varying} for f in flat]
    names = sorted(set().union(*per_run), key=lambda k: (k != "experiment", k))
    for r, f in zip(runs, per_run):
        r["factors"] = {k: f.get(k, "-") for k in names}
    return names


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, float)
    if not len(a):
        return float("nan"), float("nan")
    return float(np.mean(a)), float(np.std(a, ddof=1)) if len(a) > 1 else 0.0


def summarize(runs: list[dict]) -> tuple[list[str], list[dict]]:
    """Factor names and one row per configuration (runs with equal factors), in first-seen order."""
    names = factors_of(runs)
    groups: dict = {}
    for r in runs:
        groups.setdefault(tuple(r["factors"].values()), []).append(r)
    metric = runs[0]["metric"]
    splits = sorted(set().union(*(r["evals"] for r in runs)))
    rows = []
    for key, members in groups.items():
        row = dict(zip(names, key))
        row["configuration"] = ", ".join(f"{k}={v}" for k, v in zip(names, key)) or "all"
        row["runs"] = len(members)
        row["seeds"] = " ".join(str(m["seed"]) for m in members)
        for what in ("final", "best"):
            row[f"{what}_{metric}"], row[f"{what}_{metric}_std"] = _mean_std([m[what] for m in members])
        for split in splits:
            row[f"{split}_{metric}"], row[f"{split}_{metric}_std"] = _mean_std(
                [m["evals"][split] for m in members if split in m["evals"]])
        row["steps"] = float(np.mean([m["steps"] for m in members]))
        row["wall_minutes"] = float(np.mean([m["wall_seconds"] for m in members])) / 60
        row["examples_per_second"] = float(np.mean([m["examples_per_second"] for m in members]))
        row["members"] = members
        rows.append(row)
    return names, rows


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _columns(names: list[str], rows: list[dict]) -> list[str]:
    return names + ["runs", "seeds"] + [k for k in rows[0] if k not in names and k not in
                                        ("configuration", "runs", "seeds", "members")]


def write_csv(path: Path, names: list[str], rows: list[dict]) -> None:
    cols = _columns(names, rows)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([row[c] if not isinstance(row[c], float) else repr(row[c]) for c in cols])


def write_markdown(path: Path, names: list[str], rows: list[dict], title: str) -> None:
    metric = rows[0]["members"][0]["metric"]
    value_cols = [c for c in _columns(names, rows)[len(names) + 2:] if not c.endswith("_std")]
    head = names + ["runs"] + value_cols
    lines = [f"# {title}", "",
             f"Mean ± standard deviation over runs (seeds) of `{metric}`; final and best on "
             "the validation split, others from each run's `eval_*.json`.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(names) + "---:|" * (len(head) - len(names))]
    for row in rows:
        cells = [row[n] for n in names] + [str(row["runs"])]
        for c in value_cols:
            std = row.get(f"{c}_std")
            cells.append(_fmt(row[c]) + (f" ± {_fmt(std)}" if std is not None and row["runs"] > 1
                                         and not math.isnan(row[c]) else ""))
        lines.append("| " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def plot_metric(path: Path, names: list[str], runs: list[dict], rows: list[dict]) -> None:
    """One panel per factor (every configuration when there is one factor or none): the final
    validation metric per level, mean ± std over the runs at that level."""
    metric = runs[0]["metric"]
    panels = [("configuration", [("\n".join(r[n] for n in names) or "all", [m["final"] for m in r["members"]])
                                 for r in rows])]
    if len(names) > 1:
        for name in names:
            levels: dict = {}
            for r in runs:
                levels.setdefault(r["factors"][name], []).append(r["final"])
            if len(levels) > 1:
                panels.append((name, list(levels.items())))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.0, 1.4 * len(rows)) + 4 * (len(panels) - 1), 4.2),
                             constrained_layout=True, squeeze=False)
    for ax, (title, levels) in zip(axes[0], panels):
        labels = [str(level) for level, _ in levels]
        means = [np.mean(v) for _, v in levels]
        stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for _, v in levels]
        x = np.arange(len(levels))
        ax.bar(x, means, yerr=stds, capsize=5, color="C0", alpha=0.75)
        for i, (_, values) in enumerate(levels):
            ax.plot([i] * len(values), values, "k.", ms=6)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set(title=title, ylabel=f"final validation {metric}")
        ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


LEGEND_CHARS = 60  # past this, a configuration's factors name its curves less well than its folder


def curve_label(row: dict, member: dict) -> str:
    """A run's legend entry: its configuration's factors and seed, or, where those are too long
    to read (a plain folder of runs differing in many keys), its workdir's name."""
    if len(row["configuration"]) > LEGEND_CHARS:
        return member["name"]
    return f"{row['configuration']} (seed {member['seed']})"


def plot_curves(path: Path, rows: list[dict]) -> None:
    """Validation metric against step for every run: one colour per configuration."""
    metric = rows[0]["members"][0]["metric"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    for i, row in enumerate(rows):
        for j, m in enumerate(row["members"]):
            if m["curve"]:
                steps, values = zip(*m["curve"])
                ax.plot(steps, values, color=f"C{i % 10}", ls=("-", "--", ":", "-.")[j % 4],
                        marker="o", ms=3, label=curve_label(row, m))
    ax.set(xlabel="step", ylabel=f"validation {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(folder: str | os.PathLike, metric: str | None = None) -> list[Path]:
    """Collects every run under ``folder``; writes the CSV, Markdown and PNGs; returns their paths."""
    folder = Path(folder)
    workdirs = run_workdirs(folder)
    runs = [read_run(w, metric) for w in workdirs]
    names, rows = summarize(runs)
    out = [folder / "report.csv", folder / "report.md", folder / "report_metric.png",
           folder / "report_curves.png"]
    write_csv(out[0], names, rows)
    write_markdown(out[1], names, rows, title=f"Report of {folder.name} ({len(runs)} runs)")
    plot_metric(out[2], names, runs, rows)
    plot_curves(out[3], rows)
    return out
