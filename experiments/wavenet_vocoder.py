"""WaveNet vocoder on `sentences`: local conditioning on log-mel frames (80 bands, 10 ms hop)
upsampled to 16 kHz by learned transposed convolutions (strides 10 x 16).

    audiojax train --config experiments/wavenet_vocoder.py --workdir runs/wavenet_vocoder
    audiojax train --config experiments/wavenet_vocoder.py:small --workdir runs/wavenet_vocoder_small
    audiojax train --config experiments/wavenet_vocoder.py:tiny --workdir /tmp/wavenet_vocoder_tiny
    audiojax generate --workdir runs/wavenet_vocoder_small --mel-from some.wav --out out/vocoded
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.train.defaults import apply_variant


def get_config(variant=None):
    wavenet = load_module(Path(__file__).with_name("wavenet.py"))  # its shared WaveNet setup
    c = wavenet.wavenet_config("sentences", "mel")
    c.model.upsample_factors = (10, 16)
    c.model.local_channels = 32
    if variant == "tiny":
        wavenet.tiny_model(c)
    elif variant == "small":
        wavenet.small_model(c, max_seconds=0.25)
        c.batch_size = 4
    return apply_variant(c, variant)
