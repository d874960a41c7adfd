"""Streaming layers: one set of parameters, a whole-sequence mode and a step mode that agree.

As in google's sequence-layers, each layer has ``__call__(x (batch, frames, in)) -> (batch,
frames, out)`` over a whole sequence and ``step(x (batch, K, in), n, state) -> (y, state)``
over a block of ``K`` frame slots of which the first ``n`` (a traced int) are real: the block
that :meth:`~audiojax.frontends.streaming.StreamingLogMel.step` returns for a chunk of audio.
Outputs in slots ``>= n`` are to be ignored; the state moves on by exactly ``n`` frames.
``initial_state(batch, in_features)`` is the state before the first frame. All layers are
causal: output frame ``t`` reads input frames ``<= t`` only, so padding after a sequence never
changes its outputs and the two modes are equal frame for frame.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.models.rnn import ArticleGRUCell


class CausalConv1D(nn.Module):
    """Dilated causal convolution over frames: ``y_t = b + sum_i W_i x_{t - i * dilation}``,
    ``i = 0 .. kernel_size - 1``, zeros before the start. State: the last ``(kernel_size - 1) *
    dilation`` input frames."""

    features: int
    kernel_size: int = 3
    dilation: int = 1

    def setup(self):
        self.conv = nn.Conv(self.features, (self.kernel_size,), kernel_dilation=(self.dilation,),
                            padding="VALID")

    @property
    def context(self) -> int:
        return (self.kernel_size - 1) * self.dilation

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(jnp.pad(x, ((0, 0), (self.context, 0), (0, 0))))

    @nn.nowrap
    def initial_state(self, batch: int, in_features: int) -> jax.Array:
        return jnp.zeros((batch, self.context, in_features), jnp.float32)

    def step(self, x: jax.Array, n: jax.Array, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        joined = jnp.concatenate([state, x.astype(state.dtype)], axis=1)
        # The new context: the `context` frames before slot n.
        return self.conv(joined), jax.lax.dynamic_slice_in_dim(joined, n, self.context, axis=1)


class StreamingGRU(nn.Module):
    """The article's GRU (:class:`~audiojax.models.rnn.ArticleGRUCell`) over frames from a zero
    state. State: the hidden vector ``(batch, features)``."""

    features: int
    use_bias: bool = True

    def setup(self):
        self.cell = ArticleGRUCell(self.features, use_bias=self.use_bias)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.cell.sequence(x, jnp.full(x.shape[:1], x.shape[1], jnp.int32))

    @nn.nowrap
    def initial_state(self, batch: int, in_features: int) -> jax.Array:
        del in_features
        return jnp.zeros((batch, self.features), jnp.float32)

    def step(self, x: jax.Array, n: jax.Array, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.cell.stream(x, state, n)


class WindowPool(nn.Module):
    """Per-frame scores pooled over the last ``window`` frames (fewer at the start): frame t's
    output is the maximum of frames ``t - window + 1 .. t`` (for ``min_class``, the minimum):
    the clip logits that :func:`pool_frames` gives a clip ending at frame t, so a detector
    reads, at every frame, what the model was trained to say about a clip. No parameters.
    State: the last ``window - 1`` frames (signed)."""

    window: int
    min_class: int = -1

    def _sign(self, channels: int) -> jax.Array:
        return jnp.ones(channels).at[self.min_class].set(-1.0) if self.min_class >= 0 \
            else jnp.ones(channels)

    def _pool(self, joined: jax.Array) -> jax.Array:
        return jax.lax.reduce_window(joined, -jnp.inf, jax.lax.max, (1, self.window, 1),
                                     (1, 1, 1), "VALID")

    def __call__(self, x: jax.Array) -> jax.Array:
        sign = self._sign(x.shape[-1])
        joined = jnp.pad(x * sign, ((0, 0), (self.window - 1, 0), (0, 0)),
                         constant_values=-jnp.inf)
        return self._pool(joined) * sign

    @nn.nowrap
    def initial_state(self, batch: int, in_features: int) -> jax.Array:
        return jnp.full((batch, self.window - 1, in_features), -jnp.inf, jnp.float32)

    def step(self, x: jax.Array, n: jax.Array, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        sign = self._sign(x.shape[-1])
        joined = jnp.concatenate([state, (x * sign).astype(state.dtype)], axis=1)
        return self._pool(joined) * sign, jax.lax.dynamic_slice_in_dim(joined, n,
                                                                       self.window - 1, axis=1)


def per_example_dropout(keys: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    """Dropout of ``x (batch, ...)`` with one PRNG key per example (``keys (batch,)``), so the
    mask of an example does not depend on how a batch is split over devices."""
    keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - rate, x.shape[1:]))(keys)
    return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


class ResidualCausalBlock(nn.Module):
    """``x + dropout(conv(relu(layer_norm(x))))`` with a :class:`CausalConv1D`; the layer norm
    is over each frame's channels, so it needs no state and looks at no other frame."""

    features: int
    kernel_size: int = 3
    dilation: int = 1
    dropout: float = 0.0

    def setup(self):
        self.norm = nn.LayerNorm()
        self.conv = CausalConv1D(self.features, self.kernel_size, self.dilation)

    def __call__(self, x: jax.Array, drop_keys: jax.Array | None = None) -> jax.Array:
        """``drop_keys (batch,)``: per-example keys for dropout (training); None: none."""
        y = self.conv(nn.relu(self.norm(x)))
        if drop_keys is not None and self.dropout > 0:
            y = per_example_dropout(drop_keys, y, self.dropout)
        return x + y

    @nn.nowrap
    def initial_state(self, batch: int, in_features: int) -> jax.Array:
        return jnp.zeros((batch, (self.kernel_size - 1) * self.dilation, in_features), jnp.float32)

    def step(self, x: jax.Array, n: jax.Array, state: jax.Array) -> tuple[jax.Array, jax.Array]:
        y, state = self.conv.step(nn.relu(self.norm(x)), n, state)
        return x + y, state


def pool_frames(x: jax.Array, frames: jax.Array, how: str) -> jax.Array:
    """``x (batch, T, C)`` over each example's first ``frames (batch,)`` frames -> ``(batch, C)``:
    ``max`` per channel, ``mean``, or the ``last`` valid frame. ``max`` over per-frame class
    scores trains a detector: the target word must score high at some frame, every other
    class low at all frames (Sun et al., "Max-pooling loss training of LSTM for KWS", 2016)."""
    frames = jnp.clip(frames, 1, x.shape[1])
    valid = (jnp.arange(x.shape[1])[None, :] < frames[:, None])[..., None]
    if how == "max":
        return jnp.max(jnp.where(valid, x, -jnp.inf), axis=1)
    if how == "mean":
        return jnp.sum(jnp.where(valid, x, 0.0), axis=1) / frames[:, None]
    if how == "last":
        return jnp.take_along_axis(x, (frames - 1)[:, None, None], axis=1)[:, 0]
    raise ValueError(f"pooling: unknown {how!r}; known: max, mean, last")
