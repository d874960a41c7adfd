"""Clip classifiers: the article's raw-waveform CNN (layer for layer) and a log-mel/MFCC 2D CNN.

Both map ``(batch, samples)`` float waveforms and their true lengths ``(batch,)`` (in samples)
to logits ``(batch, num_classes)``. Padding beyond a clip's length never reaches the pooled
features unless ``masked_pooling=False`` (the article's behaviour, kept for comparison).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.masking import length_mask, masked_mean

# PyTorch's BatchNorm1d momentum 0.1 is an exponential average with weight 0.9 on the old value.
_BN = dict(momentum=0.9, epsilon=1e-5)


@jax.custom_vjp
def _window_max(x: jnp.ndarray) -> jnp.ndarray:
    """Max over axis 2 of ``x (batch, n, window, ...)``."""
    return x.max(axis=2)


def _window_max_fwd(x):
    # The gradient goes to the argmax chosen here, from the forward values, once: recomputing
    # "x == max" in the backward pass (jnp.max's rule) can miss when XLA re-fuses the
    # computation of x differently, and then the window's gradient is lost.
    first = jnp.argmax(x, axis=2, keepdims=True)
    chosen = jnp.arange(x.shape[2]).reshape((1, 1, -1) + (1,) * (x.ndim - 3)) == first
    return x.max(axis=2), chosen


def _window_max_bwd(chosen, g):
    return (jnp.where(chosen, jnp.expand_dims(g, 2), jnp.zeros((), g.dtype)),)


_window_max.defvjp(_window_max_fwd, _window_max_bwd)


def max_pool(x: jnp.ndarray, window: tuple[int, ...]) -> jnp.ndarray:
    """Non-overlapping max pooling (stride = window, remainder dropped, as PyTorch's MaxPool)
    of ``x (batch, *spatial, channels)``: one spatial axis at a time, a reshape and a max whose
    gradient is a saved mask, which XLA on CPU runs faster than ``nn.max_pool``'s
    select-and-scatter."""
    for axis, k in enumerate(window, start=1):
        n = x.shape[axis] // k
        x = jax.lax.slice_in_dim(x, 0, n * k, axis=axis)
        x = x.reshape(x.shape[:axis] + (n, k) + x.shape[axis + 1:])
        x = jnp.moveaxis(_window_max(jnp.moveaxis(x, (axis, axis + 1), (1, 2))), 1, axis)
    return x


def _frame_mean(x: jnp.ndarray, valid: jnp.ndarray) -> jnp.ndarray:
    """Mean of ``x (batch, frames, ...)`` over frames ``< valid (batch,)``, at least the first
    (a clip shorter than the receptive field still gets its first frame's features)."""
    return masked_mean(x, length_mask(jnp.maximum(valid, 1), x.shape[1]), axis=1)


class WaveformCNN(nn.Module):
    """The article's raw-waveform classifier (section 5), in Flax.

    conv(128, k=80, s=4) -> BN -> ReLU -> maxpool 4, then three blocks conv(k=3) with 128, 256,
    512 channels, each BN -> ReLU -> maxpool 4; global average pool over time; dense 512 -> ReLU
    -> dense num_classes. Convolutions are unpadded and pools floor, as in PyTorch's defaults.

    Attributes:
      num_classes: output classes.
      masked_pooling: average only the frames that the true length reaches (the article passes
        ``lengths`` and ignores them; ``False`` reproduces that).
      dtype: computation dtype (e.g. bfloat16); parameters stay float32.
      axis_name: device axis that BatchNorm averages its statistics over under ``pmap``.
    """

    num_classes: int
    masked_pooling: bool = True
    dtype: Any = jnp.float32
    axis_name: str | None = None

    # (features, kernel, stride) of the four conv blocks; each is followed by maxpool 4.
    blocks = ((128, 80, 4), (128, 3, 1), (256, 3, 1), (512, 3, 1))
    pool = 4

    @classmethod
    def output_frames(cls, samples):
        """Frames left after the conv/pool blocks from ``samples`` input samples (int or array)."""
        for _, kernel, stride in cls.blocks:
            samples = ((samples - kernel) // stride + 1) // cls.pool
        return samples

    @nn.compact
    def __call__(self, audio: jnp.ndarray, lengths: jnp.ndarray, *, train: bool,
                 augment_keys: jnp.ndarray | None = None) -> jnp.ndarray:
        """``audio (batch, samples)``, ``lengths (batch,)`` in samples -> ``(batch, num_classes)``.
        ``augment_keys`` (the clip classifiers' shared signature) are unused: no feature-level
        augmentation on raw waveforms."""
        x = audio.astype(self.dtype)[..., None]  # (batch, samples, 1): channels last
        for features, kernel, stride in self.blocks:
            x = nn.Conv(features, (kernel,), strides=(stride,), padding="VALID", dtype=self.dtype)(x)
            x = nn.BatchNorm(use_running_average=not train, dtype=self.dtype,
                             axis_name=self.axis_name, **_BN)(x)
            x = max_pool(nn.relu(x), (self.pool,))
        if x.shape[1] == 0:
            shortest = next(n for n in range(1, 1 << 16) if self.output_frames(n) > 0)
            raise ValueError(f"audio: {audio.shape[1]} samples are too short for WaveformCNN, "
                             f"which needs at least {shortest}")
        valid = self.output_frames(lengths)
        x = _frame_mean(x, valid) if self.masked_pooling else x.mean(axis=1)
        x = nn.relu(nn.Dense(512, dtype=self.dtype)(x))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


class LogMelCNN(nn.Module):
    """Spectral features computed on device, then a 2D CNN over (time, feature).

    ``LogMel`` (25 ms Hann windows every 10 ms at 16 kHz by default), ``MFCC`` or ``LogCQT`` -> optional
    per-utterance mean subtraction -> BatchNorm over the input bands -> optional SpecAugment
    (training only) -> ``len(channels)`` blocks of ``convs_per_block`` x (conv 3x3 -> BN -> ReLU)
    -> maxpool 2x2 -> mean over feature bands -> pooling over the frames that the true length
    reaches (``time_pooling``) -> dense -> logits. Two convolutions per block and ``max_mean``
    pooling make it the CNN14 family of audio tagging (PANNs), at the width ``channels`` gives.

    Attributes:
      num_classes: output classes.
      frontend: ``logmel`` (n_mels bands in dB), ``mfcc`` (n_mfcc coefficients of them) or
        ``cqt`` (constant-Q bins in dB, :class:`~audiojax.frontends.LogCQT`: semitones apart
        at every pitch, for music; every ``hop_length``).
      channels: conv channels per block.
      sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax: the front-end (librosa's
        meanings; samples and Hz). n_mfcc: coefficients for ``frontend='mfcc'``.
      cqt_fmin, cqt_bins, bins_per_octave: the lowest bin (Hz), the bins and their spacing for
        ``frontend='cqt'``.
      utterance_norm: subtract each example's mean feature vector over its true frames (cepstral
        mean normalization: removes a fixed channel colouring and the recording level).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment bands (frames and
        bands), applied in training when the caller passes ``augment_keys``; 0 masks: none.
      hidden: width of the dense layer before the logits.
      convs_per_block: convolutions (each with BN and ReLU) before each block's pooling.
      time_pooling: ``mean`` over the true frames, ``max_mean`` (their max plus their mean:
        CNN14's, for a short event in a long clip), or ``attention`` (a softmax over the frames
        of a learned score of each frame's features weights their sum).
      masked_pooling, dtype, axis_name: as in :class:`WaveformCNN`.
    """

    num_classes: int
    frontend: str = "logmel"
    channels: tuple[int, ...] = (32, 64, 128, 256)
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    n_mels: int = 64
    n_mfcc: int = 40
    cqt_fmin: float = 65.4
    cqt_bins: int = 80
    bins_per_octave: int = 12
    fmin: float = 20.0
    fmax: float | None = 7600.0
    utterance_norm: bool = False
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    hidden: int = 256
    convs_per_block: int = 1
    time_pooling: str = "mean"
    masked_pooling: bool = True
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, audio: jnp.ndarray, lengths: jnp.ndarray, *, train: bool,
                 augment_keys: jnp.ndarray | None = None) -> jnp.ndarray:
        """``audio (batch, samples)``, ``lengths (batch,)`` in samples -> ``(batch, num_classes)``;
        ``augment_keys (batch,)``: one PRNG key per example for SpecAugment in training."""
        from audiojax.data.augment import spec_augment_per_example
        from audiojax.frontends import MFCC, LogCQT, LogMel, frames_for_length

        stft = dict(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                    win_length=self.win_length, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax,
                    top_db=80.0)
        if self.frontend == "logmel":
            features = LogMel(**stft)
        elif self.frontend == "mfcc":
            features = MFCC(n_mfcc=self.n_mfcc, **stft)
        elif self.frontend == "cqt":
            features = LogCQT(sample_rate=self.sample_rate, hop_length=self.hop_length,
                              fmin=self.cqt_fmin, n_bins=self.cqt_bins,
                              bins_per_octave=self.bins_per_octave)
        else:
            raise ValueError(f"model.frontend: unknown {self.frontend!r}; known: logmel, mfcc, cqt")
        x = features(audio.astype(jnp.float32))                          # (batch, frames, bands)
        valid = frames_for_length(lengths, self.n_fft, self.hop_length, center=True)
        if self.utterance_norm:
            x = x - _frame_mean(x, valid)[:, None, :]
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.axis_name, **_BN)(x)
        if train and augment_keys is not None and (self.time_masks or self.freq_masks):
            x = spec_augment_per_example(augment_keys, x, valid, self.time_masks,
                                         self.time_mask_width, self.freq_masks, self.freq_mask_width)
        x = x.astype(self.dtype)[..., None]                              # (batch, frames, bands, 1)
        for features in self.channels:
            for _ in range(self.convs_per_block):
                x = nn.Conv(features, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype)(x)
                x = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype,
                                         axis_name=self.axis_name, **_BN)(x))
            x = max_pool(x, (2, 2))
            valid = valid // 2
        x = x.mean(axis=2)                                               # (batch, frames', C)
        if not self.masked_pooling:
            valid = jnp.full_like(valid, x.shape[1])
        x = pool_frames(x, valid, self.time_pooling, self.dtype)        # (batch, C)
        x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(x))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


class AttentionScore(nn.Module):
    """A frame's score for attention pooling: ``(batch, frames, C) -> (batch, frames)``."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return nn.Dense(1, dtype=self.dtype)(x)[..., 0].astype(jnp.float32)


TIME_POOLINGS = ("mean", "max_mean", "attention")


def pool_frames(x: jnp.ndarray, valid: jnp.ndarray, how: str, dtype=jnp.float32) -> jnp.ndarray:
    """``x (batch, frames, C)`` over its first ``valid (batch,)`` frames (at least one) ->
    ``(batch, C)``, as :class:`LogMelCNN`'s ``time_pooling`` says (call it inside a compact
    module: ``attention`` makes its scoring layer)."""
    if how not in TIME_POOLINGS:
        raise ValueError(f"model.time_pooling: unknown {how!r}; known: {', '.join(TIME_POOLINGS)}")
    mask = length_mask(jnp.maximum(valid, 1), x.shape[1])               # (batch, frames)
    if how == "mean":
        return _frame_mean(x, valid)
    if how == "max_mean":
        peak = jnp.where(mask[..., None], x, jnp.finfo(x.dtype).min).max(axis=1)
        return peak + _frame_mean(x, valid)
    scores = jnp.where(mask, AttentionScore(dtype)(x), -jnp.inf)
    weights = jax.nn.softmax(scores, axis=1).astype(x.dtype)
    return jnp.einsum("bt,btc->bc", weights, x)
