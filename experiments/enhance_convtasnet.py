"""Speech enhancement on the `enhance` corpus with Conv-TasNet (learned encoder and decoder, a
temporal convolutional separator: audiojax/models/separation.py), trained on the negative
SI-SDR; the recipe of experiments/enhance_mask_gru.py. The default size is the CPU one (well
under 1M parameters: 323k); `--config.model.N=512 --config.model.B=128 --config.model.H=512
--config.model.Sc=128 --config.model.X=8 --config.model.R=3` is the paper's (4.9M), for an
accelerator.

    audiojax train --config experiments/enhance_convtasnet.py:small --workdir runs/enhance_convtasnet_small
    audiojax train --config experiments/enhance_convtasnet.py:tiny --workdir /tmp/enhance_convtasnet_tiny
    audiojax evaluate --workdir runs/enhance_convtasnet_small --split test
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.train.defaults import apply_variant

_recipe = load_module(Path(__file__).with_name("enhance_mask_gru.py"))


def tiny_model(c):
    """The tiny variant's Conv-TasNet (also experiments/separate_convtasnet.py's)."""
    c.model.N = 16
    c.model.B = 8
    c.model.H = 16
    c.model.X = 2
    c.model.R = 1
    c.model.Sc = 8


def get_config(variant=None):
    c = _recipe.enhance_config("conv_tasnet")
    if variant == "tiny":
        tiny_model(c)
        _recipe.enhance_tiny(c)
    return apply_variant(c, variant)
