"""The shape of the code: layers import downwards only, tasks are packages found by name, and a
task, model, source and command written outside audiojax train, resume, evaluate and run with
the unchanged trainer and CLI."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "audiojax"

# Lower layers never import higher ones.
LAYERS = [
    ("audiojax", "audiojax.audio", "audiojax.plots", "audiojax.config", "audiojax.windows",
     "audiojax.masking", "audiojax.frontends"),
    ("audiojax.data", "audiojax.models"),
    ("audiojax.tasks",),
    ("audiojax.evaluators",),
    ("audiojax.train",),
    ("audiojax.runs", "audiojax.evaluate", "audiojax.sweep", "audiojax.report", "audiojax.demo",
     "audiojax.cli", "audiojax.__main__"),
]


def _layer(module: str) -> int:
    """The layer of ``module``: that of its longest listed prefix."""
    best, layer = "", None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, layer = name, i
    assert layer is not None, f"{module} is in no layer"
    return layer


def _imports(path: Path, module: str) -> set[str]:
    """Every audiojax module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[:-node.level] if path.name != "__init__.py" else \
                    module.split(".")[:len(module.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m == "audiojax" or m.startswith("audiojax.")}


def test_layers_import_downwards_only():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for imported in _imports(path, module):
            if _layer(imported) > _layer(module):
                wrong.append(f"{module} (layer {_layer(module)}) imports {imported} "
                             f"(layer {_layer(imported)})")
    assert not wrong, "\n".join(wrong)


def test_every_task_is_a_package_found_by_name_with_light_commands():
    """Each folder under audiojax/tasks is a task: its Task class by name, its commands and
    options declared without importing jax (the CLI builds its parser from them)."""
    from audiojax.tasks import all_commands, builtin_tasks, task_class
    from audiojax.tasks.base import Task

    folders = sorted(p.name for p in (PACKAGE / "tasks").iterdir() if (p / "__init__.py").is_file())
    assert builtin_tasks() == folders == ["asr", "classification", "enhancement", "generation",
                                         "sed", "separation", "speaker"]
    for name in folders:
        assert issubclass(task_class(name), Task)
    assert {c.task for commands in all_commands().values() for c in commands} == set(folders)
    code = ("import sys, audiojax.cli; audiojax.cli.build_parser(); "
            "print(sorted(m for m in ('jax', 'flax', 'optax', 'grain') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
    with pytest.raises(ValueError, match="config.task: unknown 'nope'; known: asr, classification, enhancement, generation, sed, separation, speaker"):
        task_class("nope")
    with pytest.raises(ValueError, match="is not a subclass of audiojax.tasks.base.Task"):
        task_class("audiojax.tasks.base:per_group_rows")


def _entry_point(folder: Path) -> Path:
    """A ``dist-info`` that registers the toy command in the ``audiojax.commands`` group (what
    ``pip install`` of a package declaring that entry point leaves)."""
    info = folder / "toy_audiojax-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-audiojax\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[audiojax.commands]\ntoy = toy_task:COMMANDS\n")
    return folder


def _toy_cli(args, env_dir: Path, **popen):
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
               PYTHONPATH=f"{ROOT / 'tests'}{os.pathsep}{env_dir}",
               **popen.pop("env", {}))
    cmd = [sys.executable, "-m", "audiojax", *map(str, args)]
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, **popen)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_a_task_model_and_command_from_outside_audiojax(tmp_path, checkpoints):
    from audiojax.train.loop import SIGNAL_AT_STEP

    mentions = [str(p) for p in PACKAGE.rglob("*.py") if "toy" in p.read_text().lower()]
    assert not mentions  # nothing in audiojax knows of it
    env_dir = _entry_point(tmp_path / "site")
    train = ["train", "--config", "tests/toy_task.py"]
    out = _toy_cli([*train, "--workdir", tmp_path / "whole"], env_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert config["task"] == "toy_task:ToyTask" and config["model"] == {
        "name": "toy_task:TinyNet", "hidden": 16, "frame": 256}
    # Killed after step 5 (step 3 saved), then resumed: the parameters of the whole run.
    proc = _toy_cli([*train, "--workdir", tmp_path / "killed"], env_dir,
                    env={SIGNAL_AT_STEP: "5:KILL"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=600) == -signal.SIGKILL
    out = _toy_cli([*train, "--workdir", tmp_path / "killed"], env_dir)
    assert out.returncode == 0 and "resuming" in out.stdout, out.stderr[-3000:]
    checkpoints.assert_same(checkpoints.params(tmp_path / "whole", 12),
                            checkpoints.params(tmp_path / "killed", 12), rtol=0, atol=0)

    # Evaluated by the unchanged CLI; its own command (an entry point) scores the same tones
    # with its own batching: the same accuracy.
    out = _toy_cli(["evaluate", "--workdir", tmp_path / "whole", "--split", "test",
                    "--checkpoint", "latest"], env_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "whole" / "eval_test.json").read_text())
    assert metrics["count"] == 24
    out = _toy_cli(["toyscore", "--workdir", tmp_path / "whole", "--checkpoint", "latest"], env_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    hits = int(out.stdout.split()[1].split("/")[0])
    assert metrics["accuracy"] == pytest.approx(hits / 24)
    assert "toyscore" in _toy_cli(["--help"], env_dir).stdout
    out = _toy_cli(["predict", "--workdir", tmp_path / "whole", "x.wav"], env_dir)
    assert out.returncode == 2
    assert ("`audiojax predict` is for classification runs, not a toy_task:ToyTask run (its "
            "commands: toyscore)") in out.stderr


def test_the_trainer_in_process_on_the_toy_task(tmp_path, monkeypatch):
    """No speech synthesizer: 12 steps of the toy task in this process. It learns; the logs
    carry the learning rate (the schedule's, recomputed here), the norms and the throughput;
    a second evaluator named in the config runs at its own cadence."""
    import numpy as np

    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    import toy_task
    from audiojax.evaluators import evaluator
    from audiojax.train.loop import train_and_evaluate
    from audiojax.train.metrics_log import read_metrics

    config = toy_task.get_config()
    config.schedule, config.warmup_steps = "cosine", 4
    config.evals.tones = evaluator("test", every_steps=4)
    val = train_and_evaluate(config, tmp_path / "run")
    records = read_metrics(tmp_path / "run")
    train = [r for r in records if r["split"] == "train"]
    assert train[-1]["loss"] < train[0]["loss"]
    previous = 0
    for r in train:  # the mean over the steps since the previous record (step k's update uses lr(k - 1))
        rates = [_warmup_cosine(s - 1, 0.01, 4, 12) for s in range(previous + 1, r["step"] + 1)]
        assert r["learning_rate"] == pytest.approx(np.mean(rates), rel=1e-5, abs=1e-9)
        previous = r["step"]
        assert r["grad_norm"] > 0 and r["param_norm"] > 0 and r["update_norm"] > 0
        assert r["audio_seconds_per_second"] > 0
    assert [r["step"] for r in records if r["split"] == "tones"] == [4, 8, 12]
    assert [r["step"] for r in records if r["split"] == "validation"] == [3, 6, 9, 12]
    assert val["count"] == 24 and 0 <= val["accuracy"] <= 1


def _warmup_cosine(step: int, peak: float, warmup: int, total: int) -> float:
    """A linear warm-up from 0 to ``peak`` over ``warmup`` steps, then a half cosine to 0 at
    ``total``: the schedule written out."""
    if step < warmup:
        return peak * step / warmup
    import math

    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
