"""Music style classification on the `styles` corpus (10 s excerpts of music21's scores: Bach
chorales, Palestrina's masses, and reels, jigs and hornpipes, each rendered with random General
MIDI programs, tempi and transpositions; test: pieces never heard, played by a sound font that
shares no sample with the training fonts) with the CNN14-style log-mel CNN of
experiments/instruments_cnn.py.

    make music && audiojax data build styles
    audiojax train --config experiments/styles_cnn.py --workdir runs/styles_cnn
    audiojax train --config experiments/styles_cnn.py:small --workdir runs/styles_cnn_small
    audiojax train --config experiments/styles_cnn.py:tiny --workdir /tmp/styles_cnn_tiny
    audiojax evaluate --workdir runs/styles_cnn --split test

Training crops a random 5 s of each excerpt (rhythm and texture are heard in a few bars);
evaluation scores the whole 10 s. `--config.model.frontend=cqt` for constant-Q bins.
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "logmel_cnn")
    c.data.source = "styles/full"
    c.data.max_seconds = 10.0
    c.data.train_seconds = 5.0
    c.model.n_fft, c.model.win_length, c.model.hop_length = 1024, 640, 320
    c.model.n_mels = 96
    c.model.fmin, c.model.fmax = 30.0, 8000.0
    c.model.channels = (32, 64, 128, 256)
    c.model.convs_per_block = 2
    c.model.time_pooling = "mean"     # a style is in every bar, not in one event
    c.model.time_masks, c.model.time_mask_width = 2, 20
    c.model.freq_masks, c.model.freq_mask_width = 2, 8
    c.mixup = 0.2
    c.augment.gain_db = 6.0
    c.batch_size = 32
    c.learning_rate = 1e-3
    c.schedule = "cosine"
    c.warmup_steps = 100
    c.num_epochs = 30.0
    c.checkpoint_every_steps = 200
    c.evals.validation.every_steps = 200
    c.best_metric = "validation/accuracy"
    if variant == "tiny":
        c.model.channels = (8, 16)
    elif variant == "small":
        c.model.channels = (16, 32, 64, 128)
    return apply_variant(c, variant)
