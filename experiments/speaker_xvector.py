"""Speaker recognition on the `speakers` corpus with an x-vector TDNN (audiojax/models/speaker.py)
and an additive angular margin softmax; checkpoints ranked by EER on the validation voices'
trials. `speaker_config` is the recipe the other speaker experiments share.

    audiojax train --config experiments/speaker_xvector.py --workdir runs/speaker_xvector
    audiojax train --config experiments/speaker_xvector.py:small --workdir runs/speaker_xvector_small
    audiojax train --config experiments/speaker_xvector.py:tiny --workdir /tmp/speaker_xvector_tiny
    audiojax evaluate --workdir runs/speaker_xvector_small --split test
    audiojax verify --workdir runs/speaker_xvector_small A.wav B.wav
"""

import ml_collections

from audiojax.evaluators import evaluator
from audiojax.train.defaults import apply_variant, base_config


def speaker_config(model):
    """The `speakers` corpus, 2 s training crops, speakers played 0.9 and 1.1 times as fast as
    more training speakers, validation trials ranking checkpoints by EER, identification of the
    training speakers' held-out utterances; embedder `model`."""
    c = base_config("speaker", model)
    c.data.source = "speakers"
    c.data.max_seconds = 2.0           # training crops (random); trials embed whole utterances
    c.optimizer = "adamw"
    c.weight_decay = 1e-4
    c.learning_rate = 2e-3
    c.schedule = "cosine"
    c.warmup_steps = 100
    c.num_epochs = 30.0
    c.speaker.margin = 0.2
    c.speaker.scale = 30.0
    c.speaker.margin_warmup_steps = 500
    c.speaker.speed_speakers = (0.9, 1.1)  # sped-up copies are speakers too (wespeaker's recipe)
    c.augment.gain_db = 6.0
    c.evals = ml_collections.ConfigDict({
        "validation": evaluator("validation", every_steps=500, kind="trials"),
        "identification": evaluator("identification", every_steps=500),
    })
    c.best_metric = "validation/eer"
    c.best_mode = "min"
    return c


def get_config(variant=None):
    c = speaker_config("xvector")
    if variant == "tiny":
        c.model.channels = (16, 16, 16, 16)
        c.model.pooling_channels = 32
        c.model.embedding_dim = 16
        c.speaker.margin_warmup_steps = 0
    elif variant == "small":
        c.model.channels = (256, 256, 256, 256)
        c.model.pooling_channels = 768
        c.model.embedding_dim = 128
    return apply_variant(c, variant)
