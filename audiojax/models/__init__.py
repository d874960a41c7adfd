"""Flax linen models, looked up by name from experiment configs."""

from __future__ import annotations

import flax.linen as nn

from audiojax.models.classifiers import LogMelCNN, WaveformCNN
from audiojax.models.samplernn import SampleRNN
from audiojax.models.wavenet import WaveNet
from audiojax.models.gru_classifier import GRUClassifier
from audiojax.models.seq2seq import Recognizer

_REGISTRY: dict[str, type[nn.Module]] = {
    "waveform_cnn": WaveformCNN,
    "logmel_cnn": LogMelCNN,
    "wavenet": WaveNet,
    "samplernn": SampleRNN,
    "gru_classifier": GRUClassifier,
    "recognizer": Recognizer,
}


def get_model(name: str, **kwargs) -> nn.Module:
    """The model registered as ``name``, built with ``kwargs`` (its dataclass fields)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"model: unknown name {name!r}; known: {sorted(_REGISTRY)}") from None
    return cls(**kwargs)
