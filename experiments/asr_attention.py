"""Speech recognition on the `sentences` corpus: log-mel -> two strided convolutions ->
bidirectional GRU (the article's cell) -> GRU decoder with location-aware additive attention ->
characters, trained jointly with a CTC head on the encoder output; joint CTC-attention beam
search.

    audiojax train --config experiments/asr_attention.py --workdir runs/asr_large
    audiojax evaluate --workdir runs/asr_large --split test   # beam 4 + CTC: CER, WER, PNGs
    audiojax transcribe --workdir runs/asr_large some.wav
    audiojax train --config experiments/asr_attention.py:small --workdir runs/asr_attention_small
    audiojax train --config experiments/asr_attention.py:tiny --workdir /tmp/asr_tiny

The corpus is ``sentences/large`` (built on first use, about 15 min here): the full corpus's
voices with 4x its training recordings (28,160, 21.2 h). On the full corpus's 7,040 the model
learns its recordings by heart (experiments/README.md, `audiojax data cross`); on 4x as many,
in the same 4500 steps, it no longer does (32.7% CER on its training recordings, 34-35% on new
ones of the same voices) and test CER falls from 44.0% to 40.1%.
``--config.data.source=sentences`` is the earlier run.

Encoder frames are 40 ms (2.5 per character at the corpus's median 14.5 characters/s), so the
CTC head can align every transcript (0.6% of utterances are too fast; their CTC term is left
out) and the attention reads the same frames the CTC loss has taught to be about characters.
``guided_attention`` adds a penalty on attention far from the diagonal
(``audiojax.tasks.asr.task.guided_attention_penalty``): the alignment is sharp and monotonic within
600 steps (experiments/figures/asr_alignment_guided.png), where it was still diffuse after 1000.

Dropout, SpecAugment and added noise are off: with them validation CER was 6 points worse
after 1500 steps, and with 4x the recordings there is little memorization left for them to
stop. Against unseen voices the recipe keeps speed perturbation (pitch and vocal-tract
length), level augmentation, per-utterance mean normalization of the log-mels, convolutions
shared across frequency and label smoothing.
"""

from audiojax.train.defaults import apply_variant, base_config


def get_config(variant=None):
    c = base_config("asr", "recognizer")
    c.data.source = "sentences/large"   # 4x the full corpus's training recordings (docstring)
    c.data.max_seconds = 9.0         # above the longest utterance: ASR must never crop
    # Batches padded to 2.5/3.5/5/9 s by length (median 2.6 s): 1.24x the true audio, not 3.4x.
    c.data.bucket_seconds = (2.5, 3.5, 5.0)
    c.max_label_length = 120         # characters + EOS; longer transcripts are refused
    c.model.n_mels = 80
    c.model.conv_channels = (32, 32)  # two stride-2 3x3 convolutions: 40 ms frames ...
    c.model.input_stack = 1
    c.model.encoder_hidden = 192
    c.model.encoder_layers = 3
    c.model.reductions = 0           # ... kept through the encoder (2.5 frames per character)
    c.model.cell = "article"         # or "flax" (nn.GRUCell) for the ablation
    c.model.dropout = 0.0
    c.model.decoder_hidden = 256
    c.model.embed_dim = 64
    c.model.attention_units = 128
    c.model.location_filters = 8     # 0: content-only attention (ablation)
    c.model.location_kernel = 15
    c.model.ctc_layer = 2            # a CTC head on the encoder output the decoder reads ...
    c.ctc_weight = 0.5               # ... weighted against the attention decoder's loss
    c.model.time_masks, c.model.time_mask_width = 0, 20   # SpecAugment off (docstring)
    c.model.freq_masks, c.model.freq_mask_width = 0, 12
    c.guided_attention = 1.0         # weight of the diagonal-attention penalty ...
    c.guided_attention_width = 0.2   # ... and its width, as a share of the utterance
    c.scheduled_sampling = 0.0       # share of decoder inputs taken from the model's own argmax
    c.label_smoothing = 0.1
    # Joint CTC-attention beam search: 0.3 of each hypothesis's score from the CTC head. A
    # character n-gram model (`audiojax lm`, file `lm`) joins with `lm_weight`; it is made
    # after training from the training transcripts, so evaluation sets it (`--lm-weight 0.2`).
    c.decode.beam_width = 4
    c.decode.ctc_weight = 0.3
    c.augment.speed = (0.9, 1.1)
    c.augment.gain_db = 6.0
    c.augment.noise_prob = 0.0
    c.augment.snr_db = (10.0, 30.0)
    c.optimizer = "adam"
    c.learning_rate = 1e-3
    c.schedule = "cosine"
    c.warmup_steps = 300
    c.grad_clip_norm = 1.0
    c.batch_size = 32
    # About 1.1 s per step of 32 length-bucketed utterances on the 2-core CPU: 4500 steps (20
    # epochs of the full corpus) and 5 beam-4 validations fit in 2 hours.
    c.num_train_steps = 4500
    c.log_every_steps = 50
    c.evals.validation.every_steps = 1000
    c.checkpoint_every_steps = 1000
    c.best_metric = "validation/cer"
    c.best_mode = "min"
    if variant == "tiny":
        c.model.n_mels = 20
        c.model.encoder_hidden = c.model.decoder_hidden = 16
        c.model.conv_channels = (4, 4)
        c.model.encoder_layers, c.model.ctc_layer = 2, 1
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
        c.evals.validation.every_steps = c.checkpoint_every_steps = 250
    return c
