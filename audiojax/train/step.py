"""The pure train step: state + batch -> new state + metrics, for any task."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from audiojax.train.state import TrainState


def make_train_step(task, tx: optax.GradientTransformation):
    """``step(state, batch, axis_name) -> (state, metrics)``; see ``parallel.DataParallel``.

    A step whose loss or gradients are not finite returns the state it was given (and reports
    ``finite = 0``), so the last good state survives for the loop to checkpoint and stop on.
    """

    def step(state: TrainState, batch: dict, axis_name: str | None):
        rng, step_rng = jax.random.split(state.rng)

        def loss_fn(params):
            return task.loss(params, state.batch_stats, batch, step_rng, axis_name)

        (loss, (batch_stats, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        if axis_name is not None:  # under pmap: per-device means -> global means
            grads = jax.lax.pmean(grads, axis_name)
            metrics = jax.lax.pmean(metrics, axis_name)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                            batch_stats=batch_stats, opt_state=opt_state, rng=rng)
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(grad_norm)
        new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, state)
        return new, {**metrics, "grad_norm": grad_norm, "finite": finite.astype(jnp.int32)}

    return step
