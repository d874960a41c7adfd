"""Speech recognition on the `sentences` corpus: log-mel -> pyramidal bidirectional GRU (the
article's cell) -> GRU decoder with location-aware additive attention -> characters.

    audiojax train --config experiments/asr_attention.py --workdir runs/asr_attention
    audiojax evaluate --workdir runs/asr_attention --split test        # beam 4: CER, WER, PNGs
    audiojax transcribe --workdir runs/asr_attention some.wav
    audiojax train --config experiments/asr_attention.py:small --workdir runs/asr_attention_small
    audiojax train --config experiments/asr_attention.py:tiny --workdir /tmp/asr_tiny

Held-out voices (and the real speech it is meant for) differ from the training voices in pitch,
vocal-tract length, rate, channel and noise; against that: speed perturbation, level and noise
augmentation on the waveform, per-utterance mean normalization of the log-mels, SpecAugment,
dropout between encoder layers, label smoothing.

An intermediate CTC loss (weight 0.3, first encoder layer) trains beside the attention decoder,
meant to teach the encoder to locate characters sooner; in the full run it did not change the
first 2000 steps' validation CER (experiments/README.md: 56.0% test CER after 6000 steps).
"""

import ml_collections

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "asr"
    c.data.source = "sentences"
    c.data.max_seconds = 9.0         # above the longest utterance: ASR must never crop
    # Batches padded to 2.5/3.5/5/9 s by length (median 2.6 s): 1.24x the true audio, not 3.4x.
    c.data.bucket_seconds = (2.5, 3.5, 5.0)
    c.max_label_length = 120         # characters + EOS; longer transcripts are refused
    c.model.name = "recognizer"
    c.model.n_mels = 80
    c.model.input_stack = 3          # 30 ms frames into the encoder ...
    c.model.encoder_hidden = 192
    c.model.encoder_layers = 3
    c.model.reductions = 2           # ... 120 ms encoder steps
    c.model.cell = "article"         # or "flax" (nn.GRUCell) for the ablation
    c.model.dropout = 0.15
    c.model.decoder_hidden = 256
    c.model.embed_dim = 64
    c.model.attention_units = 128
    c.model.location_filters = 8     # 0: content-only attention (ablation)
    c.model.location_kernel = 15
    c.model.ctc_layer = 0            # a CTC head on the first encoder layer (30 ms) ...
    c.ctc_weight = 0.3               # ... weighted against the attention decoder's loss
    c.model.time_masks, c.model.time_mask_width = 2, 20
    c.model.freq_masks, c.model.freq_mask_width = 2, 12
    c.scheduled_sampling = 0.0       # share of decoder inputs taken from the model's own argmax
    c.label_smoothing = 0.1
    c.decode = ml_collections.ConfigDict(dict(beam_width=4, length_penalty=1.0, max_ratio=3.0))
    c.augment.speed = (0.9, 1.1)
    c.augment.gain_db = 6.0
    c.augment.noise_prob = 0.3
    c.augment.snr_db = (10.0, 30.0)
    c.optimizer = "adam"
    c.learning_rate = 1e-3
    c.schedule = "cosine"
    c.warmup_steps = 300
    c.grad_clip_norm = 1.0
    c.batch_size = 32
    # About 0.7 s per step of 32 length-bucketed utterances on the 2-core CPU (2.2 s padded to
    # 9 s): 6000 steps (27 epochs of the full corpus) and 6 beam-4 validations fit in 2 hours.
    c.num_train_steps = 6000
    c.log_every_steps = 50
    c.eval_every_steps = 1000
    c.checkpoint_every_steps = 1000
    c.best_metric = "cer"
    c.best_mode = "min"
    if variant == "tiny":
        c.model.n_mels = 20
        c.model.encoder_hidden = c.model.decoder_hidden = 16
        c.model.encoder_layers, c.model.reductions = 2, 1
        c.model.embed_dim = c.model.attention_units = 8
        c.model.location_filters = 2
        c.decode.beam_width = 2
    c = apply_variant(c, variant)
    if variant == "tiny":  # 6 training utterances: both buckets must hold a whole batch
        c.data.bucket_seconds = (3.0,)
        c.batch_size = 2
    if variant == "small":  # ASR needs more steps than the 10-minute KWS job
        c.num_train_steps = 1500
        c.warmup_steps = 200
        c.eval_every_steps = c.checkpoint_every_steps = 250
    return c
