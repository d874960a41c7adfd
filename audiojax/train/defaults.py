"""Trainer defaults that every experiment file starts from (then sets its task, data, model)."""

from __future__ import annotations

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.task = "classification"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.source = "commands"       # local corpus NAME[/SIZE], a .tsv manifest, or tfds:NAME
    c.data.data_dir = ""             # "" -> $AUDIOJAX_DATA or ~/.cache/audiojax
    c.data.build_seed = 0            # seed of a local corpus built on first use
    c.data.train_voices = 1.0        # < 1: train on that fraction of the voice groups (local corpora)
    c.data.train_voices_seed = 0     # which groups (subsets of one seed are nested)
    c.data.sample_rate = 16000       # Hz
    c.data.max_seconds = 4.0         # crop/pad length (the article's max_length = 4 s)
    c.data.bucket_seconds = ()       # length buckets below max_seconds (audiojax.data.buckets)
    c.data.num_workers = 2           # grain worker processes for the training loader
    c.data.on_bad = "error"          # or "skip": skip bad examples and report them at the end

    c.model = ml_collections.ConfigDict()
    c.model.name = "waveform_cnn"

    # Optimization (optax).
    c.optimizer = "adam"
    c.learning_rate = 1e-3
    c.weight_decay = 0.0
    c.schedule = "constant"          # constant | step (x decay_rate every decay_epochs) | cosine
    c.decay_epochs = 10.0
    c.decay_rate = 0.8
    c.warmup_steps = 0
    c.grad_clip_norm = 0.0           # 0: no clipping
    c.label_smoothing = 0.0
    c.compute_dtype = "float32"      # or bfloat16 (parameters stay float32)

    c.batch_size = 64                # global, over all devices and processes
    c.num_epochs = 10.0
    c.num_train_steps = -1           # > 0 overrides num_epochs
    c.parallel = "jit"               # jit (sharded on a 'data' mesh axis) | pmap

    c.augment = ml_collections.ConfigDict()
    # On-device waveform augmentation in the train step (audiojax.data.augment).
    c.augment.gain_db = 0.0          # random gain in [-gain_db, gain_db]
    c.augment.max_shift_seconds = 0.0  # random time shift within the true length
    c.augment.noise_prob = 0.0       # share of examples that get white noise ...
    c.augment.snr_db = (5.0, 30.0)   # ... at an SNR uniform in this range
    c.augment.speed = (1.0, 1.0)     # speed (pitch, formants, duration) factor range; 1: none

    c.log_every_steps = 50
    c.eval_every_steps = 500
    c.checkpoint_every_steps = 500
    c.keep_checkpoints = 2           # latest ones kept, besides the best
    c.eval_split = "validation"
    c.best_metric = "accuracy"
    c.best_mode = "max"
    return c


def apply_variant(c: ml_collections.ConfigDict, variant: str | None) -> ml_collections.ConfigDict:
    """Shared size variants of an experiment on a local corpus (``c.data.source``):

    - ``tiny``: the tiny corpus, 6 steps of batch 8: seconds on a CPU; what the tests run.
    - ``small``: the small corpus (about 3k training clips) for about 10 minutes on a 2-core CPU:
      the README's main job and the ablations.
    - None: the full corpus, the experiment's own schedule.
    """
    name = c.data.source.partition("/")[0]
    if variant == "tiny":
        c.data.source = f"{name}/tiny"
        c.data.num_workers = 0
        c.batch_size = 8
        c.num_train_steps = 6
        c.warmup_steps = 0
        c.log_every_steps = 2
        c.eval_every_steps = 3
        c.checkpoint_every_steps = 3
    elif variant == "small":
        c.data.source = f"{name}/small"
        c.num_train_steps = 600
        c.log_every_steps = 20
        c.eval_every_steps = 100
        c.checkpoint_every_steps = 100
    elif variant is not None:
        raise ValueError(f"unknown variant {variant!r}; known: tiny, small")
    return c
