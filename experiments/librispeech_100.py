"""Speech recognition on LibriSpeech, trained on train-clean-100 (100 h, 251 readers), from the
TFDS catalog dataset `librispeech` (`tfds:librispeech`), with the attention recognizer and
recipe of experiments/asr_attention.py (joint CTC, guided attention, joint beam search),
larger and with SpecAugment on.

    tfds build librispeech --file_format=array_record   # once, with internet: TFDS's data dir
    audiojax train --config experiments/librispeech_100.py --workdir runs/librispeech_100
    audiojax evaluate --workdir runs/librispeech_100 --split test_clean   # and --split test_other
    audiojax train --config experiments/librispeech_100.py:small --workdir runs/librispeech_small
    audiojax train --config experiments/librispeech_100.py:tiny --workdir /tmp/librispeech_tiny

Reading the catalog's audio needs TensorFlow (``pip install 'audiojax[catalog]'``). The run's
training split is ``data.train_split`` (``train_clean100+train_clean360`` is a TFDS split
expression for 460 h); checkpoints are ranked by CER on dev_clean. Utterances run up to 35 s
(LibriSpeech's longest segments), so nothing is cropped; batches are bucketed by length.
The model: 4 bidirectional GRU layers of 256 per direction over 40 ms frames, SpecAugment
with 2 masks of up to 27 of the 80 bands and 2 of up to 40 frames (0.4 s); the sentences
recipe turns it off for reasons of that corpus (its docstring). Variants: none, 30k steps;
``small``, the same model for 1500 steps; ``tiny``, seconds (the tests run it on
``tfds.testing.mock_data``).
"""

from pathlib import Path

import ml_collections

from audiojax.config import load_module
from audiojax.evaluators import evaluator


def get_config(variant=None):
    asr = load_module(Path(__file__).with_name("asr_attention.py"))
    c = asr.get_config(variant)      # the recipe and its variant's model
    c.data.source = "tfds:librispeech"
    c.data.train_split = "train_clean100"
    every = c.evals.validation.every_steps
    c.evals = ml_collections.ConfigDict({"dev_clean": evaluator("dev_clean", every_steps=every)})
    c.evals.unlock()
    c.best_metric = "dev_clean/cer"
    c.data.max_seconds = 35.0        # above the longest utterance: ASR must never crop
    c.max_label_length = 700         # characters + EOS: 20 characters/s over 35 s
    if variant != "tiny":
        c.data.bucket_seconds = (4.0, 8.0, 11.0, 13.0, 15.0, 17.0, 20.0, 25.0)
        c.model.encoder_hidden = 256
        c.model.encoder_layers, c.model.ctc_layer = 4, 3
        c.model.decoder_hidden = 320
        c.model.time_masks, c.model.time_mask_width = 2, 40
        c.model.freq_masks, c.model.freq_mask_width = 2, 27
    if variant is None:
        c.num_train_steps = 30000    # about 34 epochs of the 28,539 utterances at batch 32
        c.warmup_steps = 1000
        c.evals.dev_clean.every_steps = c.checkpoint_every_steps = 2500
    return c
