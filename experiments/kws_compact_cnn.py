"""Keyword spotting on the `commands` corpus with a compact log-mel CNN (about 120k parameters),
each window centred on its word by energy: the recipe that `make main` trains.

The log-mel CNN of experiments/kws_logmel_cnn.py at a quarter of its width (40 mel bands,
channels 16-32-64-128, per-utterance mean normalization), trained as BC-ResNet is
(experiments/kws_bc_resnet.py): speed, level and a small shift around the centred word, no
added noise or SpecAugment (the corpus's recordings hold rooms, noise and channels already).

    audiojax train --config experiments/kws_compact_cnn.py --workdir runs/kws_compact_cnn
    audiojax train --config experiments/kws_compact_cnn.py:small --workdir runs/kws_compact_cnn_small
    audiojax train --config experiments/kws_compact_cnn.py:tiny --workdir /tmp/kws_compact_tiny
    audiojax evaluate --workdir runs/kws_compact_cnn_small --checkpoint best --split test_clean
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "logmel_cnn")
    c.data.source = "commands"
    c.data.max_seconds = 1.0
    c.data.center = "energy"
    c.model.n_mels = 40
    c.model.channels = (16, 32, 64, 128)
    c.model.hidden = 128
    c.model.utterance_norm = True        # 8 points of validation accuracy at step 500 here
    c.schedule = "cosine"
    c.warmup_steps = 50
    c.learning_rate = 5e-3
    c.num_epochs = 8.0
    c.label_smoothing = 0.1
    c.augment.speed = (0.88, 1.12)
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.05
    c = apply_variant(c, variant)
    if variant == "tiny":
        c.model.channels = (8, 16)       # compiles in a second
    elif variant == "small":
        c.num_train_steps = 1300         # about 11 minutes on 2 CPU cores
    return c
