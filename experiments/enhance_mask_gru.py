"""Speech enhancement on the `enhance` corpus (sentences with noise at -5..20 dB, held-out
voices and noise sources) with a GRU mask estimator over the STFT (the article's cell;
audiojax/models/separation.py), trained on the negative SI-SDR; checkpoints ranked by SI-SDRi
on the validation mixtures. `enhance_config` is the recipe the other enhancement experiments
share.

    audiojax data build enhance --size small
    audiojax train --config experiments/enhance_mask_gru.py:small --workdir runs/enhance_mask_gru_small
    audiojax train --config experiments/enhance_mask_gru.py:tiny --workdir /tmp/enhance_mask_gru_tiny
    audiojax evaluate --workdir runs/enhance_mask_gru_small --split test
    audiojax enhance --workdir runs/enhance_mask_gru_small --out enhanced/ noisy.wav
    audiojax train --config experiments/enhance_mask_gru.py:small --workdir runs/enhance_mask_gru_causal_small --config.model.causal=True

Dereverberation and denoising (the same pairs, the speech in simulated rooms, the target dry):

    audiojax data build dereverb --size small
    audiojax train --config experiments/enhance_mask_gru.py:small --workdir runs/dereverb_mask_gru_small --config.data.source=dereverb/small
"""

import ml_collections

from audiojax.evaluators import evaluator
from audiojax.train.defaults import apply_variant, base_config


def enhance_config(model, task="enhancement", source="enhance"):
    """The `enhance` corpus, whole sentences in length buckets, Adam with a cosine schedule and gradient
    clipping, validation SI-SDRi ranking checkpoints; enhancement model `model` (the separation
    experiments: `task` separation on the `separate` corpus)."""
    c = base_config(task, model)
    c.data.source = source
    c.data.max_seconds = 8.0           # whole sentences, in length buckets
    c.data.bucket_seconds = (2.0, 3.0, 4.0, 6.0)
    c.batch_size = 16
    c.learning_rate = 1e-3
    c.schedule = "cosine"
    c.warmup_steps = 100
    c.grad_clip_norm = 5.0
    c.num_epochs = 40.0
    c.evals = ml_collections.ConfigDict({"validation": evaluator("validation", every_steps=500)})
    c.best_metric = "validation/si_sdri"
    c.best_mode = "max"
    return c


def enhance_tiny(c):
    """The tiny variant's evaluation and data settings shared by the enhancement experiments."""
    c.enhance.perceptual_stride = 3
    c.enhance.plot_examples = 1
    c.data.bucket_seconds = ()       # 12 training clips: too few for buckets


def get_config(variant=None):
    c = enhance_config("mask_estimator")
    if variant == "tiny":
        c.model.hidden = 16
        c.model.layers = 1
        enhance_tiny(c)
    elif variant == "small":
        c.model.hidden = 96
    return apply_variant(c, variant)
