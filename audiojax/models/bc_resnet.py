"""BC-ResNet (Kim et al., "Broadcasted Residual Learning for Efficient Keyword Spotting",
Interspeech 2021): a small keyword classifier on log-mel features, layer for layer as the
authors' code (Qualcomm-AI-research/bcresnet), in Flax.

Why it carries over to new voices: its 2D part (a depthwise 3x1 convolution along frequency with
per-sub-band normalization) is shared across frequency, so a formant pattern learnt at one
voice's pitch is recognised shifted at another's; its 1D part works on the frequency average,
so most of the network's capacity goes to timing, which voices share. About 9k parameters at
``width=1`` (BC-ResNet-1), 321k at ``width=8``.

Layout: features ``(batch, frames, bands, channels)``; strides and kernels are ``(time, freq)``.
Frames are never strided, so the true frames of each clip are known to the end and pooling
averages only them.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.masking import length_mask, masked_mean
from audiojax.models.features import LogMelFeatures

_BN = dict(momentum=0.9, epsilon=1e-5)  # PyTorch's BatchNorm2d defaults


class DepthwiseConv(nn.Module):
    """A depthwise convolution of ``(batch, frames, bands, C)`` with a ``kernel_size`` (time,
    freq) kernel per channel, stride along frequency, dilation along time, zero padding
    ``padding`` ((before, after) per axis): the same parameters and result as ``nn.Conv`` with
    ``feature_group_count=C``, computed as a sum of shifted slices times their weights, which
    XLA on CPU runs several times faster than its grouped convolution."""

    kernel_size: tuple[int, int]
    freq_stride: int = 1
    time_dilation: int = 1
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kt, kf = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (kt, kf, 1, x.shape[-1]))
        kernel = kernel.astype(self.dtype)
        x = jnp.pad(x.astype(self.dtype), ((0, 0), *self.padding, (0, 0)))
        frames = x.shape[1] - self.time_dilation * (kt - 1)
        bands = (x.shape[2] - kf) // self.freq_stride + 1
        out = 0.0
        for i in range(kt):
            for j in range(kf):
                piece = x[:, i * self.time_dilation:i * self.time_dilation + frames,
                          j:j + self.freq_stride * (bands - 1) + 1:self.freq_stride]
                out = out + piece * kernel[i, j, 0]
        return out


class SubSpectralNorm(nn.Module):
    """BatchNorm with statistics per sub-band (Chang et al., 2021): the ``bands`` axis of
    ``(batch, frames, bands, channels)`` split into ``groups`` sub-bands, each normalized on
    its own (``bands`` must divide by ``groups``)."""

    groups: int = 5
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        b, t, f, c = x.shape
        if f % self.groups:
            raise ValueError(f"SubSpectralNorm: {f} bands do not split into {self.groups} groups")
        x = x.reshape(b, t, self.groups, f // self.groups, c)
        x = nn.BatchNorm(use_running_average=not train, axis=(2, 4), dtype=self.dtype,
                         axis_name=self.axis_name, **_BN)(x)
        return x.reshape(b, t, f, c)


class BCResBlock(nn.Module):
    """One broadcasted residual block, ``(batch, frames, bands, in)`` -> ``(batch, frames,
    bands // stride, channels)``:

        f2 = SSN(depthwise conv 3x1 over frequency, stride ``stride``)   [after a 1x1 conv-BN-ReLU
                                                                          when the width changes]
        f1 = dropout(conv 1x1(swish(BN(depthwise conv 1x3 over time, dilation ``dilation``)(mean_freq f2))))
        y  = ReLU(f2 + broadcast(f1) [+ x when the width is unchanged])

    ``drop_keys (batch,)``: one PRNG key per example for the channel dropout (training), so that
    a batch split over devices drops what one device would.
    """

    channels: int
    stride: int = 1
    dilation: int = 1
    dropout: float = 0.1
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, drop_keys: jax.Array | None = None) -> jax.Array:
        bn = dict(use_running_average=not train, dtype=self.dtype, axis_name=self.axis_name, **_BN)
        transition = x.shape[-1] != self.channels
        shortcut = x
        if transition:
            x = nn.Conv(self.channels, (1, 1), use_bias=False, dtype=self.dtype)(x)
            x = nn.relu(nn.BatchNorm(**bn)(x))
        x = DepthwiseConv((1, 3), freq_stride=self.stride, padding=((0, 0), (1, 1)),
                          dtype=self.dtype)(x)
        f2 = SubSpectralNorm(dtype=self.dtype, axis_name=self.axis_name)(x, train=train)
        y = f2.mean(axis=2, keepdims=True)                                # (batch, frames, 1, C)
        y = DepthwiseConv((3, 1), time_dilation=self.dilation,
                          padding=((self.dilation, self.dilation), (0, 0)), dtype=self.dtype)(y)
        y = nn.swish(nn.BatchNorm(**bn)(y))
        y = nn.Conv(self.channels, (1, 1), use_bias=False, dtype=self.dtype)(y)
        if train and drop_keys is not None and self.dropout > 0:  # Dropout2d: whole channels
            keep = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - self.dropout, (y.shape[-1],)))(
                drop_keys)
            y = y * keep[:, None, None, :].astype(y.dtype) / (1.0 - self.dropout)
        y = f2 + y
        return nn.relu(y if transition else y + shortcut)


class BCResNet(nn.Module):
    """BC-ResNet-``width``: ``(batch, samples)`` waveforms and their lengths ``(batch,)`` (in
    samples) -> logits ``(batch, num_classes)``.

    Log-mel features (:class:`~audiojax.models.features.LogMelFeatures`: per-utterance mean
    removed, SpecAugment in training) -> conv 5x5 stride (1, 2), 16 w channels -> BN -> ReLU ->
    stages of 2, 2, 4, 4 :class:`BCResBlock` with 8 w, 12 w, 16 w, 20 w channels (stages 2
    and 3 halve the bands; stage ``i`` dilates time by ``2**i``) -> depthwise conv 5x5 (bands 5
    -> 1) -> conv 1x1 to 32 w -> BN -> ReLU -> mean over the true frames -> dense logits.

    Attributes:
      num_classes: output classes.
      width: the paper's tau (channels x ``width``; 1, 1.5, 2, 3, 6, 8 in the paper).
      dropout: channel dropout in each block (training with ``augment_keys`` only).
      sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax: the front-end (samples,
        Hz); the bands must reach 5 after the three halvings (40 bands: 20, 10, 5).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment in training.
      dtype, axis_name: computation dtype; device axis of the BatchNorm statistics under pmap.
    """

    num_classes: int
    width: float = 1.0
    dropout: float = 0.1
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 480
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = 7600.0
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool,
                 augment_keys: jax.Array | None = None) -> jax.Array:
        """``augment_keys (batch,)``: per-example PRNG keys for SpecAugment and channel dropout
        in training (no keys: neither)."""
        features = LogMelFeatures(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            win_length=self.win_length, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
            time_masks=self.time_masks, time_mask_width=self.time_mask_width,
            freq_masks=self.freq_masks, freq_mask_width=self.freq_mask_width)
        x, frames = features(audio, lengths, augment_keys if train else None)
        x = x.astype(self.dtype)[..., None]                           # (batch, frames, bands, 1)
        bn = dict(use_running_average=not train, dtype=self.dtype, axis_name=self.axis_name, **_BN)
        c = [int(self.width * k) for k in (16, 8, 12, 16, 20, 32)]
        x = nn.Conv(c[0], (5, 5), strides=(1, 2), padding=((2, 2), (2, 2)), use_bias=False,
                    dtype=self.dtype)(x)
        x = nn.relu(nn.BatchNorm(**bn)(x))
        block = 0
        for stage, (blocks, channels) in enumerate(zip((2, 2, 4, 4), c[1:5])):
            for i in range(blocks):
                block += 1
                drop_keys = None if augment_keys is None else jax.vmap(
                    lambda k, b=block: jax.random.fold_in(k, 1000 + b))(augment_keys)
                x = BCResBlock(channels, stride=2 if stage in (1, 2) and i == 0 else 1,
                               dilation=2 ** stage, dropout=self.dropout, dtype=self.dtype,
                               axis_name=self.axis_name)(x, train=train, drop_keys=drop_keys)
        x = DepthwiseConv((5, 5), padding=((2, 2), (0, 0)), dtype=self.dtype)(x)  # bands 5 -> 1
        x = nn.Conv(c[5], (1, 1), use_bias=False, dtype=self.dtype)(x)
        x = nn.relu(nn.BatchNorm(**bn)(x))
        x = masked_mean(x.mean(axis=2), length_mask(frames, x.shape[1]), axis=1)
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)
