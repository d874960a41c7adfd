"""The article's classifier's training step: audiojax (compiled) vs PyTorch, same network.

Batch 64 x 1 s at 16 kHz, Adam, cross-entropy; both frameworks step in turn (interleaved),
medians reported, then the ratio. Also times the first (compiling) step, and the input
pipeline's examples/s against the step's.

    python benchmarks/train_step.py [--repeats 10] [--batch 64] [--data-dir DIR]
        [--compute-dtype float32|bfloat16] [--torch-device cpu|cuda]

On a GPU both run on it by default (``--torch-device`` follows JAX's platform); bfloat16 is
audiojax's mixed precision (float32 parameters), the PyTorch side then runs under
``torch.autocast`` in bfloat16. Needs PyTorch for the reference: ``pip install torch==2.13.0``
(the CPU wheel here).
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
import optax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.models.classifiers import WaveformCNN  # noqa: E402
from audiojax.tasks.classification.task import Classification  # noqa: E402
from audiojax.train.defaults import base_config  # noqa: E402
from audiojax.train.state import TrainState  # noqa: E402
from audiojax.train.step import make_train_step  # noqa: E402

NUM_CLASSES = 35
SAMPLES = 16000


def torch_model_and_step(batch: int, device: str, dtype: str):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class AudioClassifier(nn.Module):  # the article's code, verbatim in structure
        def __init__(self, num_classes):
            super().__init__()
            self.conv1 = nn.Conv1d(1, 128, 80, 4)
            self.bn1 = nn.BatchNorm1d(128)
            self.pool1 = nn.MaxPool1d(4)
            self.conv2 = nn.Conv1d(128, 128, 3)
            self.bn2 = nn.BatchNorm1d(128)
            self.pool2 = nn.MaxPool1d(4)
            self.conv3 = nn.Conv1d(128, 256, 3)
            self.bn3 = nn.BatchNorm1d(256)
            self.pool3 = nn.MaxPool1d(4)
            self.conv4 = nn.Conv1d(256, 512, 3)
            self.bn4 = nn.BatchNorm1d(512)
            self.pool4 = nn.MaxPool1d(4)
            self.avgPool = nn.AdaptiveAvgPool1d(1)
            self.fc1 = nn.Linear(512, 512)
            self.fc2 = nn.Linear(512, num_classes)

        def forward(self, x, lengths):
            x = self.pool1(F.relu(self.bn1(self.conv1(x))))
            x = self.pool2(F.relu(self.bn2(self.conv2(x))))
            x = self.pool3(F.relu(self.bn3(self.conv3(x))))
            x = self.pool4(F.relu(self.bn4(self.conv4(x))))
            x = self.avgPool(x).view(x.size(0), -1)
            return self.fc2(F.relu(self.fc1(x)))

    torch.manual_seed(0)
    model = AudioClassifier(NUM_CLASSES).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters())
    criterion = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, 1, SAMPLES)).astype(np.float32) * 0.1).to(device)
    y = torch.from_numpy(rng.integers(0, NUM_CLASSES, batch)).to(device)
    lengths = torch.full((batch,), SAMPLES)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            out = model(x, lengths)
            loss = criterion(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step, torch


def jax_step(batch: int, dtype: str = "float32"):
    config = base_config("classification", "waveform_cnn")
    config.compute_dtype = dtype
    config.parallel = "jit"
    task = Classification(config, [str(i) for i in range(NUM_CLASSES)])
    tx = optax.adam(1e-3)
    rng = np.random.default_rng(0)
    data = {"audio": jnp.asarray(rng.standard_normal((batch, SAMPLES)).astype(np.float32) * 0.1),
            "length": jnp.full((batch,), SAMPLES, jnp.int32),
            "label": jnp.asarray(rng.integers(0, NUM_CLASSES, batch), jnp.int32),
            "mask": jnp.ones((batch,), bool)}
    state = TrainState.create(task.init(jax.random.PRNGKey(0), data), tx, jax.random.PRNGKey(1))
    step = jax.jit(lambda s, b: make_train_step(task, tx, optax.constant_schedule(1e-3))(s, b, None),
                   donate_argnums=0)
    holder = {"state": state}

    def run():
        holder["state"], metrics = step(holder["state"], data)
        return float(metrics["loss"])

    return run


def pipeline_rate(batch: int, data_dir: str | None, batches: int = 20) -> float:
    """Examples/s of the training loader (2 workers) over the commands corpus or 1 s clips."""
    from audiojax import audio
    from audiojax.data.pipeline import make_loader
    from audiojax.data.sources import ManifestSource

    tmp = None
    manifest = Path(data_dir or "", "commands_small", "train.tsv") if data_dir else None
    if manifest is None or not manifest.is_file():
        tmp = tempfile.TemporaryDirectory()
        rng = np.random.default_rng(0)
        lines = []
        for i in range(256):
            audio.save(Path(tmp.name, f"{i}.wav"), rng.uniform(-0.5, 0.5, SAMPLES).astype(np.float32), 16000)
            lines.append(f"{i}.wav\tyes\n")
        manifest = Path(tmp.name, "train.tsv")
        manifest.write_text("".join(lines))
    source = ManifestSource(manifest)
    labels = sorted(source.unique_labels())
    loader = make_loader(source, sample_rate=16000, batch_size=batch, train=True, max_length=SAMPLES,
                         worker_count=2, label_to_id={k: i for i, k in enumerate(labels)})
    it = iter(loader)
    next(it)  # workers started
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch / (time.perf_counter() - start)
    it.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--data-dir", default=os.environ.get("AUDIOJAX_DATA"))
    parser.add_argument("--compute-dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--torch-device", choices=("cpu", "cuda"),
                        default="cuda" if jax.devices()[0].platform == "gpu" else "cpu")
    args = parser.parse_args()

    try:
        torch_step, torch = torch_model_and_step(args.batch, args.torch_device, args.compute_dtype)
    except ImportError:
        sys.exit("PyTorch is the reference here: pip install torch==2.13.0")
    print(f"jax {jax.__version__} ({jax.devices()[0].device_kind}), torch {torch.__version__} "
          f"({args.torch_device}, {torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"batch {args.batch} x {SAMPLES} samples, {args.compute_dtype}")
    jax_run = jax_step(args.batch, args.compute_dtype)
    start = time.perf_counter()
    jax_run()
    compile_s = time.perf_counter() - start
    torch_step()  # warm-up
    times = {"audiojax": [], "pytorch": []}
    for _ in range(args.repeats):
        for name, fn in (("audiojax", jax_run), ("pytorch", torch_step)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in ("audiojax", "pytorch"):
        print(f"{name:9s} step median {med[name] * 1e3:7.1f} ms  {args.batch / med[name]:7.1f} examples/s")
    print(f"audiojax first step (compile + run): {compile_s:.1f} s")
    rate = pipeline_rate(args.batch, args.data_dir)
    step_rate = args.batch / med["audiojax"]
    print(f"input pipeline (2 workers): {rate:.0f} examples/s = {rate / step_rate:.1f}x the step's {step_rate:.0f}")
    print(f"speedup audiojax/pytorch: {med['pytorch'] / med['audiojax']:.2f}x")


if __name__ == "__main__":
    main()
