"""Speaker-embedding networks: ``audio (batch, samples)``, ``lengths (batch,)`` samples ->
``(batch, embedding_dim)`` float32 embeddings, with no classification head (the task adds one,
e.g. an angular-margin softmax over the training speakers).

- :class:`XVector`: the x-vector TDNN (Snyder et al., "X-Vectors: Robust DNN Embeddings for
  Speaker Recognition", ICASSP 2018).
- :class:`ECAPATDNN`: ECAPA-TDNN (Desplanques et al., "ECAPA-TDNN: Emphasized Channel
  Attention, Propagation and Aggregation in TDNN Based Speaker Verification", Interspeech 2020),
  block for block as speechbrain's ``ECAPA_TDNN`` (with the paper's BatchNorm on the embedding).
- :class:`SpeakerGRU`: the article's GRU (:class:`~audiojax.models.rnn.RNNEncoder`) with
  attentive statistics pooling.

Layout: ``(batch, frames, channels)``; frames are never strided. Padding never changes an
embedding in eval mode: frames past each utterance's length are zeroed before every
convolution (which pads with zeros, so a valid frame reads only valid frames and zeros, as at
a 'SAME' boundary), and pooling, attention softmax and squeeze-excitation average only valid
frames. The last STFT frames of an utterance read up to ``n_fft // 2`` samples past its end,
so it must be followed by that many zeros: the input pipeline always pads that much, and the
STFT itself pads the batch's end with zeros (``LogMel``'s constant ``pad_mode``), so even an
utterance that fills the batch qualifies. More zero padding then changes nothing. In
training, BatchNorm statistics are over valid frames only (flax's ``mask``; under ``pmap``
each device's masked mean counts equally, whatever its number of valid frames).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.masking import length_mask, masked_mean
from audiojax.models.features import LogMelFeatures
from audiojax.models.rnn import RNNEncoder, stack_frames

_BN = dict(momentum=0.9, epsilon=1e-5)  # PyTorch's BatchNorm1d defaults


def statistics_pooling(x: jax.Array, mask: jax.Array, weights: jax.Array | None = None,
                       eps: float = 1e-5) -> jax.Array:
    """Mean and standard deviation over time: ``x (batch, frames, C)``, ``mask (batch, frames)``
    True on valid frames -> ``(batch, 2C)`` float32, ``[mean, std]``.

    ``weights``: ``(batch, frames, C)`` or ``(batch, frames, 1)`` attention weights that sum to 1
    over each utterance's valid frames (None: uniform over them). ``std = sqrt(max(E[x^2] -
    mean^2, eps))``, computed as ``E[(x - mean)^2]`` (the same sum, without float32's
    cancellation); the floor keeps the gradient finite on a constant channel.
    """
    mask = mask[..., None]
    x = jnp.where(mask, x.astype(jnp.float32), 0.0)  # padding never reaches a sum, even NaN
    if weights is None:
        weights = mask / jnp.maximum(mask.sum(axis=1, keepdims=True), 1)
    weights = jnp.where(mask, weights.astype(jnp.float32), 0.0)
    mean = (weights * x).sum(axis=1)
    var = (weights * (x - mean[:, None, :]) ** 2).sum(axis=1)
    return jnp.concatenate([mean, jnp.sqrt(jnp.maximum(var, eps))], axis=-1)


def _conv(x: jax.Array, mask: jax.Array, features: int, kernel_size: int = 1, dilation: int = 1,
          dtype: Any = jnp.float32, name: str | None = None) -> jax.Array:
    """A 1-D convolution of ``(batch, frames, in)`` over time with zero padding, its input zeroed
    past ``mask (batch, frames)``: a valid output frame never reads padding's contents."""
    x = jnp.where(mask[..., None], x, jnp.zeros((), x.dtype))
    pad = dilation * (kernel_size - 1) // 2
    return nn.Conv(features, (kernel_size,), kernel_dilation=(dilation,), padding=((pad, pad),),
                   dtype=dtype, name=name)(x)


def _batch_norm(x: jax.Array, mask: jax.Array, train: bool, dtype: Any, axis_name: str | None,
                name: str | None = None) -> jax.Array:
    """BatchNorm of ``(batch, frames, C)`` whose training statistics skip padded frames."""
    return nn.BatchNorm(use_running_average=not train, dtype=dtype, axis_name=axis_name,
                        name=name, **_BN)(x, mask=mask[..., None])


class TDNNBlock(nn.Module):
    """conv1d (``kernel_size`` frames, ``dilation``) -> ReLU -> BatchNorm: ``(batch, frames, in)``,
    ``mask (batch, frames)`` -> ``(batch, frames, features)`` (speechbrain's ``TDNNBlock``, with
    zero padding where speechbrain reflects)."""

    features: int
    kernel_size: int = 1
    dilation: int = 1
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        x = nn.relu(_conv(x, mask, self.features, self.kernel_size, self.dilation, self.dtype))
        return _batch_norm(x, mask, train, self.dtype, self.axis_name)


class AttentiveStatisticsPooling(nn.Module):
    """Attentive statistics pooling (Okabe et al. 2018; ECAPA's channel-dependent form):
    ``x (batch, frames, C)``, ``mask (batch, frames)`` -> ``(batch, 2C)`` float32, the weighted
    mean and standard deviation of ``x`` under per-channel attention over the valid frames:

        h = [x_t, mean, std]           with global_context: the utterance's masked statistics
        e = conv1x1_C(tanh(BN(ReLU(conv1x1_A(h)))))      (without batch_norm: tanh(conv1x1_A(h)))
        alpha = softmax of e over the valid frames (padding gets -inf), per channel

    With ``batch_norm`` it is speechbrain's ``AttentiveStatisticsPooling`` (a ``TDNNBlock``
    before the tanh); without, the paper's ``v^T f(W h + b) + k`` with ``f = tanh``.

    Attributes:
      attention_channels: the attention's bottleneck width ``A``.
      global_context: frame features joined with the utterance's mean and std (ECAPA's).
      batch_norm: ReLU and BatchNorm after the bottleneck.
      eps: the variance floor of :func:`statistics_pooling`.
      dtype, axis_name: computation dtype; device axis of the BatchNorm statistics under pmap.
    """

    attention_channels: int = 128
    global_context: bool = True
    batch_norm: bool = True
    eps: float = 1e-5
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        channels, frames = x.shape[-1], x.shape[1]
        h = x
        if self.global_context:
            stats = statistics_pooling(x, mask, eps=self.eps).astype(x.dtype)
            h = jnp.concatenate([x, jnp.broadcast_to(stats[:, None, :], (x.shape[0], frames,
                                                                          2 * channels))], -1)
        if self.batch_norm:
            h = TDNNBlock(self.attention_channels, dtype=self.dtype, axis_name=self.axis_name,
                          name="attention_hidden")(h, mask, train=train)
        else:
            h = _conv(h, mask, self.attention_channels, dtype=self.dtype, name="attention_hidden")
        e = _conv(jnp.tanh(h), mask, channels, dtype=self.dtype, name="attention_out")
        e = jnp.where(mask[..., None], e.astype(jnp.float32), -jnp.inf)
        return statistics_pooling(x, mask, jax.nn.softmax(e, axis=1), eps=self.eps)


def _features(m: nn.Module, audio: jax.Array, lengths: jax.Array, train: bool,
              augment_keys: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """Module ``m``'s log-mel front-end -> ``(features (batch, frames, n_mels) in m.dtype,
    mask (batch, frames))``; SpecAugment in training with keys."""
    x, frames = LogMelFeatures(
        n_mels=m.n_mels, hop_length=m.hop_length, time_masks=m.time_masks,
        time_mask_width=m.time_mask_width, freq_masks=m.freq_masks,
        freq_mask_width=m.freq_mask_width)(audio, lengths, augment_keys if train else None)
    return x.astype(m.dtype), length_mask(frames, x.shape[1])


class XVector(nn.Module):
    """The x-vector network: ``audio (batch, samples)``, ``lengths (batch,)`` samples ->
    ``(batch, embedding_dim)``.

    Log-mel (:class:`LogMelFeatures`; 25 ms windows every ``hop_length`` samples) -> five frame
    layers (:class:`TDNNBlock`: conv, ReLU, BN) with contexts ``[t-2, t+2]``, ``{t-2, t, t+2}``,
    ``{t-3, t, t+3}``, ``{t}``, ``{t}`` (kernels 5, 3, 3, 1, 1 at dilations 1, 2, 3, 1, 1) ->
    masked mean and std over time -> dense (segment6): the embedding, taken before its
    nonlinearity as in the paper.

    Attributes:
      channels: widths of the first four frame layers (the paper's 512 each).
      pooling_channels: width of the fifth, pooled frame layer (1500).
      embedding_dim: the segment layer's width (512).
      n_mels, hop_length: the log-mel front-end (:class:`LogMelFeatures`).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment in training, when
        the caller passes ``augment_keys``.
      dtype, axis_name: computation dtype (the front-end stays float32); device axis of the
        BatchNorm statistics under pmap.
    """

    channels: tuple[int, ...] = (512, 512, 512, 512)
    pooling_channels: int = 1500
    embedding_dim: int = 512
    n_mels: int = 80
    hop_length: int = 160
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool,
                 augment_keys: jax.Array | None = None) -> jax.Array:
        """``augment_keys (batch,)``: per-example PRNG keys for SpecAugment in training."""
        if len(self.channels) != 4:
            raise ValueError(f"channels: {self.channels} must give the 4 frame layers before "
                             f"the pooled one")
        x, mask = _features(self, audio, lengths, train, augment_keys)
        widths = (*self.channels, self.pooling_channels)
        for width, (kernel, dilation) in zip(widths, ((5, 1), (3, 2), (3, 3), (1, 1), (1, 1))):
            x = TDNNBlock(width, kernel, dilation, dtype=self.dtype,
                          axis_name=self.axis_name)(x, mask, train=train)
        x = statistics_pooling(x, mask).astype(self.dtype)
        return nn.Dense(self.embedding_dim, dtype=self.dtype, name="segment")(x).astype(jnp.float32)


class SERes2NetBlock(nn.Module):
    """ECAPA's SE-Res2Net block, ``(batch, frames, C)`` -> the same shape:

        y = TDNNBlock 1x1 (x)
        y_1 = y's first of ``scale`` channel groups; y_i = TDNNBlock k3 (group_i + y_{i-1}), the
              first branch without the sum (Res2Net: each group sees a wider context)
        y = TDNNBlock 1x1 ([y_1 .. y_scale])
        y = y * sigmoid(dense(ReLU(dense_se(masked mean of y over time))))   squeeze-excitation
        out = x + y

    ``C`` must divide by ``scale``.
    """

    scale: int = 8
    se_channels: int = 128
    dilation: int = 1
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        channels = x.shape[-1]
        if channels % self.scale:
            raise ValueError(f"SERes2NetBlock: {channels} channels do not split into "
                             f"{self.scale} groups")
        block = lambda width, kernel=1, dilation=1: TDNNBlock(  # noqa: E731
            width, kernel, dilation, dtype=self.dtype, axis_name=self.axis_name)
        y = block(channels)(x, mask, train=train)
        groups = jnp.split(y, self.scale, axis=-1)
        outputs = groups[:1]
        for i, group in enumerate(groups[1:]):
            outputs.append(block(channels // self.scale, 3, self.dilation)(
                group if i == 0 else group + outputs[-1], mask, train=train))
        y = block(channels)(jnp.concatenate(outputs, -1), mask, train=train)
        squeeze = masked_mean(y.astype(jnp.float32), mask, axis=1).astype(self.dtype)
        s = nn.relu(nn.Dense(self.se_channels, dtype=self.dtype)(squeeze))
        s = nn.sigmoid(nn.Dense(channels, dtype=self.dtype)(s))
        return x + y * s[:, None, :]


class ECAPATDNN(nn.Module):
    """ECAPA-TDNN: ``audio (batch, samples)``, ``lengths (batch,)`` samples -> ``(batch,
    embedding_dim)``.

    Log-mel -> :class:`TDNNBlock` k5 (``channels``) -> three :class:`SERes2NetBlock` at
    dilations 2, 3, 4 -> multi-layer feature aggregation (the three blocks' outputs joined,
    :class:`TDNNBlock` 1x1 to ``mfa_channels``) -> :class:`AttentiveStatisticsPooling` with
    global context -> BN -> dense -> BN: the embedding. About 6.2M parameters at the defaults
    (the paper's C=512 model; C=1024 with ``mfa_channels=3072`` is speechbrain's large one).

    Attributes:
      channels: the frame layers' width ``C`` (512; divisible by ``scale``).
      scale: Res2Net channel groups (8).
      se_channels: squeeze-excitation bottleneck (128).
      attention_channels: the attentive pooling's bottleneck (128).
      mfa_channels: width after feature aggregation (1536 = 3C at the defaults).
      embedding_dim: the embedding's width (192).
      n_mels, hop_length: the log-mel front-end (:class:`LogMelFeatures`).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment in training, when
        the caller passes ``augment_keys``.
      dtype, axis_name: computation dtype (the front-end and pooled statistics stay float32);
        device axis of the BatchNorm statistics under pmap.
    """

    channels: int = 512
    scale: int = 8
    se_channels: int = 128
    attention_channels: int = 128
    mfa_channels: int = 1536
    embedding_dim: int = 192
    n_mels: int = 80
    hop_length: int = 160
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool,
                 augment_keys: jax.Array | None = None) -> jax.Array:
        """``augment_keys (batch,)``: per-example PRNG keys for SpecAugment in training."""
        common = dict(dtype=self.dtype, axis_name=self.axis_name)
        bn = dict(use_running_average=not train, **common, **_BN)
        x, mask = _features(self, audio, lengths, train, augment_keys)
        x = TDNNBlock(self.channels, 5, **common)(x, mask, train=train)
        blocks = []
        for dilation in (2, 3, 4):
            x = SERes2NetBlock(self.scale, self.se_channels, dilation, **common)(
                x, mask, train=train)
            blocks.append(x)
        x = TDNNBlock(self.mfa_channels, **common, name="mfa")(
            jnp.concatenate(blocks, -1), mask, train=train)
        x = AttentiveStatisticsPooling(self.attention_channels, **common)(x, mask, train=train)
        x = nn.BatchNorm(**bn)(x.astype(self.dtype))
        x = nn.Dense(self.embedding_dim, dtype=self.dtype)(x)
        return nn.BatchNorm(**bn)(x).astype(jnp.float32)


class SpeakerGRU(nn.Module):
    """The article's GRU as a speaker encoder: ``audio (batch, samples)``, ``lengths (batch,)``
    samples -> ``(batch, embedding_dim)``.

    Log-mel -> ``input_stack`` neighbouring frames joined (time reduction) -> stacked
    (bidirectional) :class:`~audiojax.models.rnn.RNNEncoder` with the article's cell ->
    :class:`AttentiveStatisticsPooling` (global context optional, no BatchNorm) -> dense: the
    embedding. No BatchNorm anywhere, so no ``batch_stats``.

    Attributes:
      hidden, layers, bidirectional, reductions, cell: the :class:`RNNEncoder`.
      input_stack: neighbouring frames concatenated before the GRU.
      attention_channels, global_context: the attentive pooling.
      embedding_dim: the embedding's width (192).
      n_mels, hop_length: the log-mel front-end (:class:`LogMelFeatures`).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment in training, when
        the caller passes ``augment_keys``.
      dtype: computation dtype of the GRU and dense layers; the front-end, the parameters and
        the pooled statistics stay float32.
    """

    hidden: int = 256
    layers: int = 2
    bidirectional: bool = True
    reductions: int = 0
    cell: str = "article"
    input_stack: int = 2
    attention_channels: int = 128
    global_context: bool = True
    embedding_dim: int = 192
    n_mels: int = 80
    hop_length: int = 160
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool,
                 augment_keys: jax.Array | None = None) -> jax.Array:
        """``augment_keys (batch,)``: per-example PRNG keys for SpecAugment in training."""
        x, mask = _features(self, audio, lengths, train, augment_keys)
        x, frames = stack_frames(x, mask.sum(axis=1), self.input_stack)
        x, frames = RNNEncoder(self.hidden, self.layers, self.bidirectional, self.reductions,
                               self.cell, dtype=self.dtype)(x, frames, train=train)
        mask = length_mask(frames, x.shape[1])
        x = AttentiveStatisticsPooling(self.attention_channels, self.global_context,
                                       batch_norm=False, dtype=self.dtype)(x, mask, train=train)
        return nn.Dense(self.embedding_dim, dtype=self.dtype)(x.astype(self.dtype)).astype(
            jnp.float32)
