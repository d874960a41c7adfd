"""Throughput of the grain input pipeline: examples/s with 0 and 2 worker processes.

    python benchmarks/input_pipeline.py                      # synthesizes 1 s WAVs in a temp dir
    python benchmarks/input_pipeline.py --data-dir DIR       # a built commands corpus in DIR

Batch 64, 1 s at 16 kHz, training mode (shuffle, random crop); the first batch (worker start-up)
is excluded from the timing. For scale: one Adam step of the article's classifier on batch 64 x
1 s takes ~0.7-0.9 s on a 2-core CPU, i.e. ~80 examples/s (see jax-stack.md); the loader must
stay well above that so training never waits on it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def synthesize(root: Path, n: int, sample_rate: int = 16000) -> Path:
    """``n`` seeded 1 s clips (tone + noise, 16-bit WAV) and their manifest."""
    import audiojax
    from audiojax.data.manifest import write_manifest

    rng = np.random.default_rng(0)
    t = np.arange(sample_rate) / sample_rate
    rows = []
    for i in range(n):
        y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + 0.05 * rng.standard_normal(sample_rate)
        path = root / "wav" / f"{i:05d}.wav"
        audiojax.save(path, y.astype(np.float32), sample_rate)
        rows.append((str(path), f"w{i % 10}", f"s{i % 7}"))
    write_manifest(root / "train.tsv", rows)
    return root / "train.tsv"


def measure(manifest: Path, workers: int, batch_size: int, batches: int, sample_rate: int) -> float:
    from audiojax.data.pipeline import make_loader
    from audiojax.data.sources import ManifestSource, labels_of

    src = ManifestSource(manifest)
    lookup = {name: i for i, name in enumerate(labels_of(src))}
    loader = make_loader(src, sample_rate=sample_rate, max_length=sample_rate, batch_size=batch_size,
                         train=True, seed=0, worker_count=workers, label_to_id=lookup,
                         shard_index=0, shard_count=1)
    with iter(loader) as it:
        next(it)  # start-up
        start = time.perf_counter()
        for _ in range(batches):
            b = next(it)
            assert b["audio"].shape == (batch_size, sample_rate)
        elapsed = time.perf_counter() - start
    return batches * batch_size / elapsed


def decode_only(manifest: Path, n: int) -> float:
    """Reference: ``audiojax.load`` alone in one thread, clips/s."""
    import audiojax
    from audiojax.data.manifest import read_manifest

    entries = read_manifest(manifest)[:n]
    start = time.perf_counter()
    for e in entries:
        audiojax.load(e.audio_path)
    return len(entries) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="audiojax data dir holding a built commands corpus (its train.tsv)")
    parser.add_argument("--size", default=None, help="corpus size (default: the largest built)")
    parser.add_argument("--clips", type=int, default=2000, help="clips to synthesize when no corpus is given")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()

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
            if args.data_dir:
                print(f"no commands corpus under {args.data_dir}; synthesizing")
            manifest = synthesize(Path(tmp), args.clips)
            what = f"{args.clips} synthesized 1 s 16-bit WAVs"
        else:
            what = f"commands corpus {manifest}"
        print(f"input pipeline: {what}; batch {args.batch_size}, 1 s at 16 kHz, train mode, "
              f"{os.cpu_count()} CPU cores")
        print(f"  decode only (audiojax.load, 1 thread): {decode_only(manifest, 500):8.0f} clips/s")
        for w in args.workers:
            rate = measure(manifest, w, args.batch_size, args.batches, 16000)
            print(f"  grain loader, {w} worker(s):          {rate:8.0f} examples/s")


if __name__ == "__main__":  # grain spawns worker processes: keep the entry point guarded
    main()
