"""Sampling waveforms from autoregressive models (WaveNet, SampleRNN).

Two samplers over the same parameters, drawing sample ``t`` of every stream with the key
``fold_in(key, t)`` so that they give identical samples:

- :func:`cached_sampler`: the model's ``step`` with per-layer queues, one ``lax.scan`` over
  samples, batched over streams (any model with ``init_cache``/``step``: WaveNet, SampleRNN);
- :func:`naive_sampler`: recomputes WaveNet's parallel pass over the last ``receptive_field``
  inputs for every sample (the reference for tests and benchmarks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cached_sampler(model, num_samples: int):
    """A jitted ``run(variables, key, state, global_id, local, temperature) -> (state, samples)``.

    ``state`` is ``(cache, previous sample (batch,), t)`` from :func:`initial_state` or from the
    previous call, so long outputs can be drawn chunk by chunk; ``local`` is the upsampled
    condition of these ``num_samples`` samples ``(batch, num_samples, C)`` or None;
    ``samples`` are ``(batch, num_samples)`` (codes or floats, see ``model.dist``).
    """
    dist = model.dist

    def run(variables, key, state, global_id, local, temperature):
        def body(carry, i):
            cache, x, t = carry
            local_t = (None if local is None
                       else jax.lax.dynamic_index_in_dim(local, i, 1, keepdims=False))
            cache, params = model.apply(variables, cache, t, x, global_id, local_t, method=model.step)
            x = dist.sample(params, jax.random.fold_in(key, t), temperature)
            return (cache, x, t + 1), x

        state, samples = jax.lax.scan(body, state, jnp.arange(num_samples))
        return state, samples.T

    return jax.jit(run)


def initial_state(model, variables, batch_size: int):
    """``(cache, start input, t = 0)`` for :func:`cached_sampler`."""
    cache = model.apply(variables, batch_size, method=model.init_cache)
    return cache, model.start_input(batch_size), jnp.zeros((), jnp.int32)


def naive_sampler(model, num_samples: int, batch_size: int):
    """A jitted ``run(variables, key, global_id, local, temperature) -> samples (batch, num)``
    (arguments as in :func:`cached_sampler`) running ``model.forward`` on the last
    ``receptive_field`` inputs for every sample."""
    dist, width = model.dist, model.receptive_field

    def run(variables, key, global_id, local, temperature):
        start = model.start_input(batch_size)
        window = jnp.broadcast_to(start[:, None], (batch_size, width))
        if local is not None:
            local = jnp.pad(local, ((0, 0), (width - 1, 0), (0, 0)))

        def body(window, t):
            local_w = None if local is None else jax.lax.dynamic_slice_in_dim(local, t, width, 1)
            # Window position width-1 is time t: positions before time 0 are padding.
            params = model.apply(variables, window, global_id, local_w, valid_from=width - 1 - t,
                                 method=model.forward)[:, -1]
            x = dist.sample(params, jax.random.fold_in(key, t), temperature)
            return jnp.concatenate([window[:, 1:], x[:, None].astype(window.dtype)], axis=1), x

        _, samples = jax.lax.scan(body, window, jnp.arange(num_samples))
        return samples.T

    return jax.jit(run)
