"""SampleRNN: tier shapes, the one-sample step against the parallel pass, a tiny overfit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from audiojax.tasks.generation.samplers import cached_sampler, initial_state
from audiojax.models.samplernn import SampleRNN
from audiojax.tasks.generation.task import shift_right

B, T = 2, 32


def _model(**kw):
    return SampleRNN(frame_sizes=(8, 2), hidden=16, embed=8, mlp_hidden=16, **kw)


def test_tier_shapes_and_bad_sizes():
    model = _model(num_global=3)
    x = jnp.zeros((B, T), jnp.int32)
    variables = model.init(jax.random.PRNGKey(0), x, jnp.array([0, 1]))
    p = variables["params"]
    assert p["upsample_0"]["kernel"].shape == (16, 16 * 4)   # one vector per middle frame
    assert p["upsample_1"]["kernel"].shape == (16, 16 * 2)   # one vector per sample
    assert p["frame_in_0"]["kernel"].shape == (8, 16) and p["frame_in_1"]["kernel"].shape == (2, 16)
    assert p["mlp_0"]["kernel"].shape == (2 * 8, 16)
    assert model.apply(variables, x, jnp.array([0, 1])).shape == (B, T, 256)
    with pytest.raises(ValueError, match="not a multiple of the top frame size 8"):
        model.apply(variables, jnp.zeros((B, 12), jnp.int32), jnp.array([0, 1]))
    with pytest.raises(ValueError, match="each must divide the one above"):
        SampleRNN(frame_sizes=(8, 3)).init(jax.random.PRNGKey(0), x)


def test_step_reproduces_the_parallel_pass():
    model = _model(num_global=3)
    x = jax.random.randint(jax.random.PRNGKey(1), (B, T), 0, 256)
    g = jnp.array([2, 0])
    variables = model.init(jax.random.PRNGKey(0), x, g)
    parallel = model.apply(variables, x, g)
    cache = model.apply(variables, B, method=model.init_cache)
    step = jax.jit(lambda c, t, xt: model.apply(variables, c, t, xt, g, method=model.step))
    outs = []
    for t in range(T):
        cache, out = step(cache, jnp.int32(t), x[:, t])
        outs.append(out)
    np.testing.assert_allclose(np.stack(outs, 1), parallel, atol=1e-5, rtol=0)
    # Causal: changing input t leaves earlier outputs alone.
    changed = model.apply(variables, x.at[:, 20].set(x[:, 20] + 7), g)
    np.testing.assert_array_equal(changed[:, :20], parallel[:, :20])
    assert np.abs(changed[:, 20] - parallel[:, 20]).min() > 1e-6


def test_overfits_a_tiny_signal_and_samples_it_back():
    model = _model()
    codes = jnp.tile(jnp.array([[128, 160, 200, 160, 128, 96, 56, 96]]), (1, 4))  # (1, 32)
    inputs = shift_right(codes, model.start_input(1))
    params = model.init(jax.random.PRNGKey(0), inputs)["params"]
    tx = optax.adam(1e-2)
    opt = tx.init(params)

    @jax.jit
    def train_step(params, opt):
        def loss_fn(p):
            return -model.dist.log_prob(model.apply({"params": p}, inputs), codes).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt)
        return optax.apply_updates(params, updates), opt, loss

    first = None
    for _ in range(150):
        params, opt, loss = train_step(params, opt)
        first = float(loss) if first is None else first
    assert first > 5.0 and float(loss) < 0.05
    # The cached sampler at a low temperature reproduces the memorized periodic signal.
    variables = {"params": params}
    _, samples = cached_sampler(model, 32)(variables, jax.random.PRNGKey(0),
                                           initial_state(model, variables, 1), None, None, 0.1)
    np.testing.assert_array_equal(samples, codes)
