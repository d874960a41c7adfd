"""Speaker recognition on the `speakers` corpus with the article's GRU and attentive statistics
pooling (audiojax/models/speaker.py), trained with an additive angular margin softmax.

    audiojax train --config experiments/speaker_gru.py --workdir runs/speaker_gru
    audiojax train --config experiments/speaker_gru.py:small --workdir runs/speaker_gru_small
    audiojax train --config experiments/speaker_gru.py:tiny --workdir /tmp/speaker_gru_tiny
    audiojax evaluate --workdir runs/speaker_gru_small --split test
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.train.defaults import apply_variant

speaker_config = load_module(Path(__file__).with_name("speaker_xvector.py")).speaker_config


def get_config(variant=None):
    c = speaker_config("speaker_gru")
    if variant == "tiny":
        c.model.hidden = 16
        c.model.layers = 1
        c.model.attention_channels = 8
        c.model.embedding_dim = 16
        c.speaker.margin_warmup_steps = 0
    elif variant == "small":
        c.model.hidden = 128             # one recurrent step per 20 ms: a CPU's budget
    return apply_variant(c, variant)
