"""Word-conditioned SampleRNN on `commands` (3 tiers: frames of 16 and 4 samples, sample MLP).

    audiojax train --config experiments/samplernn.py --workdir runs/samplernn
    audiojax train --config experiments/samplernn.py:small --workdir runs/samplernn_small
    audiojax train --config experiments/samplernn.py:tiny --workdir /tmp/samplernn_tiny
    audiojax evaluate --workdir runs/samplernn_small --split test      # bits/sample, held-out voices
    audiojax generate --workdir runs/samplernn_small --condition yes --seconds 1 --num 2 --out out/srnn
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("generation", "samplernn")
    c.generation.condition = "label"
    c.data.source = "commands"
    c.data.max_seconds = 0.5             # crops: a multiple of the top frame (16 samples)
    c.model.frame_sizes = (16, 4)
    c.model.hidden = 256
    c.model.embed = 64
    c.model.mlp_hidden = 256
    c.batch_size = 16
    c.learning_rate = 1e-3
    c.grad_clip_norm = 1.0
    c.num_train_steps = 20000
    c.best_metric = "validation/nll_bits_per_sample"
    c.best_mode = "min"
    if variant == "small":
        c.data.max_seconds = 0.25
        c.model.hidden = c.model.mlp_hidden = 128
        c.model.embed = 32
        c.batch_size = 8
    elif variant == "tiny":
        c.data.max_seconds = 0.1
        c.model.hidden = c.model.mlp_hidden = 16
        c.model.embed = 8
    return apply_variant(c, variant)
