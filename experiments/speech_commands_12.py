"""Keyword spotting on Google Speech Commands v0.02, the 12-class task (down, go, left, no, off,
on, right, stop, up, yes, `_silence_`, `_unknown_`: the other 25 words), from the TFDS catalog
dataset `speech_commands` (`tfds:speech_commands`), with BC-ResNet-8 and the BC-ResNet recipe
of experiments/kws_bc_resnet.py.

    tfds build speech_commands --file_format=array_record   # once, with internet: TFDS's data dir
    audiojax train --config experiments/speech_commands_12.py --workdir runs/speech_commands_12
    audiojax evaluate --workdir runs/speech_commands_12 --split test
    audiojax train --config experiments/speech_commands_12.py:small --workdir runs/sc12_small
    audiojax train --config experiments/speech_commands_12.py:tiny --workdir /tmp/sc12_tiny

Reading the catalog's audio needs TensorFlow (``pip install 'audiojax[catalog]'``). TFDS's
splits follow the release's lists: `test` is the separate 12-class test set (its own
`_silence_` clips), `validation` the clips of validation_list.txt, `train` every other clip,
with the 25 other words at their natural frequency (most of the split, where Google's
reference pipeline samples `_unknown_` and `_silence_` at about a tenth each) and `_silence_`
as 1 s windows of the `_background_noise_` recordings every 0.5 s.

Variants: none, BC-ResNet-8 (321k parameters, the published 98.7% is for this width) for 40
epochs; ``small``, the BC-ResNet recipe's small model and 600 steps; ``tiny``, seconds (the
tests run it on ``tfds.testing.mock_data``).
"""

from pathlib import Path

from audiojax.config import load_module


def speech_commands_config(source: str, variant=None):
    """The BC-ResNet recipe and its variant on a Speech Commands ``source``; BC-ResNet-8 for
    40 epochs at full size."""
    bc_resnet = load_module(Path(__file__).with_name("kws_bc_resnet.py"))
    c = bc_resnet.get_config(variant)
    c.data.source = source
    if variant is None:
        c.model.width = 8.0
        c.num_epochs = 40.0              # about 53k steps of 64 clips
        c.evals.validation.every_steps = c.checkpoint_every_steps = 2000
    return c


def get_config(variant=None):
    return speech_commands_config("tfds:speech_commands", variant)
