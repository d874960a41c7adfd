"""A training split on the accelerators: its waveforms sit in device memory once (int16, from
its decoded copy: :mod:`audiojax.data.decoded`), the host draws only which record and where
each window starts (exactly as the host loader draws them: same order, crops, lengths and
resumable state), and the jitted step cuts the windows out on the device.

    cache = DeviceCache(Decoded(folder), keys=["audio"], max_length=16000)
    index = cache.index(center_rate=None)       # for make_loader(device_index=...)
    arrays = cache.arrays                       # put once on the devices (replicated)
    batch = cache.materialize(arrays, batch)    # in the step: audio (B, max_length)

Every device holds the whole split (any device may be handed any record; a copy per device
keeps the batch order the host loader has). ``data.cache_bytes`` bounds that copy; a split
over it, or over 2**31 samples (int32 positions), stays on the host (:meth:`DeviceCache.unfit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from audiojax.data import placement
from audiojax.data.decoded import Decoded
from audiojax.data.pipeline import DeviceIndex
from audiojax.files import atomic_write_bytes

MAX_SAMPLES = 2**31 - 1  # positions are int32 on the device


class DeviceCache:
    """A decoded split prepared for the devices: ``arrays`` (host NumPy, to be placed once):
    ``starts``, ``lengths`` int32 ``(records,)`` and one int16 ``(samples,)`` per waveform
    key (``audio``, and the clean target or sources of tasks that have them)."""

    def __init__(self, decoded: Decoded, keys: Sequence[str], max_length: int):
        self.decoded, self.keys, self.max_length = decoded, list(keys), int(max_length)
        self.arrays = {"starts": decoded.starts.astype(np.int32),
                       "lengths": decoded.lengths.astype(np.int32),
                       **{key: np.asarray(decoded.arrays[key]) for key in self.keys}}

    @staticmethod
    def unfit(decoded: Decoded, keys: Sequence[str], budget_bytes: int) -> str | None:
        """Why ``decoded`` cannot go on the devices within ``budget_bytes``, or None."""
        size = sum(int(decoded.arrays[k].nbytes) for k in keys) + 8 * len(decoded.starts)
        if size > budget_bytes:
            return (f"its {size / 1e9:.2f} GB of int16 waveforms exceed data.cache_bytes="
                    f"{budget_bytes / 1e9:.2f} GB per device")
        if int(decoded.meta["samples"]) > MAX_SAMPLES:
            return f"its {decoded.meta['samples']} samples exceed 2**31 (int32 positions)"
        return None

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())

    def index(self, center_rate: int | None = None) -> DeviceIndex:
        """What the host loader needs: lengths, undecodable records, and with ``center_rate``
        each record's window start centred on its speech (computed once per window length
        and kept beside the decoded copy)."""
        centres = None
        if center_rate:
            centres = self._centres(self.max_length, center_rate)
        return DeviceIndex(self.decoded.lengths, self.decoded.errors, centres)

    def _centres(self, max_length: int, rate: int) -> np.ndarray:
        path = Path(self.decoded.folder) / f"centres_{max_length}.npy"
        if path.is_file():
            return np.load(path)
        centres = np.zeros(len(self.decoded.starts), np.int64)
        for i in range(len(centres)):
            if int(i) not in self.decoded.errors and self.decoded.lengths[i]:
                y = self.decoded.waveform(i).astype(np.float32) / 32768.0
                centres[i] = placement.centred_offset(y, rate, max_length)
        buf = _npy_bytes(centres)
        atomic_write_bytes(path, buf)
        return centres

    def materialize(self, arrays: dict, batch: dict) -> dict:
        """``batch`` (``cache_index``, ``offset``, ``mask``, ...) with the windows it names
        cut from ``arrays`` (on the device, traced): each waveform key float32
        ``(batch, max_length)``, zeros outside the record and on masked rows, as the host
        loader pads them."""
        out = {k: v for k, v in batch.items() if k not in ("cache_index", "offset")}
        index, offset = batch["cache_index"], batch["offset"]
        t = offset[:, None] + jnp.arange(self.max_length, dtype=jnp.int32)[None, :]
        valid = (t >= 0) & (t < arrays["lengths"][index][:, None]) & batch["mask"][:, None]
        for key in self.keys:
            flat = arrays[key]
            position = jnp.clip(arrays["starts"][index][:, None] + t, 0, max(flat.shape[0] - 1, 0))
            samples = flat[position].astype(jnp.float32) / 32768.0
            out[key] = jnp.where(valid, samples, 0.0)
        return out


def _npy_bytes(x: np.ndarray) -> bytes:
    import io  # noqa: PLC0415

    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()
