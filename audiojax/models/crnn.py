"""A convolutional recurrent network for sound event detection (the DCASE task 4 baseline's
shape, Turpault et al. 2019): frame-level class logits of a recording.

Log-mel on device -> BatchNorm over the bands -> SpecAugment (training) -> blocks of conv 3x3
-> BatchNorm -> ReLU, each followed by max pooling over (``time_pools[i]`` frames, 2 bands) ->
the remaining bands and channels of a frame flattened -> the article's GRU in both directions
(:class:`~audiojax.models.rnn.RNNEncoder`) -> dense -> a logit per frame and class, which the
``sed`` task turns into probabilities with a sigmoid (classes may overlap).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.masking import length_mask
from audiojax.models.classifiers import max_pool
from audiojax.models.rnn import RNNEncoder

_BN = dict(momentum=0.9, epsilon=1e-5)


class CRNN(nn.Module):
    """See the module docstring.

    Attributes:
      num_classes: event classes.
      channels: conv channels per block; ``time_pools``: frames pooled after each block (the
        output's frame is ``hop_length * prod(time_pools)`` samples: :attr:`frame_hop`).
      sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax: the log-mel front-end
        (samples and Hz, librosa's meanings).
      gru_hidden, gru_layers: the bidirectional GRU's features per direction and layers.
      dropout: before the GRU and the output layer (training only).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment (frames, bands).
    """

    num_classes: int
    channels: tuple[int, ...] = (16, 32, 64, 128)
    time_pools: tuple[int, ...] = (2, 2, 1, 1)
    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 320
    win_length: int = 640
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float | None = 8000.0
    gru_hidden: int = 64
    gru_layers: int = 2
    dropout: float = 0.0
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @property
    def frame_hop(self) -> int:
        """Samples per output frame."""
        return self.hop_length * math.prod(self.time_pools)

    def output_frames(self, samples: int) -> int:
        """Output frames of ``samples`` samples of audio."""
        frames = 1 + samples // self.hop_length    # centred STFT frames
        for k in self.time_pools:
            frames //= k
        return frames

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool,
                 augment_keys: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``audio (batch, samples)``, ``lengths (batch,)`` samples -> ``(logits (batch,
        frames', num_classes), valid frames' (batch,))``; ``augment_keys (batch,)``: per-example
        PRNG keys for SpecAugment in training."""
        from audiojax.data.augment import spec_augment_per_example
        from audiojax.frontends import LogMel, frames_for_length

        if len(self.time_pools) != len(self.channels):
            raise ValueError(f"model.time_pools: {len(self.time_pools)} values for "
                             f"{len(self.channels)} blocks (model.channels)")
        x = LogMel(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                   win_length=self.win_length, n_mels=self.n_mels, fmin=self.fmin,
                   fmax=self.fmax, top_db=80.0)(audio.astype(jnp.float32))
        valid = frames_for_length(lengths, self.n_fft, self.hop_length, center=True)
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.axis_name, **_BN)(x)
        if train and augment_keys is not None and (self.time_masks or self.freq_masks):
            x = spec_augment_per_example(augment_keys, x, valid, self.time_masks,
                                         self.time_mask_width, self.freq_masks, self.freq_mask_width)
        x = x.astype(self.dtype)[..., None]                    # (batch, frames, bands, 1)
        for features, pool in zip(self.channels, self.time_pools):
            # Frames past the true length are zeroed, as SAME padding is: a recording's
            # outputs do not depend on how much padding its batch gave it.
            x = x * length_mask(valid, x.shape[1])[:, :, None, None].astype(x.dtype)
            x = nn.Conv(features, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype,
                                     axis_name=self.axis_name, **_BN)(x))
            x = max_pool(x, (pool, 2))
            valid = valid // pool
        x = x.reshape(x.shape[0], x.shape[1], -1)              # (batch, frames', bands' * C)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        valid = jnp.clip(valid, 1, x.shape[1])
        x, _ = RNNEncoder(self.gru_hidden, self.gru_layers, bidirectional=True,
                          dtype=self.dtype)(x, valid, train=train)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32), valid
