"""Streaming keyword spotting (wake words): a causal model (audiojax/models/streaming_kws.py:
causal PCEN log-mel, dilated causal convolutions, per-frame scores pooled over the clip) that
runs chunk by chunk with carried state, so the model trained on clips listens to a stream with
the same parameters. It trains on the `commands` clips and the `streams` corpus's clips of
nothing (`_background_`: pooled by its least frame, so a clip of nothing holds it at every
frame) and of other words (`_unknown_`), and its checkpoints are ranked by the miss rate at
1 false alarm per hour on the validation recordings (thresholds tuned there). No centring of
the word: a stream has none, so training moves the word around the window instead.

    audiojax train --config experiments/kws_streaming.py --workdir runs/kws_streaming
    audiojax train --config experiments/kws_streaming.py:small --workdir runs/kws_streaming_small
    audiojax train --config experiments/kws_streaming.py:tiny --workdir /tmp/kws_streaming_tiny
    audiojax evaluate --workdir runs/kws_streaming --events ~/.cache/audiojax/streams/events_test.tsv
    audiojax listen --workdir runs/kws_streaming --keywords marvin recording.wav
"""

from audiojax.evaluators import evaluator
from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("classification", "streaming_kws")
    c.data.source = "commands+streams"
    # Detection on the validation recordings, thresholds tuned on them (test: --events).
    c.evals.streams = evaluator("validation", kind="events", tune="self")
    c.best_metric = "streams/miss_rate_at_1"
    c.best_mode = "min"
    c.data.max_seconds = 1.0
    c.model.channels = 64
    c.model.dilations = (1, 2, 4, 8, 16, 32)      # receptive field 127 frames, 1.27 s
    c.model.gru_units = 0                         # e.g. 64: a GRU after the convolutions
    c.model.pooling = "max"
    c.model.window = 50                           # a stream scored by its last 0.5 s as a clip
    c.model.time_masks, c.model.time_mask_width = 2, 10
    c.model.freq_masks, c.model.freq_mask_width = 2, 5
    c.optimizer = "adamw"
    c.weight_decay = 1e-3
    c.learning_rate = 3e-3
    c.schedule = "cosine"
    c.warmup_steps = 200
    c.grad_clip_norm = 1.0
    c.num_epochs = 16.0
    c.label_smoothing = 0.1
    c.augment.speed = (0.88, 1.12)
    c.augment.gain_db = 10.0                      # PCEN normalizes level; this tests it
    c.augment.max_shift_seconds = 0.15
    c.augment.noise_prob = 0.3
    c.augment.room_prob = 0.3
    if variant == "tiny":
        c.model.channels, c.model.dilations = 16, (1, 2)
        c.augment.rooms = 8
    return apply_variant(c, variant)
