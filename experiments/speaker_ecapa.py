"""Speaker recognition on the `speakers` corpus with ECAPA-TDNN (SE-Res2Net blocks, multi-layer
feature aggregation, attentive statistics pooling: audiojax/models/speaker.py) and an additive
angular margin softmax; checkpoints ranked by EER on the validation voices' trials.

    audiojax train --config experiments/speaker_ecapa.py --workdir runs/speaker_ecapa
    audiojax train --config experiments/speaker_ecapa.py:small --workdir runs/speaker_ecapa_small
    audiojax train --config experiments/speaker_ecapa.py:tiny --workdir /tmp/speaker_ecapa_tiny
    audiojax evaluate --workdir runs/speaker_ecapa_small --split test --as-norm true
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.train.defaults import apply_variant

speaker_config = load_module(Path(__file__).with_name("speaker_xvector.py")).speaker_config


def get_config(variant=None):
    c = speaker_config("ecapa_tdnn")
    c.model.channels = 512
    c.model.mfa_channels = 1536
    if variant == "tiny":
        c.model.channels = 16
        c.model.scale = 4
        c.model.se_channels = 8
        c.model.attention_channels = 8
        c.model.mfa_channels = 48
        c.model.embedding_dim = 16
        c.speaker.margin_warmup_steps = 0
    elif variant == "small":
        c.model.channels = 128
        c.model.mfa_channels = 384
        c.model.embedding_dim = 128
    return apply_variant(c, variant)
