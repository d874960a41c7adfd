"""A run's config: the trainer's keys, the task's, the model's fields and the evaluators, all
declared here so that a key nobody reads is an error; size variants; and the versioned
migration of a saved ``config.json``.

    c = base_config("asr", "recognizer")      # every key with its default, then locked
    c.model.encoder_hidden = 192              # a declared key: fine
    c.model.encoder_hiden = 192               # a typo: an error naming the key
    c.evals.mine = evaluator("my.tsv", every_steps=500)   # evaluators are added by name
"""

from __future__ import annotations

import ml_collections

from audiojax import models
from audiojax.data import local_spec, source_parts
from audiojax.evaluators import check_spec, evaluator
from audiojax.tasks import task_class
from audiojax.train.state import OPTIMIZERS, SCHEDULES

CONFIG_VERSION = 2  # 1: eval_split / eval_every_steps and an unprefixed best_metric
COMPUTE_DTYPES = ("float32", "bfloat16")
PARALLEL = ("jit", "pmap")
DATA_CACHES = ("none", "decoded", "device")


def trainer_config() -> ml_collections.ConfigDict:
    """The keys the trainer itself reads (data, optimization, parallelism, cadence)."""
    c = ml_collections.ConfigDict()
    c.config_version = CONFIG_VERSION
    c.task = "classification"
    c.experiment = ""                # set by audiojax.config.load_config: where it came from
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.source = "commands"       # local corpus NAME[/SIZE], a .tsv manifest, tfds:NAME, python:...
    c.data.data_dir = ""             # "" -> $AUDIOJAX_DATA or ~/.cache/audiojax
    c.data.train_split = "train"     # the source's split that the run's "train" reads
                                     # (tfds:librispeech: train_clean100)
    c.data.build_seed = 0            # seed of a local corpus built on first use
    c.data.train_voices = 1.0        # < 1: train on that fraction of the voice groups (local corpora)
    c.data.train_voices_seed = 0     # which groups (subsets of one seed are nested)
    c.data.sample_rate = 16000       # Hz
    c.data.max_seconds = 4.0         # crop/pad length (the article's max_length = 4 s)
    c.data.bucket_seconds = ()       # length buckets below max_seconds (audiojax.data.buckets)
    c.data.train_seconds = 0.0       # > 0: training crops this long (random windows; buckets
                                     # below it), evaluation still up to max_seconds
    c.data.num_workers = 2           # grain worker processes for the training loader
    c.data.cache = "none"            # "decoded": read int16 records decoded once (built on first
                                     # use, audiojax.data.decoded) instead of decoding files;
                                     # "device": the training split on the devices as well
                                     # (audiojax.data.device_cache; the host only draws indices)
    c.data.cache_bytes = 4 << 30     # the most a device holds of the training split's waveforms
    c.data.on_bad = "error"          # or "skip": skip bad examples and report them at the end
    c.data.center = "none"           # or "energy": centre each window on its speech
                                     # (audiojax.data.placement; train, evaluate and predict)

    # Optimization (optax).
    c.optimizer = "adam"             # adam | adamw | sgd
    c.learning_rate = 1e-3
    c.momentum = 0.9                 # sgd (Nesterov); 0: plain SGD
    c.weight_decay = 0.0             # adamw
    c.schedule = "constant"          # constant | step (x decay_rate every decay_epochs) | cosine
    c.decay_epochs = 10.0
    c.decay_rate = 0.8
    c.warmup_steps = 0
    c.grad_clip_norm = 0.0           # 0: no clipping
    c.compute_dtype = "float32"      # or bfloat16 (parameters stay float32)
    c.ema_decay = 0.0                # > 0: evaluate and infer with an average of the parameters

    c.batch_size = 64                # global, over all devices and processes
    c.grad_accum_steps = 1           # micro-batches per step (gradients averaged)
    c.num_epochs = 10.0
    c.num_train_steps = -1           # > 0 overrides num_epochs
    c.parallel = "jit"               # jit (sharded on a 'data' mesh axis) | pmap

    c.log_every_steps = 50
    c.checkpoint_every_steps = 500
    c.keep_checkpoints = 2           # latest ones kept, besides the best
    c.evals = ml_collections.ConfigDict({"validation": evaluator("validation", every_steps=500)})
    c.best_metric = "validation/accuracy"   # EVALUATOR/METRIC ranking checkpoints
    c.best_mode = "max"
    return c


def base_config(task: str = "classification", model: str = "waveform_cnn") -> ml_collections.ConfigDict:
    """Every key of a run of ``task`` with ``model``, with its default, locked: the trainer's,
    the task's (:meth:`~audiojax.tasks.base.Task.config_defaults`) and the model's fields."""
    c = trainer_config()
    c.task = task
    cls = task_class(task)
    own = cls.config_defaults()
    clash = sorted(set(own.keys()) & set(c.keys()))
    if clash:
        raise ValueError(f"task {task!r} declares config keys the trainer has: {clash}")
    c.update(own)
    c.model = ml_collections.ConfigDict({"name": model, **models.config_fields(model, cls.provides + cls.offers)})
    c.lock()
    c.evals.unlock()  # evaluators are added by name
    return c


def apply_variant(c: ml_collections.ConfigDict, variant: str | None) -> ml_collections.ConfigDict:
    """Shared size variants of an experiment on a local corpus (``c.data.source``):

    - ``tiny``: the tiny corpus, 6 steps of batch 8: seconds on a CPU; what the tests run.
    - ``small``: the small corpus (about 3k training clips) for about 10 minutes on a 2-core CPU:
      the README's main job and the ablations.
    - None: the full corpus, the experiment's own schedule.
    """
    def sized(size):  # each joined source's; a corpus's version (separate/full/wav16k/max) stays
        parts = [local_spec(p) for p in source_parts(c.data.source)]
        return "+".join(f"{name}/{size}" + (f"/{version}" if version else "")
                        for name, _, version in parts)

    if variant == "tiny":
        c.data.source = sized("tiny")
        c.data.num_workers = 0
        c.batch_size = 8
        c.num_train_steps = 6
        c.warmup_steps = 0
        c.log_every_steps = 2
        c.checkpoint_every_steps = 3
        for spec in c.evals.values():
            spec.every_steps = 3
    elif variant == "small":
        c.data.source = sized("small")
        c.num_train_steps = 600
        c.log_every_steps = 20
        c.checkpoint_every_steps = 100
        for spec in c.evals.values():
            spec.every_steps = 100
    elif variant is not None:
        raise ValueError(f"unknown variant {variant!r}; known: tiny, small")
    return c


# -- saved configs ------------------------------------------------------------------------------

# Keys a version-1 run held that its task never read (the trainer declared them for all tasks).
_V1_UNREAD = {"generation": ("label_smoothing", "augment")}


def migrate(saved: dict) -> ml_collections.ConfigDict:
    """A saved ``config.json`` (any version) as a config of this version, meaning what it meant:

    version 1 -> 2: ``eval_split`` / ``eval_every_steps`` become the evaluator of that name
    in ``evals``; ``best_metric`` gets its evaluator's prefix; keys its task never read are
    dropped; keys added since (``momentum``, ``ema_decay``, ``grad_accum_steps``, the model's
    unset fields, ...) take their defaults, which are what version 1 used in their absence.
    """
    saved = dict(saved)
    version = saved.pop("config_version", 1)
    if version not in (1, CONFIG_VERSION):
        raise ValueError(f"config.json: config_version {version} is not one this audiojax reads "
                         f"(1 to {CONFIG_VERSION})")
    task = saved.get("task", "classification")
    model = dict(saved.get("model", {})).get("name", "waveform_cnn")
    if version == 1:
        split = saved.pop("eval_split", "validation")
        every = saved.pop("eval_every_steps", 500)
        saved["evals"] = {split: evaluator(split, every_steps=every).to_dict()}
        saved["best_metric"] = f"{split}/{saved.get('best_metric', 'accuracy')}"
        for key in _V1_UNREAD.get(task, ()):
            saved.pop(key, None)
    config = base_config(task, model)
    evals = saved.pop("evals", None)
    _update(config, saved, "")
    if evals is not None:
        config.evals = ml_collections.ConfigDict(evals)
        config.evals.unlock()
    return config


def _update(config: ml_collections.ConfigDict, saved: dict, where: str) -> None:
    """Sets ``saved``'s values in the (locked) ``config``; a key it lacks is an error."""
    for key, value in saved.items():
        if key not in config:
            raise ValueError(f"config.json: {where}{key} is not a key of this audiojax's "
                             f"{config.task if not where else where.rstrip('.')} config")
        if isinstance(config[key], ml_collections.ConfigDict) and isinstance(value, dict):
            _update(config[key], value, f"{where}{key}.")
        else:
            with config.ignore_type():
                config[key] = tuple(value) if isinstance(value, list) else value


def validate(config: ml_collections.ConfigDict) -> None:
    """Refuses, naming the key, a config the trainer would fail on or silently misread:
    unknown or missing keys, unknown names, non-positive sizes and cadences, a negative
    learning rate, a best metric of no evaluator; then the task's own checks."""
    if config.get("config_version") != CONFIG_VERSION:
        raise ValueError(f"config.config_version: {config.get('config_version')}, expected "
                         f"{CONFIG_VERSION} (build configs with audiojax.train.defaults.base_config)")
    reference = base_config(config.task, config.model.name)
    _same_keys(config, reference, "", config.task, config.model.name)
    choices = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "parallel": PARALLEL,
               "compute_dtype": COMPUTE_DTYPES, "best_mode": ("max", "min")}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise ValueError(f"config.{key}: unknown {config[key]!r}; use {', '.join(allowed)}")
    if config.data.on_bad not in ("error", "skip"):
        raise ValueError(f"config.data.on_bad: {config.data.on_bad!r}; use 'error' or 'skip'")
    if config.data.cache not in DATA_CACHES:
        raise ValueError(f"config.data.cache: {config.data.cache!r}; use {', '.join(DATA_CACHES)}")
    if config.data.center not in ("none", "energy"):
        raise ValueError(f"config.data.center: {config.data.center!r}; use 'none' or 'energy'")
    positive = {"batch_size": config.batch_size, "grad_accum_steps": config.grad_accum_steps,
                "log_every_steps": config.log_every_steps,
                "checkpoint_every_steps": config.checkpoint_every_steps,
                "keep_checkpoints": config.keep_checkpoints, "num_epochs": config.num_epochs,
                "data.sample_rate": config.data.sample_rate, "data.max_seconds": config.data.max_seconds,
                "data.cache_bytes": config.data.cache_bytes}
    for key, value in positive.items():
        if not value > 0:
            raise ValueError(f"config.{key}={value}: must be positive")
    if config.num_train_steps == 0 or config.num_train_steps < -1:
        raise ValueError(f"config.num_train_steps={config.num_train_steps}: positive, or -1 "
                         f"(num_epochs decides)")
    if config.data.train_seconds < 0:
        raise ValueError(f"config.data.train_seconds={config.data.train_seconds}: 0 (max_seconds) or positive")
    for key in ("learning_rate", "weight_decay", "momentum", "warmup_steps", "grad_clip_norm"):
        if config[key] < 0:
            raise ValueError(f"config.{key}={config[key]}: must not be negative")
    if not 0.0 <= config.ema_decay < 1.0:
        raise ValueError(f"config.ema_decay={config.ema_decay}: must be in [0, 1)")
    if config.batch_size % config.grad_accum_steps:
        raise ValueError(f"config.batch_size={config.batch_size} must divide by "
                         f"grad_accum_steps={config.grad_accum_steps}")
    if not config.evals:
        raise ValueError("config.evals: no evaluator; name at least the one best_metric uses")
    for name, spec in config.evals.items():
        check_spec(name, spec)
    evaluator_name, _, metric = config.best_metric.partition("/")
    if evaluator_name not in config.evals or not metric:
        raise ValueError(f"config.best_metric={config.best_metric!r}: expected EVALUATOR/METRIC "
                         f"with EVALUATOR one of config.evals ({', '.join(config.evals)})")
    task_class(config.task).check_config(config)


def _same_keys(config, reference, where: str, task: str, model: str) -> None:
    for key in config.keys():
        if key not in reference:
            if where == "model.":
                raise ValueError(f"config.model.{key}: not a field of model {model!r}")
            raise ValueError(f"config.{where}{key}: not a key the trainer or task {task!r} reads")
        if key != "evals" and isinstance(reference[key], ml_collections.ConfigDict):
            _same_keys(config[key], reference[key], f"{where}{key}.", task, model)
    missing = sorted(set(reference.keys()) - set(config.keys()))
    if missing:
        raise ValueError(f"config.{where}{missing[0]}: missing (build configs with "
                         f"audiojax.train.defaults.base_config)")
