"""Multi-process JAX for real: 2 processes x 2 simulated CPU devices, coordinated by
jax.distributed on localhost, end with the parameters of a 1-process run of the same config."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from audiojax.data.pipeline import make_loader
from audiojax.data.sources import ManifestSource

ROOT = Path(__file__).resolve().parents[1]


def test_processes_read_their_slices_of_the_one_process_batches(tiny_commands):
    source = ManifestSource(tiny_commands.path / "train.tsv")
    common = dict(sample_rate=16000, train=True, seed=3, max_length=16000, label_to_id=None)
    one = iter(make_loader(source, batch_size=8, shard_index=0, shard_count=1, **common))
    two = [iter(make_loader(source, batch_size=4, shard_index=i, shard_count=2, **common))
           for i in range(2)]
    for _ in range(4):  # several epochs of the 12 clips: reshuffles and random crops included
        whole, parts = next(one), [next(it) for it in two]
        assert list(whole["id"]) == [*parts[0]["id"], *parts[1]["id"]]
        np.testing.assert_array_equal(whole["audio"], np.concatenate([p["audio"] for p in parts]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_end_with_the_one_process_parameters(tiny_commands, tiny_data_dir, tmp_path,
                                                          checkpoints):
    # SGD, as in test_train's 1-vs-4-device test: Adam would turn reduction-order noise into
    # lr-sized differences.
    args = [sys.executable, "-m", "audiojax", "train", "--config", "experiments/kws_seed_cnn.py:tiny",
            "--config.num_train_steps=3", "--config.checkpoint_every_steps=3",
            "--config.optimizer=sgd", "--config.learning_rate=0.01"]
    env = dict(os.environ, AUDIOJAX_DATA=str(tiny_data_dir), JAX_PLATFORMS="cpu",
               JAX_DISABLE_MOST_OPTIMIZATIONS="1", PYTHONPATH=str(ROOT))
    port = _free_port()
    procs = [subprocess.Popen([*args, "--workdir", str(tmp_path / "one")], cwd=ROOT,
                              env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    procs += [subprocess.Popen([*args, "--workdir", str(tmp_path / "two")], cwd=ROOT,
                               env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                                    "JAX_COORDINATOR_ADDRESS": f"localhost:{port}",
                                    "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    for i in range(2):  # really two processes, sharing four devices
        assert f"jax.distributed: process {i} of 2, 4 devices (2 local)" in outs[1 + i], outs[1 + i][-2000:]
    one, two = checkpoints.params(tmp_path / "one"), checkpoints.params(tmp_path / "two")
    assert int(one["step"]) == int(two["step"]) == 3
    checkpoints.assert_same(one, two, rtol=1e-4, atol=1e-6)
    # Only process 0 writes the metrics; they match the one-process run's.
    rows = [(tmp_path / d / "metrics.jsonl").read_text().count("\n") for d in ("one", "two")]
    assert rows[0] == rows[1] > 0
