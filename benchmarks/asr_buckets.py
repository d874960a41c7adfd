"""Length bucketing vs padding every batch to the longest utterance: the recognizer's training
throughput (audio seconds trained per second), both ways, in one run.

The `experiments/asr_attention.py` recognizer and recipe (augmentation, label smoothing, CTC);
``--batches`` training batches of 32 utterances from the `sentences` corpus (``--size``, default
small; the two loaders draw different random batches of it) read by the training loader twice: with the experiment's ``bucket_seconds`` (batches of
one length bucket, audio and transcripts cut to it) and without (every batch 9 s of audio and
120 characters). Each shape is compiled first (compile times printed apart); then each loader's
batches are stepped, and the script prints seconds per step, audio seconds (true lengths)
trained per second, and the ratio of the two throughputs.

    python benchmarks/asr_buckets.py [--batches 12] [--size small]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.data.pipeline import numeric  # noqa: E402
from audiojax.tasks import get_task, task_class  # noqa: E402
from audiojax.data.splits import loader_for, open_split  # noqa: E402
from audiojax.config import load_config  # noqa: E402
from audiojax.train.loop import initial_state, optimizer_for  # noqa: E402
from audiojax.train.step import make_train_step  # noqa: E402

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "asr_attention.py"


def batches(config, task, count: int) -> list[dict]:
    loader = loader_for(config, open_split(config, "train"), task.label_to_id, train=True,
                        batch_size=config.batch_size)
    it = iter(loader)
    out = [numeric(next(it)) for _ in range(count)]
    it.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    args = parser.parse_args()

    config = load_config(str(EXPERIMENT), [f"data.source=sentences/{args.size}"])
    task = get_task(config, task_class(config.task).labels_for(config))
    tx, schedule = optimizer_for(config, steps_per_epoch=100)
    step = jax.jit(lambda s, b: make_train_step(task, tx, schedule)(s, b, None), donate_argnums=0)
    padded_config = load_config(str(EXPERIMENT), [f"data.source=sentences/{args.size}",
                                                  "data.bucket_seconds=()"])
    runs = {"bucketed": batches(config, task, args.batches),
            "padded to 9 s": batches(padded_config, task, args.batches)}
    print(f"{platform.processor() or platform.machine()}, {jax.devices()[0].platform}, jax "
          f"{jax.__version__}; {args.batches} batches of {config.batch_size} from "
          f"sentences/{args.size}; bucket_seconds {tuple(config.data.bucket_seconds)}")
    results = {}
    for name, data in runs.items():
        state = initial_state(config, task, tx, config.batch_size)
        shapes = {}
        for b in data:  # compile each shape once, outside the timing
            key = (b["audio"].shape, b["label"].shape)
            if key not in shapes:
                start = time.perf_counter()
                state, metrics = step(state, b)
                jax.block_until_ready(metrics)
                shapes[key] = time.perf_counter() - start
        start = time.perf_counter()
        for b in data:
            state, metrics = step(state, b)
        jax.block_until_ready(metrics)
        seconds = time.perf_counter() - start
        audio = sum(float(b["length"][b["mask"]].sum()) for b in data) / config.data.sample_rate
        padded = sum(b["audio"].size for b in data) / config.data.sample_rate
        results[name] = audio / seconds
        print(f"{name:14s} {len(shapes)} shapes (compile {sum(shapes.values()):.0f} s), "
              f"{seconds / len(data):.2f} s/step, {audio / seconds:.0f} audio s/s, "
              f"padding {padded / audio:.2f}x the audio")
    print(f"bucketing speedup (audio s/s): {results['bucketed'] / results['padded to 9 s']:.2f}x")


if __name__ == "__main__":
    main()
