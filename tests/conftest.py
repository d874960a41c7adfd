"""Shared fixtures: real speech synthesized in the test session (never committed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import audiojax

SPEECH_TEXTS = (
    "the quick brown fox jumps over the lazy dog",
    "seven",
    "audio signal processing with neural networks",
)


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> list[tuple[np.ndarray, int]]:
    """A few espeak-ng utterances as ``[(samples float32 (n,), sample_rate), ...]`` at 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: run the README's test command, which installs it")
    out = tmp_path_factory.mktemp("speech")
    clips = []
    for i, (text, voice) in enumerate(zip(SPEECH_TEXTS, ("en-us", "en-gb+f3", "en-us+m3"))):
        path = out / f"utt{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        clips.append(audiojax.load(path, sr=16000))
    return clips


# --- data pipeline fixtures (tests/test_sources.py, test_pipeline.py, test_check.py) ----------

CLIP_LABELS = ("no", "up", "yes")


@pytest.fixture(scope="session")
def clip_corpus(tmp_path_factory):
    """A small manifest corpus: 12 seeded tone+noise WAVs (16 kHz, 16-bit, 0.3-1.4 s).

    Returns ``{"dir", "manifest", "clips": [(rel_path, label, speaker, samples float32)]}``;
    ``samples`` is what ``audiojax.load`` reads back (16-bit quantized).
    """
    root = tmp_path_factory.mktemp("clip_corpus")
    rng = np.random.default_rng(1234)
    clips = []
    for i in range(12):
        n = 4800 + 1600 * i
        t = np.arange(n) / 16000
        y = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.05 * rng.standard_normal(n)
        rel = f"wav/clip{i:02d}.wav"
        audiojax.save(root / rel, y.astype(np.float32), 16000)
        clips.append((rel, CLIP_LABELS[i % 3], f"spk{i % 4}", audiojax.load(root / rel)[0]))
    manifest = root / "train.tsv"
    manifest.write_text("".join(f"{rel}\t{label}\t{spk}\n" for rel, label, spk, _ in clips))
    return {"dir": root, "manifest": manifest, "clips": clips}


# --- local synthetic corpora (audiojax.data.corpora), built once per session -----------------


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A data dir in which the tiny corpora fixtures below are built (WAV + TFDS)."""
    return tmp_path_factory.mktemp("audiojax_data")


@pytest.fixture(scope="session")
def tiny_commands(tiny_data_dir):
    """The tiny ``commands`` corpus: a CorpusSummary (``.path``, ``.info``, ``.tfds_dir``)."""
    from audiojax.data.corpora import build

    return build("commands", tiny_data_dir, size="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny_sentences(tiny_data_dir):
    """The tiny ``sentences`` corpus: a CorpusSummary (``.path``, ``.info``, ``.tfds_dir``)."""
    from audiojax.data.corpora import build

    return build("sentences", tiny_data_dir, size="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny_speakers(tiny_data_dir):
    """The tiny ``speakers`` corpus: a CorpusSummary (``.path``, ``.info``), trial lists."""
    from audiojax.data.corpora import build

    return build("speakers", tiny_data_dir, size="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny_enhance(tiny_data_dir):
    """The tiny ``enhance`` corpus: a CorpusSummary (``.path``, ``.info``)."""
    from audiojax.data.corpora import build

    return build("enhance", tiny_data_dir, size="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def tiny_streams(tiny_data_dir):
    """The tiny ``streams`` corpus: a CorpusSummary (``.path``, ``.info``), events files."""
    from audiojax.data.corpora import build

    return build("streams", tiny_data_dir, size="tiny", seed=0, progress=False)


# --- running the trainer and reading its checkpoints (shared by the trainer tests) ------------

ROOT = Path(__file__).resolve().parents[1]


def _cli(args, data_dir, devices=1, check=True, env=None, **popen):
    """``python -m audiojax ARGS`` in a subprocess on ``devices`` simulated CPU devices, with
    ``AUDIOJAX_DATA=data_dir`` and most XLA optimizations off (compiling dominates tiny runs);
    returns the CompletedProcess (or the Popen with ``popen``)."""
    env = dict(os.environ, AUDIOJAX_DATA=str(data_dir), JAX_PLATFORMS="cpu",
               JAX_DISABLE_MOST_OPTIMIZATIONS="1",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **(env or {}))
    cmd = [sys.executable, "-m", "audiojax", *map(str, args)]
    if popen:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, **popen)
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(args, data_dir, devices=1, check=True, env=None, **popen)``: the CLI in a
    subprocess (see :func:`_cli`)."""
    return _cli


@pytest.fixture
def cli_main(capsys):
    """``cli_main(*args)``: ``audiojax ARGS`` in this process (no interpreter start-up or
    second jax import): ``(exit code, stdout, stderr)``."""
    from audiojax.cli import main

    def run(*args):
        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return stop.value.code, out.out, out.err

    return run


def _checkpoint(workdir: Path, step: int | None = None) -> dict:
    import orbax.checkpoint as ocp

    ckpt = Path(workdir) / "checkpoints"
    step = step or max(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())
    return ocp.StandardCheckpointer().restore((ckpt / str(step) / "state").absolute())


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, f"{prefix}/{k}")
    else:
        yield prefix, np.asarray(tree)


def _assert_same(a, b, rtol, atol):
    fa, fb = dict(_flat(a)), dict(_flat(b))
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_allclose(fa[k], fb[k], rtol=rtol, atol=atol, err_msg=k)


class Checkpoints:
    """Reading a run's saved states: ``params(workdir, step=None)`` ->
    ``{"params", "batch_stats", "step"}`` of the step (default: the newest), ``flat(tree)`` ->
    ``(path, array)`` pairs, ``assert_same(a, b, rtol, atol)``."""

    @staticmethod
    def params(workdir: Path, step: int | None = None) -> dict:
        state = _checkpoint(workdir, step)
        return {"params": state["params"], "batch_stats": state["batch_stats"], "step": state["step"]}

    state = staticmethod(_checkpoint)
    flat = staticmethod(_flat)
    assert_same = staticmethod(_assert_same)


@pytest.fixture(scope="session")
def checkpoints():
    return Checkpoints


def _without_most_optimizations():
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture
def fast_compilation():
    """Most XLA optimizations off (compilation dominates a tiny run), restored afterwards."""
    yield from _without_most_optimizations()


@pytest.fixture(scope="module")
def fast_compilation_module():
    """:func:`fast_compilation` for a whole module of tiny models
    (``pytestmark = pytest.mark.usefixtures("fast_compilation_module")``)."""
    yield from _without_most_optimizations()
