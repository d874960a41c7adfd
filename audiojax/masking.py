"""Masks from true lengths, and the one masked mean (losses over a batch, pooling over time).

Arrays are padded past each example's true length; these functions keep padding out of every
result. Pure ``jnp``: used under ``jit``, ``vmap``, ``pmap`` and ``grad``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def length_mask(lengths: jax.Array, size: int) -> jax.Array:
    """``(batch, size)`` bool: True on the first ``lengths[b]`` positions of row b."""
    return jnp.arange(size)[None, :] < jnp.asarray(lengths)[:, None]


def masked_mean(x: jax.Array, mask: jax.Array, axis: int | None = None,
                axis_name: str | None = None) -> jax.Array:
    """Mean of ``x`` over the entries where ``mask`` (broadcast to ``x``'s leading axes) is
    True: over ``axis`` (None: all of them), at least 1 counted, so an all-padding row gives 0.

    ``mask`` may have fewer axes than ``x`` (``(batch, frames)`` for ``(batch, frames,
    channels)``): trailing axes are broadcast. Under ``pmap`` (``axis_name``) the count is
    averaged over devices, so the ``pmean`` of the per-device results is the global masked
    mean, whatever each device holds.
    """
    mask = jnp.asarray(mask).astype(x.dtype)
    mask = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    mask = jnp.broadcast_to(mask, x.shape)
    count = mask.sum(axis)
    if axis_name is not None:
        count = jax.lax.pmean(count, axis_name)
    return (x * mask).sum(axis) / jnp.maximum(count, 1.0)
