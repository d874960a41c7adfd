"""Experiment configs: ``experiments/NAME.py[:VARIANT]`` files with ``get_config(variant)``.

Overrides follow the flax examples' ``--config.KEY=VALUE`` syntax (dotted keys, Python
literals); a value is parsed as a literal when it can be, else taken as a string, and
ConfigDict's type checking rejects a value of the wrong type for its key.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
from pathlib import Path

import ml_collections


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> ml_collections.ConfigDict:
    """``spec`` = ``path/to/file.py`` or ``path/to/file.py:variant``; overrides ``KEY=VALUE``."""
    path, _, variant = spec.partition(":")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--config: no such experiment file {path!r}")
    module_spec = importlib.util.spec_from_file_location(f"audiojax_experiment_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"--config: {path} defines no get_config()")
    takes_variant = bool(inspect.signature(module.get_config).parameters)
    if variant and not takes_variant:
        raise ValueError(f"--config: {path} has no variants, got {variant!r}")
    config = module.get_config(variant or None) if takes_variant else module.get_config()
    with config.unlocked():
        config.experiment = spec
    for item in overrides:
        apply_override(config, item)
    return config


def apply_override(config: ml_collections.ConfigDict, item: str) -> None:
    """Sets ``KEY=VALUE`` (KEY dotted, e.g. ``optimizer.learning_rate=1e-3``) in ``config``."""
    key, sep, raw = item.partition("=")
    key = key.removeprefix("--config.").removeprefix("config.")
    if not sep or not key:
        raise ValueError(f"config override {item!r}: expected KEY=VALUE")
    *parents, leaf = key.split(".")
    node = config
    for name in parents:
        if name not in node:
            raise ValueError(f"config override {item!r}: no key {name!r} in the config")
        node = node[name]
    if leaf not in node:
        raise ValueError(f"config override {item!r}: no key {leaf!r}; known: {sorted(node.keys())}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    current = node[leaf]
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    try:
        node[leaf] = value
    except TypeError as e:
        raise ValueError(f"config override {item!r}: {e}") from None


def save_config(config: ml_collections.ConfigDict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def read_config(path: str | Path) -> ml_collections.ConfigDict:
    """The config a run saved in its workdir (``config.json``)."""
    return ml_collections.ConfigDict(json.loads(Path(path).read_text()))
