"""SampleRNN (Mehri et al. 2017): frame-level GRU tiers at decreasing rates over a sample-level MLP.

Three tiers for ``frame_sizes = (16, 4)``: a GRU over frames of 16 samples, a GRU over frames
of 4 samples conditioned on it, and an MLP over the last 4 quantized samples conditioned on the
middle tier, giving a softmax over ``num_classes`` mu-law codes. Same interface as WaveNet:
``__call__`` is the teacher-forced pass on the previous samples, ``init_cache``/``step`` draw
one sample at a time (tiers update when their frame is complete), so
:mod:`audiojax.tasks.generation.samplers` samples both.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.models.output_dists import Categorical


class SampleRNN(nn.Module):
    """Attributes:
      num_classes: mu-law classes of the sample-level softmax (and of the inputs).
      frame_sizes: samples per frame of each frame tier, top first; each divides the one above.
      hidden: GRU state and conditioning width of every tier.
      embed: embedding width of one quantized sample in the sample-level MLP.
      mlp_hidden: width of the sample-level MLP.
      num_global: classes of a global condition (a word label) fed to the top tier; 0: none.
      local_features: must be 0 (SampleRNN here has no local conditioning).
    """

    num_classes: int = 256
    frame_sizes: Sequence[int] = (16, 4)
    hidden: int = 256
    embed: int = 64
    mlp_hidden: int = 256
    num_global: int = 0
    local_features: int = 0

    def setup(self):
        sizes = tuple(self.frame_sizes)
        if not sizes or any(a % b for a, b in zip(sizes, sizes[1:])):
            raise ValueError(f"model.frame_sizes: each must divide the one above, got {sizes}")
        if self.local_features:
            raise ValueError("SampleRNN takes no local (mel) condition: use WaveNet for a vocoder")
        self.frame_in = [nn.Dense(self.hidden) for _ in sizes]
        self.cells = [nn.GRUCell(self.hidden) for _ in sizes]
        self.rnns = [nn.RNN(cell) for cell in self.cells]
        # Each tier's state -> one conditioning vector per step of the tier below.
        below = list(sizes[1:]) + [1]
        self.upsample = [nn.Dense(self.hidden * (size // b)) for size, b in zip(sizes, below)]
        if self.num_global:
            self.global_embed = nn.Embed(self.num_global, self.hidden)
        self.sample_embed = nn.Embed(self.num_classes, self.embed)
        self.mlp = [nn.Dense(self.mlp_hidden), nn.Dense(self.mlp_hidden), nn.Dense(self.num_classes)]

    @property
    def dist(self) -> Categorical:
        return Categorical(self.num_classes)

    def start_input(self, batch_size: int) -> jax.Array:
        return self.dist.silence(batch_size)

    def _scaled(self, codes: jax.Array) -> jax.Array:
        """Codes -> floats in [-1, 1], the frame tiers' input."""
        return 2.0 * codes.astype(jnp.float32) / (self.num_classes - 1) - 1.0

    def _mlp(self, window_codes: jax.Array, cond: jax.Array) -> jax.Array:
        """``(..., frame)`` codes of the previous samples + ``(..., hidden)`` -> logits."""
        e = self.sample_embed(window_codes).reshape(*window_codes.shape[:-1], -1)
        h = nn.relu(self.mlp[0](e) + cond)
        return self.mlp[2](nn.relu(self.mlp[1](h)))

    def __call__(self, inputs: jax.Array, global_id: jax.Array | None = None,
                 local: jax.Array | None = None) -> jax.Array:
        """``(batch, samples)`` previous samples (codes) -> ``(batch, samples, num_classes)``
        logits; ``samples`` must be a multiple of the top frame size."""
        sizes = tuple(self.frame_sizes)
        b, n = inputs.shape
        if n % sizes[0]:
            raise ValueError(f"SampleRNN: {n} samples is not a multiple of the top frame size {sizes[0]}")
        # full[k] is the sample at k - top (silence before the start).
        pad = jnp.broadcast_to(self.start_input(b)[:, None], (b, sizes[0] - 1))
        full = jnp.concatenate([pad.astype(inputs.dtype), inputs], axis=1)
        cond = None
        for i, size in enumerate(sizes):
            # Frame j of this tier: the `size` samples before the samples it conditions.
            frames = self._scaled(full[:, sizes[0] - size: sizes[0] - size + n]).reshape(b, n // size, size)
            x = self.frame_in[i](frames)
            if cond is not None:
                x = x + cond
            if i == 0 and self.num_global:
                x = x + self.global_embed(global_id)[:, None, :]
            h = self.rnns[i](x)
            cond = self.upsample[i](h).reshape(b, -1, self.hidden)
        last = sizes[-1]
        windows = jnp.stack([full[:, sizes[0] - last + j: sizes[0] - last + j + n] for j in range(last)], -1)
        return self._mlp(windows, cond)

    def init_cache(self, batch_size: int) -> dict:
        """``history``: the last top-frame-size samples ``(batch, top)`` (silence), and per tier
        its GRU state ``state_i`` ``(batch, hidden)`` and conditioning for the tier below
        ``cond_i`` ``(batch, steps, hidden)``."""
        sizes = tuple(self.frame_sizes)
        cache = {"history": jnp.broadcast_to(self.start_input(batch_size)[:, None], (batch_size, sizes[0]))}
        below = list(sizes[1:]) + [1]
        for i, (size, b) in enumerate(zip(sizes, below)):
            cache[f"state_{i}"] = jnp.zeros((batch_size, self.hidden))
            cache[f"cond_{i}"] = jnp.zeros((batch_size, size // b, self.hidden))
        return cache

    def step(self, cache: dict, t: jax.Array, x: jax.Array, global_id: jax.Array | None = None,
             local_t: jax.Array | None = None) -> tuple[dict, jax.Array]:
        """Logits ``(batch, num_classes)`` of sample ``t`` given ``x`` (sample ``t - 1``); a
        tier whose frame starts at ``t`` advances its GRU one step (computed every sample,
        kept only then: the tiers are small next to a scan's branch overhead)."""
        sizes = tuple(self.frame_sizes)
        history = jnp.concatenate([cache["history"][:, 1:], x[:, None].astype(cache["history"].dtype)], 1)
        new = {"history": history}
        cond = None
        for i, size in enumerate(sizes):
            inp = self.frame_in[i](self._scaled(history[:, sizes[0] - size:]))
            if cond is not None:
                inp = inp + cond
            if i == 0 and self.num_global:
                inp = inp + self.global_embed(global_id)
            state, h = self.cells[i](cache[f"state_{i}"], inp)
            up = self.upsample[i](h).reshape(h.shape[0], -1, self.hidden)
            starts = t % size == 0
            new[f"state_{i}"] = jnp.where(starts, state, cache[f"state_{i}"])
            new[f"cond_{i}"] = jnp.where(starts, up, cache[f"cond_{i}"])
            below = sizes[i + 1] if i + 1 < len(sizes) else 1
            cond = jax.lax.dynamic_index_in_dim(new[f"cond_{i}"], (t % size) // below, 1, keepdims=False)
        return new, self._mlp(history[:, sizes[0] - sizes[-1]:], cond)
