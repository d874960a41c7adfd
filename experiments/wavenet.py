"""Word-conditioned WaveNet on `commands`: 8-bit mu-law, global conditioning on the word.

    audiojax train --config experiments/wavenet.py --workdir runs/wavenet
    audiojax train --config experiments/wavenet.py:small --workdir runs/wavenet_small
    audiojax train --config experiments/wavenet.py:tiny --workdir /tmp/wavenet_tiny
    audiojax evaluate --workdir runs/wavenet_small --split test      # bits/sample, held-out voices
    audiojax generate --workdir runs/wavenet_small --condition yes --seconds 1 --num 2 --out out/yes
"""

from audiojax.train.defaults import apply_variant, base_config


def wavenet_config(source: str, condition: str):
    """The shared WaveNet setup of the generation experiments."""
    c = base_config("generation", "wavenet")
    c.generation.condition = condition
    c.data.source = source
    c.data.max_seconds = 0.5           # training crops (random in train, centred in eval)
    c.model.output = "categorical"
    c.model.layers_per_stack = 10
    c.model.num_stacks = 2
    c.model.residual_channels = 64
    c.model.gate_channels = 64
    c.model.skip_channels = 128
    c.batch_size = 16
    c.learning_rate = 1e-3
    c.grad_clip_norm = 1.0
    c.num_train_steps = 20000
    c.best_metric = "validation/nll_bits_per_sample"
    c.best_mode = "min"
    return c


def small_model(c, max_seconds: float = 0.125):
    """What trains for a few minutes on a 2-core CPU: 2 x 8 layers (receptive field 512
    samples), 32 channels, batches of 8 short crops."""
    c.data.max_seconds = max_seconds
    c.model.layers_per_stack = 8
    c.model.residual_channels = c.model.gate_channels = 32
    c.model.skip_channels = 64
    c.batch_size = 8


def tiny_model(c):
    """Seconds on a CPU: 2 x 3 layers, 16 channels, 0.1 s crops."""
    c.data.max_seconds = 0.1
    c.model.layers_per_stack = 3
    c.model.residual_channels = c.model.gate_channels = c.model.skip_channels = 16


def get_config(variant=None):
    c = wavenet_config("commands", "label")
    if variant == "tiny":
        tiny_model(c)
    elif variant == "small":
        small_model(c)
    return apply_variant(c, variant)
