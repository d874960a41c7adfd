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
    ema_params: exponential moving average of ``params`` (``config.ema_decay > 0``), else None.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    ema_params: Any = None

    @classmethod
    def create(cls, variables, tx: optax.GradientTransformation, rng: jax.Array,
               ema: bool = False) -> "TrainState":
        params = variables["params"]
        return cls(step=jnp.zeros((), jnp.int32), params=params,
                   batch_stats=variables.get("batch_stats", {}),
                   opt_state=tx.init(params), rng=rng,
                   ema_params=jax.tree.map(jnp.copy, params) if ema else None)

    @property
    def variables(self) -> dict:
        """What evaluation and inference use: the averaged parameters when kept."""
        params = self.params if self.ema_params is None else self.ema_params
        return {"params": params, "batch_stats": self.batch_stats}


SCHEDULES = ("constant", "step", "cosine")
OPTIMIZERS = ("adam", "adamw", "sgd")


def learning_rate_schedule(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.Schedule:
    """``config.schedule``: 'constant', 'step' (x decay_rate every decay_epochs, the article's
    StepLR) or 'cosine' (from the peak after warm-up to 0 at ``num_train_steps``); an optional
    linear warm-up of ``warmup_steps`` from 0."""
    lr, kind, warmup = config.learning_rate, config.schedule, config.warmup_steps
    if kind == "constant":
        schedule = optax.constant_schedule(lr)
    elif kind == "step":
        schedule = optax.exponential_decay(
            lr, transition_steps=max(1, int(config.decay_epochs * steps_per_epoch)),
            decay_rate=config.decay_rate, staircase=True)
    elif kind == "cosine":
        # The decay spans the steps after warm-up, so the last step reaches the end value.
        schedule = optax.cosine_decay_schedule(lr, decay_steps=max(1, config.num_train_steps - warmup))
    else:
        raise ValueError(f"config.schedule: unknown {kind!r}; use {', '.join(SCHEDULES)}")
    if warmup:
        schedule = optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), schedule], [warmup])
    return schedule


def make_optimizer(config: ml_collections.ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
    """``config.optimizer`` (adam, adamw, sgd with Nesterov ``momentum``) on the schedule,
    after global-norm clipping (``grad_clip_norm`` > 0)."""
    name = config.optimizer
    if name == "adam":
        opt = optax.adam(schedule)
    elif name == "adamw":
        opt = optax.adamw(schedule, weight_decay=config.weight_decay)
    elif name == "sgd":
        opt = optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.momentum > 0)
    else:
        raise ValueError(f"config.optimizer: unknown {name!r}; use {', '.join(OPTIMIZERS)}")
    if config.grad_clip_norm:
        opt = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), opt)
    return opt
