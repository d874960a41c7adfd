"""WaveNet (van den Oord et al. 2016): dilated causal convolutions over samples.

One module gives an unconditional model, a word-conditioned model (global conditioning on a
class id) and a mel vocoder (local conditioning on log-mel frames upsampled to the sample rate
by learned transposed convolutions). Two ways through the same parameters:

- ``__call__`` / ``forward``: the parallel (teacher-forced) pass over a whole sequence;
- ``step``: one sample through every layer, reading per-layer queues of past activations
  ("fast WaveNet", Paine et al. 2016); ``init_cache`` makes the empty queues.

Inputs are the *previous* samples: mu-law class ids ``(batch, samples)`` int for the
categorical output, floats in [-1, 1] for the discretized mixture of logistics.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.models.output_dists import OUTPUTS


class CausalConv(nn.Module):
    """Causal 1-D convolution: output ``t`` sees inputs ``t - j * dilation``, j = 0..kernel_size-1.

    ``__call__``: ``(batch, time, in)`` -> ``(batch, time, features)`` (zero left padding);
    ``step``: taps ``(batch, kernel_size, in)`` (oldest first, the current input last) ->
    ``(batch, features)``, the same sum for one time step.
    """

    features: int
    kernel_size: int = 2
    dilation: int = 1

    @nn.compact
    def _params(self, in_features: int):
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (self.kernel_size, in_features, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return kernel, bias

    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, bias = self._params(x.shape[-1])
        y = jax.lax.conv_general_dilated(
            x, kernel, window_strides=(1,), padding=[((self.kernel_size - 1) * self.dilation, 0)],
            rhs_dilation=(self.dilation,), dimension_numbers=("NWC", "WIO", "NWC"))
        return y + bias

    def step(self, taps: jax.Array) -> jax.Array:
        kernel, bias = self._params(taps.shape[-1])
        return jnp.einsum("bki,kio->bo", taps, kernel) + bias


class WaveNet(nn.Module):
    """Stacks of gated residual layers with skip connections.

    Attributes:
      num_classes: mu-law classes (256 = 8 bits); also the bins of the mixture's discretization.
      output: ``categorical`` (softmax over mu-law codes) or ``logistic_mixture``.
      num_mixtures: logistic components of the mixture output.
      layers_per_stack, num_stacks: dilations 1, 2, ..., 2**(layers_per_stack-1), repeated.
      kernel_size: taps of the dilated convolutions (the input convolution has 2).
      residual_channels, gate_channels, skip_channels: widths of the residual stream, of each
        gate (tanh and sigmoid halves each ``gate_channels``) and of the skip sum.
      num_global: classes of the global condition (0: none); embedded in ``global_channels``.
      local_features: features of the local condition (n_mels; 0: none).
      upsample_factors: strides of the transposed convolutions taking frames to samples;
        their product must be the condition's hop length in samples.
    """

    num_classes: int = 256
    output: str = "categorical"
    num_mixtures: int = 10
    layers_per_stack: int = 10
    num_stacks: int = 2
    kernel_size: int = 2
    residual_channels: int = 32
    gate_channels: int = 32
    skip_channels: int = 64
    num_global: int = 0
    global_channels: int = 16
    local_features: int = 0
    local_channels: int = 32
    upsample_factors: Sequence[int] = (10, 16)

    def setup(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"model.output: unknown {self.output!r}; known: {sorted(OUTPUTS)}")
        self.input_conv = CausalConv(self.residual_channels, kernel_size=2)
        self.gates = [CausalConv(2 * self.gate_channels, self.kernel_size, d) for d in self.dilations]
        self.residuals = [nn.Dense(self.residual_channels) for _ in self.dilations]
        self.skips = [nn.Dense(self.skip_channels) for _ in self.dilations]
        if self.num_global:
            self.global_embed = nn.Embed(self.num_global, self.global_channels)
            self.global_proj = [nn.Dense(2 * self.gate_channels, use_bias=False) for _ in self.dilations]
        if self.local_features:
            self.upsample = [nn.ConvTranspose(self.local_channels, (s,), strides=(s,), padding="VALID")
                             for s in self.upsample_factors]
            self.local_proj = [nn.Dense(2 * self.gate_channels, use_bias=False) for _ in self.dilations]
        self.head = [nn.Dense(self.skip_channels), nn.Dense(self.dist.num_params)]

    @property
    def dist(self):
        """The output distribution (:mod:`audiojax.models.output_dists`)."""
        return OUTPUTS[self.output](self.num_classes, self.num_mixtures)

    @property
    def dilations(self) -> list[int]:
        return [2 ** i for i in range(self.layers_per_stack)] * self.num_stacks

    @property
    def receptive_field(self) -> int:
        """Samples of input that one output depends on (the input convolution adds one)."""
        return 2 + (self.kernel_size - 1) * sum(self.dilations)

    @property
    def hop_length(self) -> int:
        hop = 1
        for s in self.upsample_factors:
            hop *= s
        return hop

    # --- inputs and conditions -------------------------------------------------------------

    def _embed_input(self, x: jax.Array) -> jax.Array:
        """``(...)`` previous samples -> ``(..., features)``: one-hot codes or the float itself."""
        if self.output == "categorical":
            return jax.nn.one_hot(x, self.num_classes)
        return x.astype(jnp.float32)[..., None]

    def start_input(self, batch_size: int) -> jax.Array:
        """``(batch,)`` input before the first sample: silence (mu-law code of 0, or 0.0)."""
        return self.dist.silence(batch_size)

    def upsample_local(self, frames: jax.Array, num_samples: int) -> jax.Array:
        """``(batch, frames, local_features)`` -> ``(batch, num_samples, local_channels)``: frame
        ``f`` conditions samples ``[f * hop, (f + 1) * hop)``; cropped or zero-padded to length."""
        h = frames
        for i, layer in enumerate(self.upsample):
            h = layer(h)
            if i < len(self.upsample) - 1:
                h = nn.leaky_relu(h, 0.4)
        missing = num_samples - h.shape[1]
        if missing > 0:
            h = jnp.pad(h, ((0, 0), (0, missing), (0, 0)))
        return h[:, :num_samples]

    def _gate(self, i: int, z: jax.Array, local: jax.Array | None, global_vec: jax.Array | None):
        """Adds the conditions to layer ``i``'s pre-activation and applies tanh * sigmoid."""
        if local is not None:
            z = z + self.local_proj[i](local)
        if global_vec is not None:
            z = z + self.global_proj[i](global_vec)
        a, b = jnp.split(z, 2, axis=-1)
        return jnp.tanh(a) * nn.sigmoid(b)

    def _head(self, skip: jax.Array) -> jax.Array:
        return self.head[1](nn.relu(self.head[0](nn.relu(skip))))

    def _global_vec(self, global_id):
        if not self.num_global:
            return None
        if global_id is None:
            raise ValueError("this WaveNet is globally conditioned: pass global_id (batch,) class ids")
        return self.global_embed(global_id)

    # --- parallel pass ---------------------------------------------------------------------

    def __call__(self, inputs: jax.Array, global_id: jax.Array | None = None,
                 local: jax.Array | None = None) -> jax.Array:
        """Teacher-forced pass.

        Args:
          inputs: ``(batch, samples)`` previous samples (see the module docstring).
          global_id: ``(batch,)`` int class ids, when ``num_global``.
          local: ``(batch, frames, local_features)`` condition frames, when ``local_features``.

        Returns:
          ``(batch, samples, dist.num_params)`` output parameters (logits for categorical).
        """
        cond = self.upsample_local(local, inputs.shape[1]) if self.local_features else None
        return self.forward(inputs, global_id, cond)

    def forward(self, inputs: jax.Array, global_id: jax.Array | None = None,
                local_upsampled: jax.Array | None = None, valid_from: jax.Array | None = None):
        """The parallel pass on an already upsampled local condition ``(batch, samples, C)``.

        ``valid_from`` (scalar int, optional): positions before it are treated as before the
        start of the signal, where every causal convolution sees zeros (its padding). The naive
        sampler runs this on a window of the last ``receptive_field`` inputs with it.
        """
        keep = None
        if valid_from is not None:
            keep = (jnp.arange(inputs.shape[1]) >= valid_from)[None, :, None]
        global_vec = self._global_vec(global_id)
        if global_vec is not None:
            global_vec = global_vec[:, None, :]
        x = self._embed_input(inputs)
        h = self.input_conv(x if keep is None else x * keep)
        skip = 0.0
        for i in range(len(self.dilations)):
            z = self.gates[i](h if keep is None else h * keep)
            g = self._gate(i, z, local_upsampled, global_vec)
            skip = skip + self.skips[i](g)
            h = h + self.residuals[i](g)
        return self._head(skip)

    # --- one step with queues --------------------------------------------------------------

    def init_cache(self, batch_size: int) -> dict:
        """Empty queues: ``input`` ``(1, batch, features)`` and, per layer ``i``, a ring buffer
        ``layer_i`` of its last ``(kernel_size - 1) * dilation`` inputs ``(len, batch, R)``.
        Zeros, as the causal padding of the parallel pass."""
        in_features = self.num_classes if self.output == "categorical" else 1
        cache = {"input": jnp.zeros((1, batch_size, in_features))}
        for i, d in enumerate(self.dilations):
            cache[f"layer_{i}"] = jnp.zeros(((self.kernel_size - 1) * d, batch_size,
                                             self.residual_channels))
        return cache

    def step(self, cache: dict, t: jax.Array, x: jax.Array, global_id: jax.Array | None = None,
             local_t: jax.Array | None = None) -> tuple[dict, jax.Array]:
        """Output at time ``t`` from input ``x`` ``(batch,)`` (the sample at ``t - 1``) and the
        queues holding everything earlier; ``local_t`` ``(batch, C)`` is the upsampled
        condition at ``t``. Returns ``(cache, (batch, dist.num_params))``; each queue is
        updated in place (one slot written), nothing is shifted or re-stacked."""
        new = {}
        e = self._embed_input(x)
        h = self.input_conv.step(jnp.stack([cache["input"][0], e], axis=1))
        new["input"] = e[None]
        global_vec = self._global_vec(global_id)
        skip = 0.0
        for i, d in enumerate(self.dilations):
            queue = cache[f"layer_{i}"]
            size = queue.shape[0]
            # Slot (t - j*d) mod size holds this layer's input at t - j*d; the oldest (j = k-1)
            # sits at t mod size, which the current input then overwrites.
            slots = [(t - j * d) % size for j in range(self.kernel_size - 1, 0, -1)]
            taps = jnp.stack([jax.lax.dynamic_index_in_dim(queue, s, 0, keepdims=False)
                              for s in slots] + [h], axis=1)
            new[f"layer_{i}"] = jax.lax.dynamic_update_index_in_dim(queue, h, t % size, 0)
            g = self._gate(i, self.gates[i].step(taps), local_t, global_vec)
            skip = skip + self.skips[i](g)
            h = h + self.residuals[i](g)
        return new, self._head(skip)
