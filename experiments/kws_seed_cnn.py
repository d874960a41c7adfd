"""Keyword spotting on the `commands` corpus with the article's raw-waveform CNN and recipe.

The article's classifier (section 5) layer for layer, its recipe: Adam (lr 1e-3), batch 64,
learning rate x0.8 every 10 epochs; here with pooling masked by true lengths.

    audiojax train --config experiments/kws_seed_cnn.py --workdir runs/kws_seed_cnn
    audiojax train --config experiments/kws_seed_cnn.py:small --workdir runs/kws_seed_cnn_small
    audiojax train --config experiments/kws_seed_cnn.py:tiny --workdir /tmp/kws_tiny
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "waveform_cnn")
    c.data.source = "commands"
    c.data.max_seconds = 1.0             # the corpus's clips are 1 s
    c.model.masked_pooling = True        # False: the article's unmasked average
    c.optimizer = "adam"
    c.learning_rate = 1e-3
    c.schedule = "step"                  # x0.8 every 10 epochs (the article's StepLR)
    c.decay_epochs = 10.0
    c.decay_rate = 0.8
    c.batch_size = 64
    c.num_epochs = 12.0
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.1
    c.augment.noise_prob = 0.3
    return apply_variant(c, variant)
