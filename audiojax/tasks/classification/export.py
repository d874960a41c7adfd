"""``audiojax export``: a streaming keyword run's step function with its parameters, as a
serialized ``jax.export`` artifact (StableHLO), for a device or a program without audiojax.

    audiojax export --workdir runs/kws_streaming --out exported/kws
    python exported/kws/listen.py recording.wav       # jax, numpy and soundfile only

``DIR`` holds ``step.jax`` (the exported ``step(chunk (1, C) float32, *state) -> (probs (1, K,
classes), n, *state)``: class probabilities of the ``K`` frame slots, the first ``n`` real),
``state.npz`` (the state before the first sample, as a list of arrays ``state_0 ..``),
``meta.json`` (sample rate, chunk and hop in samples, labels) and ``listen.py``, a loader
that feeds a WAV file chunk by chunk and prints each frame's best keyword above a threshold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audiojax.tasks.commands import add_run_arguments, overrides_from

LOADER = '''"""Runs an exported audiojax streaming keyword model over a WAV file, chunk by chunk.

    python listen.py recording.wav [threshold]

Prints ``time_s  word  probability`` at each frame whose best class is a keyword at or above
the threshold (default 0.5). Needs jax, numpy and soundfile; not audiojax."""

import json
import sys
from pathlib import Path

import jax
import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent


def load():
    step = jax.export.deserialize(bytearray((HERE / "step.jax").read_bytes()))
    meta = json.loads((HERE / "meta.json").read_text())
    with np.load(HERE / "state.npz") as f:
        state = [f[f"state_{i}"] for i in range(len(f.files))]
    return step, meta, state


def frames(path):
    """(time_s, probabilities (classes,)) of every frame of a mono WAV at the model's rate."""
    step, meta, state = load()
    y, sr = sf.read(path, dtype="float32")
    if sr != meta["sample_rate"] or y.ndim != 1:
        raise SystemExit(f"{path}: give mono audio at {meta['sample_rate']} Hz")
    chunk, hop, t = meta["chunk"], meta["hop"], 0
    y = np.pad(y, (0, -len(y) % chunk))
    for start in range(0, len(y), chunk):
        probs, n, *state = step.call(y[None, start:start + chunk], *state)
        for k in range(int(n)):
            t += 1
            yield t * hop / meta["sample_rate"], np.asarray(probs[0, k])


if __name__ == "__main__":
    threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    labels = json.loads((HERE / "meta.json").read_text())["labels"]
    for time, p in frames(sys.argv[1]):
        best = int(np.argmax(p))
        if not labels[best].startswith("_") and p[best] >= threshold:
            print(f"{time:.2f}  {labels[best]}  {p[best]:.3f}")
'''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--out", required=True, help="folder to write the artifact to")
    parser.add_argument("--chunk-ms", type=float, default=20.0,
                        help="audio per step, fixed in the artifact (default 20 ms)")


def export_run(run, out: Path, chunk_seconds: float = 0.02) -> dict:
    """Writes ``out``'s files (module docstring); returns the meta."""
    import io  # noqa: PLC0415

    import jax  # noqa: PLC0415 (kept out of the CLI's start-up)
    import numpy as np  # noqa: PLC0415

    from audiojax.files import atomic_write_bytes, atomic_write_text  # noqa: PLC0415

    model = run.task.model
    if not hasattr(model, "step"):
        raise ValueError(f"{run.workdir}: model {run.config.model.name!r} has no streaming "
                         f"mode to export (a causal model such as experiments/kws_streaming.py's)")
    rate = run.config.data.sample_rate
    chunk = max(1, int(round(chunk_seconds * rate)))
    state = model.initial_state(1)
    leaves, tree = jax.tree_util.tree_flatten(state)
    variables = run.variables

    def step(audio, *flat):
        scores, n, new = model.apply(variables, audio, jax.tree_util.tree_unflatten(tree, flat),
                                     method=model.step)
        return (jax.nn.softmax(scores, -1), n, *jax.tree_util.tree_leaves(new))

    specs = [jax.ShapeDtypeStruct((1, chunk), np.float32)] + \
        [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    exported = jax.export.export(jax.jit(step))(*specs)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "step.jax", bytes(exported.serialize()))
    buffer = io.BytesIO()
    np.savez(buffer, **{f"state_{i}": np.asarray(x) for i, x in enumerate(leaves)})
    atomic_write_bytes(out / "state.npz", buffer.getvalue())
    meta = {"sample_rate": rate, "chunk": chunk, "hop": int(model.hop_length),
            "labels": list(run.labels), "workdir": str(run.workdir), "step": int(run.step)}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    atomic_write_text(out / "listen.py", LOADER)
    return meta


def run(args: argparse.Namespace, runs) -> int:
    if args.chunk_ms <= 0:
        raise ValueError(f"--chunk-ms {args.chunk_ms}: must be positive")
    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, ()))
    meta = export_run(trained, Path(args.out), args.chunk_ms / 1000)
    print(f"wrote {args.out}: step.jax ({meta['chunk']} samples a step), state.npz, meta.json, "
          f"listen.py")
    return 0
