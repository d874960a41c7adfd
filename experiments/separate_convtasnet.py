"""Two-talker separation on the `separate` corpus (WSJ0-2mix style, 8 kHz, min: held-out
voices) with Conv-TasNet (audiojax/models/separation.py), trained on the permutation-invariant
negative SI-SDR; the recipe of experiments/enhance_mask_gru.py, checkpoints ranked by SI-SDRi on
the validation mixtures. The default size is the CPU one (323k parameters); the paper's (4.9M) is
`--config.model.N=512 --config.model.B=128 --config.model.H=512 --config.model.Sc=128
--config.model.X=8 --config.model.R=3`. The corpus's other versions are data sources of their
own: `--config.data.source=separate/full/wav16k/min --config.data.sample_rate=16000`, and
`separate/full/wav8k/min_noisy` (WHAM-style noise).

    audiojax data build separate --size small
    audiojax train --config experiments/separate_convtasnet.py:small --workdir runs/separate_convtasnet_small
    audiojax train --config experiments/separate_convtasnet.py:tiny --workdir /tmp/separate_convtasnet_tiny
    audiojax evaluate --workdir runs/separate_convtasnet_small --split test
    audiojax separate --workdir runs/separate_convtasnet_small --out separated/ two_talkers.wav
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.train.defaults import apply_variant

_recipe = load_module(Path(__file__).with_name("enhance_mask_gru.py"))
_tasnet = load_module(Path(__file__).with_name("enhance_convtasnet.py"))


def separate_config(model):
    """The enhancement recipe for separation: the `separate` corpus at 8 kHz, trained on random
    2 s crops in batches of 8 (8x Conv-TasNet's receptive field at this size, 0.25 s; whole
    mixtures in batches of 16 cost 4x more per step on a CPU), evaluated on whole mixtures."""
    c = _recipe.enhance_config(model, task="separation", source="separate")
    c.data.sample_rate = 8000
    c.data.train_seconds = 2.0
    c.batch_size = 8
    return c


def get_config(variant=None):
    c = separate_config("conv_tasnet")
    if variant == "tiny":
        _tasnet.tiny_model(c)
        _recipe.enhance_tiny(c)
    return apply_variant(c, variant)
