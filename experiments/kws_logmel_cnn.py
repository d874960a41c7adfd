"""Keyword spotting on the `commands` corpus with a log-mel 2D CNN (features on device).

    audiojax train --config experiments/kws_logmel_cnn.py --workdir runs/kws_logmel_cnn
    audiojax train --config experiments/kws_logmel_cnn.py:small --workdir runs/kws_logmel_cnn_small
    audiojax train --config experiments/kws_logmel_cnn.py:tiny --workdir /tmp/kws_logmel_tiny
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "logmel_cnn")
    c.data.source = "commands"
    c.data.max_seconds = 1.0
    c.model.frontend = "logmel"          # or "mfcc" (launch/kws_frontends.py compares them)
    c.model.n_mels = 64
    c.model.channels = (32, 64, 128, 256)
    c.schedule = "cosine"
    c.warmup_steps = 200
    c.learning_rate = 2e-3
    c.num_epochs = 16.0
    c.label_smoothing = 0.1
    # Against unseen voices and channels: speed (vocal-tract length and pitch) perturbation,
    # per-utterance mean normalization, SpecAugment; level, shift and noise as before.
    c.augment.speed = (0.88, 1.12)
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.1
    c.augment.noise_prob = 0.3
    c.model.utterance_norm = True
    c.model.time_masks, c.model.time_mask_width = 2, 12
    c.model.freq_masks, c.model.freq_mask_width = 2, 8
    if variant == "tiny":
        c.model.channels = (8, 16)       # compiles in a second
    return apply_variant(c, variant)
