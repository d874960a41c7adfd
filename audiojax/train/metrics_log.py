"""Where a run's numbers go: ``metrics.jsonl`` (one JSON object per line), TensorBoard event
files, and a learning-curve PNG drawn from the JSONL."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import jax
from tensorboardX import SummaryWriter


class MetricsLog:
    """Appends ``{"step", "split", "time", **scalars}`` records; only process 0 writes."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / "metrics.jsonl"
        self.enabled = jax.process_index() == 0
        self.tb = SummaryWriter(str(Path(workdir) / "tensorboard")) if self.enabled else None

    def write(self, step: int, split: str, scalars: dict) -> None:
        if not self.enabled:
            return
        flat = {k: float(v) for k, v in scalars.items() if isinstance(v, (int, float)) or hasattr(v, "item")}
        with self.path.open("a") as f:
            f.write(json.dumps({"step": int(step), "split": split, "time": time.time(), **flat}) + "\n")
        for k, v in flat.items():
            if math.isfinite(v):
                self.tb.add_scalar(f"{split}/{k}", v, int(step))
        self.tb.flush()

    def truncate_after(self, step: int) -> None:
        """Drops records past ``step``: a resumed run redoes them from its checkpoint."""
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path.parent) if r["step"] <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(workdir: str | Path) -> list[dict]:
    """The records of ``workdir/metrics.jsonl``; a last line cut short by a kill is ignored."""
    path = Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
