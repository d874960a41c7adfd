"""Two-talker separation on the `separate` corpus (8 kHz, min) with the GRU mask estimator over
the STFT (the article's cell, bidirectional; 32 ms frames, 16 ms hop at 8 kHz), trained on the
permutation-invariant negative SI-SDR (uPIT): the STFT-mask side of the comparison with
experiments/separate_convtasnet.py (launch/separation_models.py), on the same recipe.

    audiojax train --config experiments/separate_mask_gru.py:small --workdir runs/separate_mask_gru_small
    audiojax train --config experiments/separate_mask_gru.py:tiny --workdir /tmp/separate_mask_gru_tiny
    audiojax evaluate --workdir runs/separate_mask_gru_small --split test
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.train.defaults import apply_variant

_separate = load_module(Path(__file__).with_name("separate_convtasnet.py"))
_recipe = load_module(Path(__file__).with_name("enhance_mask_gru.py"))


def get_config(variant=None):
    c = _separate.separate_config("mask_estimator")
    c.model.n_fft = 256
    c.model.hidden = 16 if variant == "tiny" else 128
    if variant == "tiny":
        c.model.layers = 1
        _recipe.enhance_tiny(c)
    return apply_variant(c, variant)
