"""The whole training state as one explicit pytree, and the optimizer built from the config."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax


@flax.struct.dataclass
class TrainState:
    """Everything a step reads and writes; checkpointed as is.

    step: int32 scalar, optimizer steps taken.
    params, batch_stats: the model's variable collections (batch_stats may be empty).
    opt_state: optax state.
    rng: raw uint32 ``(2,)`` PRNG key, split once per step.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array

    @classmethod
    def create(cls, variables, tx: optax.GradientTransformation, rng: jax.Array) -> "TrainState":
        params = variables["params"]
        return cls(step=jnp.zeros((), jnp.int32), params=params,
                   batch_stats=variables.get("batch_stats", {}),
                   opt_state=tx.init(params), rng=rng)

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}


def learning_rate_schedule(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.Schedule:
    """``config.schedule``: 'constant', 'step' (x decay_rate every decay_epochs, the article's
    StepLR) or 'cosine'; an optional linear warm-up of ``warmup_steps``."""
    lr, kind = config.learning_rate, config.schedule
    if kind == "constant":
        schedule = optax.constant_schedule(lr)
    elif kind == "step":
        schedule = optax.exponential_decay(
            lr, transition_steps=max(1, int(config.decay_epochs * steps_per_epoch)),
            decay_rate=config.decay_rate, staircase=True)
    elif kind == "cosine":
        schedule = optax.cosine_decay_schedule(lr, decay_steps=max(1, config.num_train_steps))
    else:
        raise ValueError(f"config.schedule: unknown {kind!r}; use constant, step or cosine")
    if config.get("warmup_steps", 0):
        schedule = optax.join_schedules(
            [optax.linear_schedule(0.0, lr, config.warmup_steps), schedule], [config.warmup_steps])
    return schedule


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.GradientTransformation:
    """``config.optimizer`` (adam, adamw, sgd) on the schedule, after global-norm clipping."""
    schedule = learning_rate_schedule(config, steps_per_epoch)
    name = config.optimizer
    if name == "adam":
        opt = optax.adam(schedule)
    elif name == "adamw":
        opt = optax.adamw(schedule, weight_decay=config.weight_decay)
    elif name == "sgd":
        opt = optax.sgd(schedule, momentum=config.get("momentum", 0.9), nesterov=True)
    else:
        raise ValueError(f"config.optimizer: unknown {name!r}; use adam, adamw or sgd")
    if config.get("grad_clip_norm"):
        opt = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), opt)
    return opt
