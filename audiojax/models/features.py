"""On-device log-mel features for sequence models: ``(batch, samples)`` -> ``(batch, frames, n_mels)``
with the true length of each example in frames, normalized per utterance, SpecAugment in training
(:class:`LogMelFeatures`, no parameters); :class:`ConvSubsampler`, a learned strided front on them."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.data.augment import spec_augment_per_example
from audiojax.frontends import LogMel, frames_for_length
from audiojax.masking import length_mask, masked_mean


class LogMelFeatures(nn.Module):
    """Log-mel (dB, ``top_db`` 80 per example) -> minus each utterance's mean over its true frames
    (removes a fixed channel colouring and the level) -> divided by ``scale`` -> zero past the
    true length -> SpecAugment when ``augment_keys`` are given. No parameters.

    Attributes: ``sample_rate``, ``n_fft``, ``hop_length``, ``win_length`` (samples), ``n_mels``,
    ``fmin``, ``fmax`` (Hz): the front-end; ``scale``: dB per output unit; ``time_masks``,
    ``time_mask_width`` (frames), ``freq_masks``, ``freq_mask_width`` (bands): SpecAugment.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    n_mels: int = 80
    fmin: float = 20.0
    fmax: float | None = 7600.0
    scale: float = 20.0
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array,
                 augment_keys: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``audio (batch, samples)``, ``lengths (batch,)`` samples; ``augment_keys (batch,)``:
        per-example PRNG keys for SpecAugment (training) -> ``(features, frames (batch,))``."""
        x = LogMel(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                   win_length=self.win_length, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
                   top_db=80.0)(audio.astype(jnp.float32))
        frames = jnp.clip(frames_for_length(lengths, self.n_fft, self.hop_length, center=True),
                          1, x.shape[1])
        valid = length_mask(frames, x.shape[1])
        mean = masked_mean(x, valid, axis=1)[:, None, :]
        x = jnp.where(valid[..., None], (x - mean) / self.scale, 0.0)
        if augment_keys is not None and (self.time_masks or self.freq_masks):
            x = spec_augment_per_example(augment_keys, x, frames, self.time_masks,
                                         self.time_mask_width, self.freq_masks, self.freq_mask_width)
        return x, frames


class ConvSubsampler(nn.Module):
    """A learned front for a recurrent encoder (as in ESPnet's VGG/Conv2d subsampling): per entry
    of ``channels``, a 3x3 convolution over (time, mel) with stride 2 in both, then ReLU.
    ``(batch, frames, n_mels)`` + ``frames (batch,)`` -> ``(batch, ceil(frames / 2**k),
    ceil(n_mels / 2**k) * channels[-1])`` + ``ceil(frames / 2**k)``, with ``k = len(channels)``.

    Why: the kernels are shared across frequency, so a formant pattern learnt at one voice's
    pitch and vocal-tract length is recognised shifted at another's; a GRU over stacked mel
    frames has to learn each shift separately. Inputs past a length are zeroed before each
    convolution and the padding is explicit (1 on each side), so output frame ``t`` reads input
    frames ``2t-1 .. 2t+1`` however much padding follows: extra padding never changes a result.
    """

    channels: tuple[int, ...] = (32, 32)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = x[..., None].astype(self.dtype)
        for i, channels in enumerate(self.channels):
            x = x * length_mask(frames, x.shape[1])[:, :, None, None].astype(x.dtype)
            x = nn.relu(nn.Conv(channels, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                                dtype=self.dtype, name=f"conv_{i}")(x))
            frames = -(-frames // 2)
        x = x * length_mask(frames, x.shape[1])[:, :, None, None].astype(x.dtype)
        return x.reshape(x.shape[0], x.shape[1], -1), frames
