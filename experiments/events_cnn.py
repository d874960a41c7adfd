"""Sound event classification on the `events` corpus (5 s clips of recorded sound effects and
drum-kit pieces, 28 classes, ESC-50 style folds by source) with a CNN14-style log-mel CNN:
two 3x3 convolutions per block, max+mean pooling over time, mixup and SpecAugment.

    make sounds && audiojax data build events
    audiojax train --config experiments/events_cnn.py --workdir runs/events_cnn
    audiojax train --config experiments/events_cnn.py:small --workdir runs/events_cnn_small
    audiojax train --config experiments/events_cnn.py:tiny --workdir /tmp/events_cnn_tiny
    audiojax evaluate --workdir runs/events_cnn --split test

The source is fold 1's split (test fold 1, validation fold 2); launch/events_folds.py runs the
five folds' cross-validation. No noise augmentation from the noise corpora: they draw on the
same packages, and a test fold's sources must stay unheard.
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "logmel_cnn")
    c.data.source = "events/full/fold1"
    c.data.max_seconds = 5.0
    # 20 ms frames: 250 of them over the 5 s clip (events last longer than phones).
    c.model.n_fft, c.model.win_length, c.model.hop_length = 1024, 640, 320
    c.model.n_mels = 64
    c.model.fmax = 8000.0
    c.model.channels = (32, 64, 128, 256)
    c.model.convs_per_block = 2
    c.model.time_pooling = "max_mean"    # or "attention", "mean"
    c.model.utterance_norm = True
    c.model.time_masks, c.model.time_mask_width = 2, 20
    c.model.freq_masks, c.model.freq_mask_width = 2, 8
    c.mixup = 0.4
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.5
    c.batch_size = 32
    c.learning_rate = 1e-3
    c.schedule = "cosine"
    c.warmup_steps = 100
    c.num_epochs = 60.0
    c.checkpoint_every_steps = 200
    c.evals.validation.every_steps = 200
    c.best_metric = "validation/mean_average_precision"
    if variant == "tiny":
        c.model.channels = (8, 16)       # compiles in a second
    elif variant == "small":
        c.model.channels = (16, 32, 64, 128)   # 600 steps in about 20 minutes on 2 cores
    return apply_variant(c, variant)
