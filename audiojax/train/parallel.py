"""Data parallelism over all local (and, multi-host, all global) devices.

Two modes compute the same step:
- ``'jit'`` (default): one jitted function over global arrays; the batch is sharded on the
  ``data`` axis of a mesh, the state replicated; XLA inserts the gradient all-reduce.
- ``'pmap'``: the step under ``jax.pmap`` on per-device shards, with explicit ``lax.pmean``.

Step functions take an ``axis_name`` argument: ``None`` under jit (the batch is global),
``'data'`` under pmap (reduce across devices by name).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

AXIS = "data"


def maybe_initialize_distributed() -> None:
    """``jax.distributed.initialize()`` when the environment names a coordinator.

    Recognized: ``JAX_COORDINATOR_ADDRESS`` (with ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``),
    a Slurm job with several tasks (jax reads Slurm's variables itself), or
    ``AUDIOJAX_DISTRIBUTED=1`` (jax finds its peers itself: TPU VM pod slices, Open MPI).
    """
    if jax.distributed.is_initialized():
        return
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        jax.distributed.initialize(
            coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ["JAX_PROCESS_ID"]))
    elif int(os.environ.get("SLURM_NTASKS", "1")) > 1 or os.environ.get("AUDIOJAX_DISTRIBUTED") == "1":
        jax.distributed.initialize()
    else:
        return
    print(f"jax.distributed: process {jax.process_index()} of {jax.process_count()}, "
          f"{jax.device_count()} devices ({jax.local_device_count()} local)", flush=True)


class DataParallel:
    """Places states and batches on devices and compiles steps, for one mode."""

    def __init__(self, mode: str = "jit"):
        if mode not in ("jit", "pmap"):
            raise ValueError(f"config.parallel: unknown {mode!r}; use 'jit' or 'pmap'")
        self.mode = mode
        self.num_devices = jax.device_count()
        self.num_local_devices = jax.local_device_count()
        # Auto axis types: explicit-mode meshes trip flax RNN carries and shard_map inputs.
        self.mesh = jax.make_mesh((self.num_devices,), (AXIS,),
                                  axis_types=(jax.sharding.AxisType.Auto,))
        self.replicated = NamedSharding(self.mesh, P())
        self.batch_sharding = NamedSharding(self.mesh, P(AXIS))

    def check_batch_size(self, global_batch_size: int) -> int:
        """The per-process batch size; the global one must divide by the device count."""
        if global_batch_size % self.num_devices:
            raise ValueError(f"config.batch_size={global_batch_size} must divide by the "
                             f"{self.num_devices} devices")
        return global_batch_size // jax.process_count()

    def eval_batch_size(self, global_batch_size: int) -> int:
        """This process's share of an evaluation batch of about ``global_batch_size``, rounded
        up to a whole number of examples per device."""
        per_device = -(-global_batch_size // self.num_devices)
        return per_device * self.num_devices // jax.process_count()

    # -- state -------------------------------------------------------------------------
    def put_state(self, state: Any) -> Any:
        """Host or single-device state -> the layout the compiled step expects."""
        if self.mode == "jit":
            return jax.device_put(state, self.replicated)
        return self.replicate_local(state)

    def replicate_local(self, tree: Any) -> Any:
        """A copy per local device, stacked on a leading axis, laid out as pmap lays out its
        outputs (flax's ``replicate`` uses another mesh, so the step compiled twice: once for
        the state put, once for the state it returned)."""
        n = self.num_local_devices
        sharding = NamedSharding(jax.sharding.Mesh(np.array(jax.local_devices()), (AXIS,),
                                                   axis_types=(jax.sharding.AxisType.Auto,)),
                                 P(AXIS))
        return jax.tree.map(lambda x: jax.device_put(np.broadcast_to(np.asarray(x)[None],
                                                                     (n,) + np.shape(x)), sharding),
                            tree)

    def get_state(self, state: Any) -> Any:
        """The state as one copy (pmap keeps one per device; they are identical)."""
        if self.mode == "jit":
            return state
        return jax.tree.map(lambda x: x[0], state)

    # -- batches -----------------------------------------------------------------------
    def put_batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """This process's numpy batch -> global sharded arrays (jit) or per-device shards (pmap)."""
        if self.mode == "jit":
            if jax.process_count() == 1:  # one transfer of the whole batch: half the host time
                return jax.device_put({k: np.asarray(v) for k, v in batch.items()},
                                      self.batch_sharding)
            return {k: jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(v))
                    for k, v in batch.items()}
        n = self.num_local_devices
        return {k: np.asarray(v).reshape((n, -1) + np.shape(v)[1:]) for k, v in batch.items()}

    # -- compiled functions ------------------------------------------------------------
    def compile_train_step(self, step: Callable, cache=None) -> Callable:
        """``step(state, batch, axis_name) -> (state, metrics)`` compiled for this mode.

        With ``cache`` (a :class:`~audiojax.data.device_cache.DeviceCache`), its arrays are
        placed on every device once and batches name windows of them: the compiled step cuts
        them out (``cache.materialize``) before ``step`` sees the batch."""
        def with_windows(s, b, arrays, axis):
            return step(s, cache.materialize(arrays, b), axis)

        if self.mode == "jit":
            shard = dict(out_shardings=(self.replicated, self.replicated), donate_argnums=0)
            if cache is None:
                return jax.jit(lambda s, b: step(s, b, None),
                               in_shardings=(self.replicated, self.batch_sharding), **shard)
            fn = jax.jit(lambda s, b, a: with_windows(s, b, a, None),
                         in_shardings=(self.replicated, self.batch_sharding, self.replicated),
                         **shard)
            arrays = jax.device_put(cache.arrays, self.replicated)
            return lambda s, b: fn(s, b, arrays)
        if cache is None:
            fn = jax.pmap(lambda s, b: step(s, b, AXIS), axis_name=AXIS, donate_argnums=0)
            return lambda s, b: _first_metrics(fn(s, b))
        fn = jax.pmap(lambda s, b, a: with_windows(s, b, a, AXIS), axis_name=AXIS,
                      donate_argnums=0)
        arrays = self.replicate_local(cache.arrays)
        return lambda s, b: _first_metrics(fn(s, b, arrays))

    def compile_eval_step(self, step: Callable) -> Callable:
        """``step(variables, batch, axis_name) -> sums`` (summed over the global batch)."""
        if self.mode == "jit":
            return jax.jit(lambda v, b: step(v, b, None),
                           in_shardings=(self.replicated, self.batch_sharding),
                           out_shardings=self.replicated)
        fn = jax.pmap(lambda v, b: step(v, b, AXIS), axis_name=AXIS)
        return lambda v, b: jax.tree.map(lambda x: x[0], fn(v, b))


def _first_metrics(out):
    state, metrics = out
    return state, jax.tree.map(lambda x: x[0], metrics)

