"""Instrument family classification on the `instruments` corpus (2 s notes and phrases of 12
families rendered from General MIDI sound fonts; test: a font that shares no sample with the
training fonts, validation: programs held out of training) with the CNN14-style log-mel CNN of
experiments/events_cnn.py.

    make music && audiojax data build instruments
    audiojax train --config experiments/instruments_cnn.py --workdir runs/instruments_cnn
    audiojax train --config experiments/instruments_cnn.py:small --workdir runs/instruments_cnn_small
    audiojax train --config experiments/instruments_cnn.py:tiny --workdir /tmp/instruments_cnn_tiny
    audiojax evaluate --workdir runs/instruments_cnn --split test

`--config.model.frontend=cqt` swaps the log-mel front-end for constant-Q bins (80 semitones
from C2: each harmonic of a note in the bin of its pitch, at every pitch; its 16,384-point FFT
makes it about 15x the log-mel's cost). Per pitch range results come with the evaluation
(`per_condition`). Augmentation: gain, a shift in time and SpecAugment, no speed change (it
would move the pitch out of the family's range).
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "logmel_cnn")
    c.data.source = "instruments/full"
    c.data.max_seconds = 2.0
    # 20 ms frames; mel bands from 30 Hz (a low E of a bass is 41 Hz).
    c.model.n_fft, c.model.win_length, c.model.hop_length = 1024, 640, 320
    c.model.n_mels = 96
    c.model.fmin, c.model.fmax = 30.0, 8000.0
    c.model.cqt_fmin, c.model.cqt_bins = 65.4, 80
    c.model.channels = (32, 64, 128, 256)
    c.model.convs_per_block = 2
    c.model.time_pooling = "max_mean"
    c.model.time_masks, c.model.time_mask_width = 2, 10
    c.model.freq_masks, c.model.freq_mask_width = 2, 8
    c.mixup = 0.2
    c.augment.gain_db = 6.0
    c.augment.max_shift_seconds = 0.2
    c.batch_size = 32
    c.learning_rate = 1e-3
    c.schedule = "cosine"
    c.warmup_steps = 100
    c.num_epochs = 20.0
    c.checkpoint_every_steps = 200
    c.evals.validation.every_steps = 200
    c.best_metric = "validation/accuracy"
    if variant == "tiny":
        c.model.channels = (8, 16)
    elif variant == "small":
        c.model.channels = (16, 32, 64, 128)
    return apply_variant(c, variant)
