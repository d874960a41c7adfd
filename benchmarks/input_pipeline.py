"""Input paths side by side, beside the training step they feed: examples/s of the grain loader
reading WAV files, reading decoded int16 records (``data.cache=decoded``), and drawing windows
of a split held on the devices (``data.cache=device``), against the number of worker processes.

    python benchmarks/input_pipeline.py                       # synthesizes 1 s WAVs in a temp dir
    python benchmarks/input_pipeline.py --data-dir DIR --size small   # a built commands corpus

Batch 64 (``--batch-size``), 1 s at 16 kHz, training mode (shuffle, random crop, pad, label
ids); the first batch (worker start-up) is left out of the timing. "per process" divides by
the processes doing the work (the main one with 0 workers, else the workers). The training
step is the main job's compact log-mel CNN (``experiments/kws_compact_cnn.py``) on random
data: what the loader must keep up with on this machine.
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

RATE = 16000


def synthesize(root: Path, n: int) -> Path:
    """``n`` seeded 1 s clips (tone + noise, 16-bit WAV) and their manifest."""
    import audiojax
    from audiojax.data.manifest import write_manifest

    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    rows = []
    for i in range(n):
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + 0.05 * rng.standard_normal(RATE)
        path = root / "wav" / f"{i:05d}.wav"
        audiojax.save(path, y.astype(np.float32), RATE)
        rows.append((str(path), f"w{i % 10}", f"s{i % 7}"))
    write_manifest(root / "train.tsv", rows)
    return root / "train.tsv"


def rate_of(loader, batches: int, consume=None) -> float:
    """Examples/s of ``batches`` batches after the first (``consume`` runs on each batch)."""
    with iter(loader) as it:
        first = next(it)
        if consume:
            consume(first)
        start = time.perf_counter()
        for _ in range(batches):
            b = next(it)
            if consume:
                consume(b)
        elapsed = time.perf_counter() - start
    return batches * loader.batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="audiojax data dir holding a built commands corpus (its train.tsv)")
    parser.add_argument("--size", default=None, help="corpus size (default: the largest built)")
    parser.add_argument("--clips", type=int, default=3000, help="clips to synthesize when no corpus is given")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({0, 1, 2, os.cpu_count() or 1}))
    parser.add_argument("--step-repeats", type=int, default=10)
    args = parser.parse_args()

    from audiojax.config import load_config
    from audiojax.data import decoded
    from audiojax.data.device_cache import DeviceCache
    from audiojax.data.pipeline import make_loader
    from audiojax.data.sources import ManifestSource, labels_of

    with tempfile.TemporaryDirectory() as tmp:
        manifest = None
        if args.data_dir:
            from audiojax.data import corpus_dir

            for size in [args.size] if args.size else ["full", "small", "tiny"]:
                candidate = corpus_dir(args.data_dir, "commands", size) / "train.tsv"
                if candidate.is_file():
                    manifest = candidate
                    break
        if manifest is None:
            manifest = synthesize(Path(tmp), args.clips)
        source = ManifestSource(manifest)
        lookup = {name: i for i, name in enumerate(labels_of(source))}
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
        print(f"input: {manifest} ({len(source)} clips); batch {args.batch_size} x 1 s at 16 kHz, "
              "train mode")

        start = time.perf_counter()
        folder = decoded.ensure(source, sample_rate=RATE, data_dir=tmp, quiet=True)
        fast = decoded.DecodedSource(source, folder)
        print(f"decoding once (data.cache=decoded): {time.perf_counter() - start:.1f} s, "
              f"{decoded.Decoded(folder).nbytes / 1e9:.2f} GB\n")

        def loader(src, workers, **kw):
            return make_loader(src, sample_rate=RATE, max_length=RATE, batch_size=args.batch_size,
                               train=True, seed=0, worker_count=workers, label_to_id=lookup,
                               shard_index=0, shard_count=1, **kw)

        print(f"{'workers':>7} {'WAV files ex/s':>15} {'per process':>12} {'decoded ex/s':>13} "
              f"{'per process':>12} {'decoded / WAV':>14}")
        rates = []
        for w in args.workers:
            files = rate_of(loader(source, w), args.batches)
            dec = rate_of(loader(fast, w), args.batches)
            procs = max(1, w)
            rates += [files, dec]
            print(f"{w:>7} {files:>15.0f} {files / procs:>12.0f} {dec:>13.0f} {dec / procs:>12.0f} "
                  f"{dec / files:>13.2f}x")

        cache = DeviceCache(decoded.Decoded(folder), ["audio"], RATE)
        arrays = jax.device_put(cache.arrays)
        cut = jax.jit(cache.materialize)

        def on_device(b):
            out = cut(arrays, {k: b[k] for k in ("cache_index", "offset", "mask", "length")})
            jax.block_until_ready(out["audio"])

        index_rate = rate_of(loader(source, 0, device_index=cache.index()), args.batches)
        device_rate = rate_of(loader(source, 0, device_index=cache.index()), args.batches, on_device)
        print(f"\nsplit on the device (data.cache=device), 0 workers: the host draws "
              f"{index_rate:.0f} ex/s of indices; with the windows cut on the device "
              f"{device_rate:.0f} ex/s")

        config = load_config("experiments/kws_compact_cnn.py:small",
                             [f"--config.batch_size={args.batch_size}"])
        step = ExperimentStep(config, list(lookup))
        placed = step.put(random_batch(step.task, args.batch_size))
        seconds = step.time_steps(placed, args.step_repeats)
        step_rate = args.batch_size / seconds
        print(f"training step (kws_compact_cnn, batch {args.batch_size}): {seconds * 1e3:.1f} ms, "
              f"{step_rate:.0f} ex/s; the loaders above give {min(rates) / step_rate:.1f}-"
              f"{max(rates) / step_rate:.1f}x that")


if __name__ == "__main__":  # grain spawns worker processes: keep the entry point guarded
    main()
