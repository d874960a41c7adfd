"""Accelerator figures in one call: examples/s and model FLOPs utilization (MFU) of the log-mel
CNN's and the recognizer's training steps at batch 256 and 1024, float32 and bfloat16; the
log-mel CNN fed by the host loader and by the split on the device, with the share of time
spent waiting on input; pmap against sharded jit.

    python benchmarks/accelerator.py                    # everything, within --budget seconds
    python benchmarks/accelerator.py --quick            # small batches and few steps (CPU check)
    python benchmarks/accelerator.py --data-dir DIR --size tiny   # a built commands corpus

MFU = FLOPs of one step (XLA's cost analysis of the compiled step) / step time / the chip's
dense peak (:data:`PEAKS`; float32 matmuls run as TF32 on NVIDIA GPUs by default, so float32
is held against the TF32 peak). A chip not in the table (a CPU) gets achieved TFLOP/s only.
Without a corpus, 1 s WAVs are synthesized. Each part is skipped once the budget is spent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ExperimentStep, machine, random_batch  # noqa: E402

# Dense peak FLOP/s per chip: (bfloat16, float32 as the chip runs it by default).
PEAKS = {
    "H200": (989e12, 494e12), "H100 PCIe": (756e12, 378e12), "H100": (989e12, 494e12),
    "A100": (312e12, 156e12), "L4": (121e12, 60e12),
    "TPU v4": (275e12, 275e12), "TPU v5 lite": (197e12, 197e12), "TPU v5e": (197e12, 197e12),
    "TPU v5p": (459e12, 459e12), "TPU v6 lite": (918e12, 918e12), "TPU v6e": (918e12, 918e12),
}
MODELS = {"log-mel CNN": "experiments/kws_logmel_cnn.py", "recognizer": "experiments/asr_attention.py"}


def peak(dtype: str) -> float | None:
    kind = jax.devices()[0].device_kind
    for name, (bf16, f32) in PEAKS.items():
        if name.lower() in kind.lower():
            return (bf16 if dtype == "bfloat16" else f32) * jax.device_count()
    return None


def experiment(path: str, batch: int, dtype: str, parallel: str = "jit", extra=()):
    from audiojax.config import load_config

    return load_config(path, [f"--config.batch_size={batch}", f"--config.compute_dtype={dtype}",
                              f"--config.parallel={parallel}", *extra])


def labels_for(config) -> list[str]:
    """The recognizer's character vocabulary; 35 keyword classes for the classifiers."""
    if config.task == "asr":
        from audiojax.tasks import task_class

        return task_class(config.task).labels_for(config)
    return [f"w{i}" for i in range(35)]


def step_figures(path: str, batch: int, dtype: str, steps: int, parallel: str = "jit") -> dict:
    config = experiment(path, batch, dtype, parallel)
    step = ExperimentStep(config, labels_for(config))
    placed = step.put(random_batch(step.task, config.batch_size))
    seconds = step.time_steps(placed, steps)
    flops = step.cost(placed)
    out = {"ms": 1e3 * seconds, "ex_s": batch / seconds, "compile_s": step.compile_seconds}
    if flops:
        out["tflop_s"] = flops / seconds / 1e12
        top = peak(dtype)
        out["mfu"] = flops / seconds / top if top else None
    return out


def fed_figures(source: str, data_dir: str, batch: int, dtype: str, cache: str, steps: int,
                workers: int) -> dict:
    """The log-mel CNN trained from a real loader, as the trainer feeds it: examples/s and the
    share of wall time spent getting batches."""
    from audiojax.data import splits
    from audiojax.data.pipeline import numeric

    config = experiment(MODELS["log-mel CNN"], batch, dtype, extra=[
        f"--config.data.source={source}", f"--config.data.data_dir={data_dir}",
        f"--config.data.cache={cache}", f"--config.data.num_workers={workers}"])
    train = splits.open_split(config, "train")
    labels = list(train.labels or sorted(train.unique_labels()))
    loader = splits.loader_for(config, train, {k: i for i, k in enumerate(labels)}, train=True,
                               batch_size=config.batch_size)
    step = ExperimentStep(config, labels, cache=loader.device_cache)
    with iter(loader) as it:
        jax.block_until_ready(step.run(step.put(numeric(next(it)))))  # compile, workers up
        wait, start = 0.0, time.perf_counter()
        for _ in range(steps):
            t = time.perf_counter()
            placed = step.put(numeric(next(it)))
            wait += time.perf_counter() - t
            metrics = step.run(placed)
        jax.block_until_ready(metrics)
        elapsed = time.perf_counter() - start
    return {"ex_s": steps * batch / elapsed, "wait": wait / elapsed,
            "on_device": loader.device_cache is not None}


def synthesize(root: Path, n: int) -> Path:
    """``n`` seeded 1 s clips of 35 words' tones, 16-bit WAV, in ``root/train.tsv``."""
    import audiojax
    from audiojax.data.manifest import write_manifest

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    rows = []
    for i in range(n):
        y = 0.3 * np.sin(2 * np.pi * (100 + 25 * (i % 35)) * t) + 0.05 * rng.standard_normal(16000)
        audiojax.save(root / "wav" / f"{i:05d}.wav", y.astype(np.float32), 16000)
        rows.append((f"wav/{i:05d}.wav", f"w{i % 35}", f"s{i % 7}"))
    write_manifest(root / "train.tsv", rows)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches 16/32, 3 steps (a CPU check)")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--steps", type=int, default=None, help="timed steps per figure (default 20)")
    parser.add_argument("--data-dir", default=None, help="a data dir with a built commands corpus")
    parser.add_argument("--size", default="tiny", help="its size (default tiny)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="grain workers of the host loader (default: the cores)")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for everything")
    args = parser.parse_args()
    batches = args.batches or ([16, 32] if args.quick else [256, 1024])
    steps = args.steps or (3 if args.quick else 20)
    deadline = time.perf_counter() + args.budget

    def part(name, fn, *a):
        if time.perf_counter() > deadline:
            print(f"  {name}: skipped (budget spent)")
            return None
        try:
            return fn(*a)
        except Exception as e:  # noqa: BLE001 (one part's failure, e.g. out of memory, is a row)
            print(f"  {name}: failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            return None

    print(f"machine: {machine()}")
    print("\ntraining steps on random batches (jit over every device):")
    print(f"  {'model':<12} {'batch':>5} {'dtype':<9} {'step ms':>8} {'ex/s':>9} {'TFLOP/s':>8} "
          f"{'MFU':>6} {'compile s':>9}")
    for name, path in MODELS.items():
        for batch in batches:
            for dtype in args.dtypes:
                r = part(f"{name} {batch} {dtype}", step_figures, path, batch, dtype, steps)
                if r:
                    mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") else "n/a"
                    tf = f"{r['tflop_s']:.2f}" if r.get("tflop_s") else "n/a"
                    print(f"  {name:<12} {batch:>5} {dtype:<9} {r['ms']:>8.1f} {r['ex_s']:>9.0f} "
                          f"{tf:>8} {mfu:>6} {r['compile_s']:>9.1f}")

    batch = batches[0]
    print(f"\npmap against sharded jit (log-mel CNN, batch {batch}, float32, "
          f"{jax.device_count()} device(s)):")
    for mode in ("jit", "pmap"):
        r = part(mode, step_figures, MODELS["log-mel CNN"], batch, "float32", steps, mode)
        if r:
            print(f"  {mode:<5} {r['ms']:.1f} ms per step, {r['ex_s']:.0f} ex/s")

    with tempfile.TemporaryDirectory() as tmp:
        if args.data_dir:
            source, data_dir = f"commands/{args.size}", args.data_dir
        else:
            source, data_dir = str(synthesize(Path(tmp) / "clips", 40 * batch)), tmp
        print(f"\nthe log-mel CNN fed by a loader ({source}, batch {batch}, float32): "
              "examples/s, share of wall time getting batches")
        for cache, workers in (("none", args.workers), ("decoded", args.workers), ("device", 0)):
            r = part(cache, fed_figures, source, data_dir, batch, "float32", cache, steps, workers)
            if r:
                where = "split on the device" if r["on_device"] else f"host, {workers} workers"
                print(f"  data.cache={cache:<8} ({where}): {r['ex_s']:.0f} ex/s, waiting "
                      f"{100 * r['wait']:.1f}% of the time")


if __name__ == "__main__":  # grain spawns worker processes: keep the entry point guarded
    main()
