"""`audiojax tag` on this machine, with freshly initialized models of the sound-event recipes:

- clips per second of the clip tagger (`experiments/events_cnn.py`, 5 s clips) at batch 1 and
  64, beside its log-mel front-end alone on the same batches (what the network adds);
- the real-time factor (seconds of compute per second of audio) of detection
  (`experiments/sed_crnn.py`'s CRNN) on one long file through `audiojax tag`'s own function
  (load, pad, model, median filter, events), beside the model call alone on the same padded
  audio (what reading and post-processing add).

Interleaved, medians of ``--repeats`` calls after compilation.

    python benchmarks/tag.py [--variants full small] [--minutes 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.config import load_config  # noqa: E402
from audiojax.data.corpora.sound_events import LABELS  # noqa: E402
from audiojax.frontends import LogMel  # noqa: E402
from audiojax.tasks import get_task  # noqa: E402
from audiojax.tasks.sed.tag import tag  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def timed(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


class Run:
    """What `tag` needs of a restored run, with initialized variables."""

    def __init__(self, config, task, variables):
        self.config, self.task, self.variables = config, task, variables
        self.labels, self.workdir, self.step = task.labels, Path("."), 0


def restored(name: str, variant: str) -> Run:
    spec = str(ROOT / "experiments" / f"{name}.py") + ("" if variant == "full" else f":{variant}")
    config = load_config(spec)
    task = get_task(config, list(LABELS))
    example = {k: jnp.zeros(v.shape, v.dtype) for k, v in task.example_spec(1).items()}
    return Run(config, task, task.init(jax.random.PRNGKey(0), example))


def clip_tagging(variant: str, batches, repeats: int, rng) -> None:
    run = restored("events_cnn", variant)
    model, c = run.task.model, run.config.model
    front = LogMel(sample_rate=RATE, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length,
                   n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, top_db=80.0)
    probs = jax.jit(lambda v, a, n: jax.nn.softmax(model.apply(v, a, n, train=False)))
    features = jax.jit(lambda a: front.apply({}, a))
    for batch in batches:
        audio = jnp.asarray(0.1 * rng.standard_normal((batch, int(run.config.data.max_seconds * RATE))),
                            jnp.float32)
        lengths = jnp.full((batch,), audio.shape[1], jnp.int32)
        timed(probs, run.variables, audio, lengths), timed(features, audio)  # compile
        model_t, front_t = [], []
        for _ in range(repeats):
            model_t.append(timed(probs, run.variables, audio, lengths))
            front_t.append(timed(features, audio))
        m, f = statistics.median(model_t), statistics.median(front_t)
        print(f"clip tagger  {variant:<6} batch {batch:>3}: {batch / m:>8.1f} clips/s; front-end "
              f"alone {batch / f:>8.1f} clips/s; ratio {m / f:.1f}")


def detection(variant: str, minutes: float, repeats: int, rng) -> None:
    run = restored("sed_crnn", variant)
    seconds = minutes * 60
    y = (0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "long.wav")
        sf.write(path, y, RATE, subtype="PCM_16")
        window = int(run.config.data.max_seconds * RATE)
        padded = np.zeros((1, -(-y.size // window) * window), np.float32)
        padded[0, :y.size] = y
        model = jax.jit(run.task.probabilities)
        lengths = np.array([y.size], np.int32)

        def whole():
            return tag(run, [path])

        timed(model, run.variables, padded, lengths), whole()  # compile
        tag_t, model_t = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            whole()
            tag_t.append(time.perf_counter() - start)
            model_t.append(timed(model, run.variables, padded, lengths))
    t, m = statistics.median(tag_t), statistics.median(model_t)
    print(f"detection    {variant:<6} {minutes:g} min file: real-time factor {t / seconds:.4f} "
          f"({seconds / t:.0f}x real time); model alone {m / seconds:.4f}; ratio {t / m:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["full", "small"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}")
    rng = np.random.default_rng(0)
    for variant in args.variants:
        clip_tagging(variant, args.batches, args.repeats, rng)
        detection(variant, args.minutes, args.repeats, rng)


if __name__ == "__main__":
    main()
