"""Keyword spotting on the `commands` corpus with BC-ResNet (audiojax/models/bc_resnet.py), each
window centred on its word by energy (audiojax/data/placement.py) in training, evaluation and
`audiojax predict`.

    audiojax train --config experiments/kws_bc_resnet.py --workdir runs/kws_bc_resnet
    audiojax train --config experiments/kws_bc_resnet.py:small --workdir runs/kws_bc_resnet_small
    audiojax train --config experiments/kws_bc_resnet.py:tiny --workdir /tmp/kws_bc_resnet_tiny
    audiojax evaluate --workdir runs/kws_bc_resnet --checkpoint best --split test_clean
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "bc_resnet")
    c.data.source = "commands"
    c.data.max_seconds = 1.0
    c.data.center = "energy"
    c.model.width = 3.0                  # BC-ResNet-3: 54k parameters
    c.optimizer = "adamw"
    c.weight_decay = 1e-3
    c.learning_rate = 5e-3
    c.schedule = "cosine"
    c.warmup_steps = 50
    c.num_epochs = 16.0
    c.label_smoothing = 0.1
    c.model.dropout = 0.0
    # Speed perturbation (vocal-tract length and pitch), level, a small shift around the
    # centred word. The log-mel CNN's noise and SpecAugment on top cost this small model 14
    # points of held-out accuracy in 600 steps (experiments/README.md).
    c.augment.speed = (0.88, 1.12)
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.05
    if variant == "tiny":
        c.model.width = 1.0
    elif variant == "small":
        c.model.width = 2.0              # 27k parameters: 600 steps in about 10 minutes here
    return apply_variant(c, variant)
