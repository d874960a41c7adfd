"""Sound event detection on the `soundscapes` corpus (10 s scenes of 1-5 recorded sound events
of 28 classes over noise and synthesized speech; test scenes from sources never heard in
training) with a CRNN: four conv blocks, the article's bidirectional GRU, frame-level sigmoid
outputs, median-filtered and thresholded into events.

    make sounds && audiojax data build soundscapes
    audiojax train --config experiments/sed_crnn.py --workdir runs/sed_crnn
    audiojax train --config experiments/sed_crnn.py:small --workdir runs/sed_crnn_small
    audiojax train --config experiments/sed_crnn.py:tiny --workdir /tmp/sed_crnn_tiny
    audiojax evaluate --workdir runs/sed_crnn --split test
    audiojax evaluate --workdir runs/sed_crnn --events my_scenes/events.tsv

Checkpoints are ranked by validation event-based macro F1 (200 ms onset collar, offset collar
max(200 ms, 20% of the event's length)).
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("sed", "crnn")
    c.data.source = "soundscapes/full"
    c.data.max_seconds = 10.0
    # 20 ms STFT frames, pooled to 80 ms output frames.
    c.model.n_fft, c.model.win_length, c.model.hop_length = 1024, 640, 320
    c.model.n_mels = 64
    c.model.channels = (32, 64, 128, 128)
    c.model.time_pools = (2, 2, 1, 1)
    c.model.gru_hidden, c.model.gru_layers = 96, 2
    c.model.dropout = 0.2
    c.model.time_masks, c.model.time_mask_width = 2, 20
    c.model.freq_masks, c.model.freq_mask_width = 2, 8
    c.augment.gain_db = 6.0
    c.sed.median_seconds = 0.24
    c.sed.positive_weight = 4.0   # about 3% of frame-class pairs are active
    c.batch_size = 16
    c.learning_rate = 2e-3
    c.schedule = "cosine"
    c.warmup_steps = 100
    c.num_epochs = 30.0
    c.checkpoint_every_steps = 200
    c.evals.validation.every_steps = 200
    c.best_metric = "validation/event_macro_f1"
    if variant == "tiny":
        c.model.channels, c.model.gru_hidden, c.model.gru_layers = (8, 8, 8, 8), 8, 1
    elif variant == "small":
        c.model.channels, c.model.gru_hidden = (16, 32, 64, 64), 64
    return apply_variant(c, variant)
