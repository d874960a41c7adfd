"""Experiment configs: ``experiments/NAME.py[:VARIANT]`` files with ``get_config(variant)``.

Overrides follow the flax examples' ``--config.KEY=VALUE`` syntax (dotted keys, Python
literals); a value is parsed as a literal when it can be, else taken as a string, and
ConfigDict's type checking rejects a value of the wrong type for its key. Only declared keys
can be set: a key that no component reads is an error naming it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from types import ModuleType

import ml_collections


def load_module(path: str | Path, what: str = "--config") -> ModuleType:
    """The Python file ``path`` run as a module (experiment, sweep and launch files are files,
    not packages). ``what`` names the option in the error for a missing file."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{what}: no such file {str(path)!r}")
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:10]
    name = f"audiojax_file_{file.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return module


def import_object(path: str, what: str):
    """``package.module:attribute`` -> the attribute; ``what`` names the option in errors."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{what}: {path!r} is not a dotted path 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise ValueError(f"{what}: cannot import {module_name!r} ({e})") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"{what}: module {module_name!r} has no {attribute!r}") from None


def load_config(spec: str, overrides: list[str] | tuple[str, ...] = ()) -> ml_collections.ConfigDict:
    """``spec`` = ``path/to/file.py`` or ``path/to/file.py:variant``; overrides ``KEY=VALUE``."""
    path, _, variant = spec.partition(":")
    if not Path(path).is_file():
        raise ValueError(f"--config: no such experiment file {path!r}")
    module = load_module(path)
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
        if name not in node or not isinstance(node[name], ml_collections.ConfigDict):
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


def read_json(path: str | Path, what: str) -> dict:
    """A JSON file's object; ValueError naming the file when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg}, line {e.lineno}); is it a {what}?") from None
