"""Keyword spotting on the `commands` corpus with a bidirectional GRU (the article's cell) over
log-mels, mean-pooled over the true frames.

    audiojax train --config experiments/kws_gru.py --workdir runs/kws_gru
    audiojax train --config experiments/kws_gru.py:small --workdir runs/kws_gru_small
    audiojax train --config experiments/kws_gru.py:tiny --workdir /tmp/kws_gru_tiny
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "gru_classifier")
    c.data.source = "commands"
    c.data.max_seconds = 1.0
    c.model.n_mels = 40
    c.model.input_stack = 2          # 20 ms steps
    c.model.hidden = 128
    c.model.layers = 2
    c.model.cell = "article"         # or "flax" (nn.GRUCell) for the ablation
    c.model.time_masks, c.model.time_mask_width = 2, 10
    c.model.freq_masks, c.model.freq_mask_width = 2, 6
    c.schedule = "cosine"
    c.warmup_steps = 200
    c.learning_rate = 2e-3
    c.grad_clip_norm = 1.0
    c.num_epochs = 16.0
    c.label_smoothing = 0.1
    c.augment.speed = (0.88, 1.12)
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.1
    c.augment.noise_prob = 0.3
    if variant == "tiny":
        c.model.hidden, c.model.layers = 16, 1
    return apply_variant(c, variant)
