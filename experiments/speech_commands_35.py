"""Keyword spotting on Google Speech Commands v0.02, all 35 words (no `_silence_` or
`_unknown_`), read from the extracted release through manifests, with BC-ResNet-8 and the recipe
of experiments/speech_commands_12.py.

    tar -xzf speech_commands_v0.02.tar.gz -C ~/data/speech_commands_v0.02
    audiojax data import speech_commands ~/data/speech_commands_v0.02   # -> $AUDIOJAX_DATA/speech_commands
    audiojax train --config experiments/speech_commands_35.py --workdir runs/speech_commands_35
    audiojax evaluate --workdir runs/speech_commands_35 --split test
    audiojax train --config experiments/speech_commands_35.py:tiny --workdir /tmp/sc35_tiny

`data import` writes `train/validation/test.tsv` (`path<TAB>word<TAB>speaker`) and `info.json`
(the 35 words) from the release's validation_list.txt and testing_list.txt; train is every
other clip, `_background_noise_/` left out. Evaluation then reports accuracy per speaker too.
Manifests elsewhere: ``--config.data.source=manifest:FOLDER`` (the folder given to
``--output``).
"""

from pathlib import Path

from audiojax.config import load_module
from audiojax.data import default_data_dir


def get_config(variant=None):
    speech_commands = load_module(Path(__file__).with_name("speech_commands_12.py"))
    return speech_commands.speech_commands_config(
        f"manifest:{default_data_dir() / 'speech_commands'}", variant)
