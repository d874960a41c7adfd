"""The train step and the optimizer, in process on the toy task: learning-rate schedules against
their formulas, gradient accumulation against one big batch, the parameter average against
its recurrence, SGD momentum, and the config checks that run before anything is written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    import toy_task

    return toy_task


def _schedule_config(kind: str, warmup: int, steps: int = 100):
    from audiojax.train.defaults import base_config

    c = base_config()
    c.learning_rate, c.schedule, c.warmup_steps, c.num_train_steps = 0.1, kind, warmup, steps
    c.decay_epochs, c.decay_rate = 2.0, 0.5
    return c


@pytest.mark.parametrize("warmup", [0, 20])
def test_cosine_schedule_reaches_its_end_after_the_warm_up(warmup):
    from audiojax.train.state import learning_rate_schedule

    schedule = learning_rate_schedule(_schedule_config("cosine", warmup), steps_per_epoch=10)
    for step in range(0, 101, 5):
        if step < warmup:
            want = 0.1 * step / warmup
        else:
            want = 0.1 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (100 - warmup)))
        assert float(schedule(step)) == pytest.approx(want, abs=1e-7), step
    assert float(schedule(warmup)) == pytest.approx(0.1)   # the peak at the end of the warm-up
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)  # the end value at the last step


def test_step_and_constant_schedules():
    from audiojax.train.state import learning_rate_schedule

    step = learning_rate_schedule(_schedule_config("step", 0), steps_per_epoch=10)
    assert [float(step(s)) for s in (0, 19, 20, 39, 40)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    constant = learning_rate_schedule(_schedule_config("constant", 5), steps_per_epoch=10)
    assert [float(constant(s)) for s in (0, 1, 5, 99)] == pytest.approx([0.0, 0.02, 0.1, 0.1])


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_sgd_reads_momentum(momentum):
    """``--config.momentum`` is a key, and it changes the updates as Nesterov SGD does."""
    from audiojax.config import apply_override
    from audiojax.train.defaults import base_config
    from audiojax.train.state import make_optimizer

    c = base_config()
    c.optimizer = "sgd"
    apply_override(c, f"--config.momentum={momentum}")
    tx = make_optimizer(c, optax.constant_schedule(0.1))
    params = {"w": jnp.array([1.0, -2.0])}
    state, v = tx.init(params), np.zeros(2)
    for _ in range(3):  # gradients of 0.5 * |w|^2 are w
        grads = params
        updates, state = tx.update(grads, state, params)
        g = np.asarray(grads["w"])
        v = momentum * v + g
        want = -0.1 * (g + momentum * v) if momentum else -0.1 * g
        np.testing.assert_allclose(updates["w"], want, rtol=1e-6)
        params = optax.apply_updates(params, updates)


def _toy_setup(toy, **overrides):
    from audiojax.data.pipeline import numeric
    from audiojax.data.splits import loader_for, open_split
    from audiojax.train.loop import initial_state, optimizer_for

    config = toy.get_config()
    config.optimizer, config.learning_rate = "sgd", 0.1
    for key, value in overrides.items():
        config[key] = value
    task = toy.ToyTask(config, list(toy.CLASSES))
    loader = loader_for(config, open_split(config, "train", task.columns), task.label_to_id,
                        train=True, batch_size=config.batch_size)
    it = iter(loader)
    batches = [{k: jnp.asarray(v) for k, v in numeric(next(it)).items()} for _ in range(3)]
    it.close()
    tx, schedule = optimizer_for(config, 1)
    return config, task, initial_state(config, task, tx, config.batch_size), tx, schedule, batches


def test_gradient_accumulation_equals_one_big_batch(toy):
    from audiojax.train.step import make_train_step

    results = []
    for accumulate in (1, 2, 4):
        config, task, state, tx, schedule, batches = _toy_setup(toy)
        step = jax.jit(lambda s, b, a=accumulate: make_train_step(task, tx, schedule, accumulate=a)(s, b, None))
        for batch in batches:
            state, metrics = step(state, batch)
        results.append((state.params, float(metrics["loss"])))
    for params, loss in results[1:]:
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params, results[0][0])
        assert loss == pytest.approx(results[0][1], rel=1e-5)


def test_parameter_average_follows_its_recurrence_and_is_what_evaluation_uses(toy):
    from audiojax.train.step import make_train_step

    config, task, state, tx, schedule, batches = _toy_setup(toy, ema_decay=0.9)
    assert state.ema_params is not None
    step = jax.jit(lambda s, b: make_train_step(task, tx, schedule, ema_decay=0.9)(s, b, None))
    average = jax.tree.map(np.asarray, state.params)
    for batch in batches:
        state, _ = step(state, batch)
        average = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * np.asarray(p), average, state.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8),
                 state.ema_params, average)
    jax.tree.map(np.testing.assert_array_equal, state.variables["params"], state.ema_params)
    assert not np.allclose(jax.tree.leaves(state.params)[0], jax.tree.leaves(state.ema_params)[0])


@pytest.mark.parametrize("override,message", [
    ("batch_size=0", "config.batch_size=0: must be positive"),
    ("checkpoint_every_steps=0", "config.checkpoint_every_steps=0: must be positive"),
    ("learning_rate=-0.001", "config.learning_rate=-0.001: must not be negative"),
    ("optimizer='adagrad'", "config.optimizer: unknown 'adagrad'"),
    ("best_metric='valid/accuracy'", "config.best_metric='valid/accuracy': expected EVALUATOR/METRIC"),
    ("grad_accum_steps=3", "config.batch_size=8 must divide by grad_accum_steps=3"),
    ("evals.validation.every_steps=-1", "config.evals.validation: every_steps and batch_size must be >= 0"),
])
def test_a_bad_config_is_refused_by_name_before_anything_is_written(toy, tmp_path, override, message):
    from audiojax.config import apply_override
    from audiojax.train.loop import train_and_evaluate

    config = toy.get_config()
    apply_override(config, override)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_keys_are_declared_and_model_fields_checked():
    from audiojax.config import load_config
    from audiojax.train.defaults import base_config, validate

    c = base_config("classification", "gru_classifier")
    with pytest.raises(AttributeError, match="cannot be added since the config is locked"):
        c.model.hiden = 3
    with pytest.raises(AttributeError, match="cannot be added since the config is locked"):
        c.ctc_weight = 0.5  # an ASR key: not read by classification
    with pytest.raises(ValueError, match="no key 'dtype'"):
        load_config(str(ROOT / "experiments/kws_gru.py"), ["model.dtype=bfloat16"])
    loose = ml_collections.ConfigDict(c.to_dict())
    loose.model.hiden = 3
    with pytest.raises(ValueError, match="config.model.hiden: not a field of model 'gru_classifier'"):
        validate(loose)


def test_version_1_configs_migrate_to_what_the_experiments_now_say():
    """Runs saved before evaluators were named (their config.json, kept in tests/data) read as
    today's experiment files: the same evaluator, best metric and every other key."""
    from audiojax.config import load_config
    from audiojax.train.defaults import CONFIG_VERSION, migrate

    files = sorted((ROOT / "tests" / "data" / "config_v1").glob("*.json"))
    assert len(files) == 7
    for path in files:
        saved = json.loads(path.read_text())
        assert "config_version" not in saved and "eval_split" in saved
        migrated = migrate(saved)
        assert migrated.config_version == CONFIG_VERSION
        want = load_config(str(ROOT / "experiments" / f"{path.stem}.py") + ":tiny").to_dict()
        want["experiment"] = f"experiments/{path.stem}.py:tiny"  # as the runs were started
        assert json.loads(json.dumps(migrated.to_dict())) == json.loads(json.dumps(want)), path.name
    with pytest.raises(ValueError, match="config_version 9 is not one this audiojax reads"):
        migrate({"config_version": 9})
