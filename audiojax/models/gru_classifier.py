"""A recurrent clip classifier: log-mel on device -> stacked bidirectional GRU -> masked mean
over time -> dense -> logits (the article names GRUs for recognition and affective tasks)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.masking import length_mask, masked_mean
from audiojax.models.features import LogMelFeatures
from audiojax.models.rnn import RNNEncoder, stack_frames


class GRUClassifier(nn.Module):
    """``audio (batch, samples)``, ``lengths (batch,)`` samples -> ``(batch, num_classes)``.

    Attributes:
      num_classes: output classes.
      n_mels, hop_length: the log-mel front-end (:class:`LogMelFeatures`; 25 ms windows).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment in training, when
        the caller passes ``augment_keys``.
      input_stack: neighbouring frames concatenated before the GRU (time reduction).
      hidden, layers, reductions, bidirectional, cell: the :class:`RNNEncoder`.
      dtype: computation dtype of the GRU and dense layers (e.g. bfloat16); the front-end and
        the parameters stay float32.
    """

    num_classes: int
    n_mels: int = 40
    hop_length: int = 160
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    input_stack: int = 2
    hidden: int = 128
    layers: int = 2
    reductions: int = 0
    bidirectional: bool = True
    cell: str = "article"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool,
                 augment_keys: jax.Array | None = None) -> jax.Array:
        x, frames = LogMelFeatures(
            n_mels=self.n_mels, hop_length=self.hop_length, time_masks=self.time_masks,
            time_mask_width=self.time_mask_width, freq_masks=self.freq_masks,
            freq_mask_width=self.freq_mask_width)(audio, lengths, augment_keys if train else None)
        x, frames = stack_frames(x.astype(self.dtype), frames, self.input_stack)
        x, frames = RNNEncoder(self.hidden, self.layers, self.bidirectional, self.reductions,
                               self.cell, dtype=self.dtype)(x, frames, train=train)
        pooled = masked_mean(x, length_mask(frames, x.shape[1]), axis=1)
        x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(pooled))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)
