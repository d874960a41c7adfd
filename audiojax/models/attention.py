"""Additive (Bahdanau) attention as the article writes it, with an optional location-aware term.

For decoder state ``s_{i-1}`` and encoder outputs ``h_j`` (``j`` over valid encoder frames):

    e_ij = v^T tanh(W_1 s_{i-1} + W_2 h_j [+ U f_ij])     f_i = F * alpha_{i-1} (location-aware)
    alpha_ij = exp(e_ij) / sum_k exp(e_ik)                  padded frames get alpha = 0
    c_i = sum_j alpha_ij h_j

The location term (Chorowski et al. 2015) convolves the previous alignment with ``filters``
kernels of width ``kernel_size`` and projects them with ``U``; ``location_filters=0`` leaves it out.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class AdditiveAttention(nn.Module):
    """Parameters: ``query`` (W_1, ``(state, units)``), ``key`` (W_2, ``(values, units)``),
    ``energy`` (v, ``(units, 1)``), no biases; with ``location_filters > 0`` also ``location_conv``
    (F, ``(kernel_size, 1, filters)``) and ``location`` (U, ``(filters, units)``).

    Call :meth:`keys` once per utterance (``W_2 h_j``), then :meth:`__call__` per decoder step.
    """

    units: int
    location_filters: int = 0
    location_kernel: int = 31
    dtype: Any = jnp.float32  # of the products; the softmax and alignments stay float32

    def setup(self):
        dense = lambda name: nn.Dense(self.units, use_bias=False, dtype=self.dtype, name=name)  # noqa: E731
        self.query, self.key = dense("query"), dense("key")
        self.energy = nn.Dense(1, use_bias=False, dtype=self.dtype, name="energy")
        if self.location_filters:
            self.location_conv = nn.Conv(self.location_filters, (self.location_kernel,),
                                         padding="SAME", use_bias=False, dtype=self.dtype,
                                         name="location_conv")
            self.location = dense("location")

    def keys(self, values: jax.Array) -> jax.Array:
        """``W_2 h_j``: ``values (batch, frames, dim)`` -> ``(batch, frames, units)``."""
        return self.key(values)

    def __call__(self, state: jax.Array, keys: jax.Array, values: jax.Array, mask: jax.Array,
                 previous: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """One step.

        Args:
          state: ``s_{i-1}`` ``(batch, state_dim)``.
          keys: :meth:`keys` of ``values``, ``(batch, frames, units)``.
          values: ``h`` ``(batch, frames, dim)``.
          mask: ``(batch, frames)`` bool, True on valid frames (at least one per row).
          previous: ``alpha_{i-1}`` ``(batch, frames)``; needed when location-aware.
        Returns:
          ``(c_i (batch, dim), alpha_i (batch, frames))``.
        """
        if self.location_filters and previous is None:
            raise ValueError("previous: location-aware attention needs the previous alignment")
        e = keys + self.query(state)[:, None, :]
        if self.location_filters:
            e = e + self.location(self.location_conv(previous[..., None]))
        e = self.energy(jnp.tanh(e))[..., 0].astype(jnp.float32)
        alpha = jax.nn.softmax(jnp.where(mask, e, -jnp.inf), axis=-1)
        context = jnp.einsum("bt,btd->bd", alpha.astype(values.dtype), values)
        return context, alpha
