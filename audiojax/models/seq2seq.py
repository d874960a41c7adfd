"""Attention-based speech recognizer (Listen, Attend and Spell with the article's GRU and
additive attention): log-mel on device -> (optional strided convolutions) -> pyramidal
bidirectional GRU encoder -> GRU decoder attending over the encoder outputs -> one character
per step.

Decoder step ``i`` (token ``y_{i-1}``, state ``s_{i-1}``, previous alignment ``alpha_{i-1}``):

    c_i, alpha_i = attention(s_{i-1}, h, alpha_{i-1})
    s_i = GRU(s_{i-1}, [embed(y_{i-1}), c_i])
    logits_i = W_o tanh(W_h [s_i, c_i])

With ``ctc_layer >= 0`` a linear CTC head on that encoder layer (at that layer's frame rate:
layer 0 runs at ``2**len(conv_channels) * input_stack`` x 10 ms) also scores the characters;
training adds its loss (joint CTC-attention training, Kim, Hori and Watanabe 2017): CTC's
monotonic alignment teaches the encoder to locate characters long before the attention has
learnt to, which is what makes attention models slow to start.

Training runs the step over the reference (teacher forcing, :meth:`Recognizer.__call__`);
decoding (``audiojax.tasks.asr.decode``) calls :meth:`Recognizer.encode` once, then
:meth:`Recognizer.decode_step` per emitted token.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiojax.frontends import frames_for_length
from audiojax.masking import length_mask
from audiojax.models.attention import AdditiveAttention
from audiojax.models.features import ConvSubsampler, LogMelFeatures
from audiojax.models.rnn import RNNEncoder, make_cell, stack_frames


class Encoded(NamedTuple):
    """What the decoder attends to: ``values (batch, frames, dim)``, their attention ``keys``
    ``(batch, frames, units)`` and ``mask (batch, frames)`` (True on valid frames)."""

    values: jax.Array
    keys: jax.Array
    mask: jax.Array


class DecoderState(NamedTuple):
    """The decoder's carry: GRU state ``(batch, hidden)`` and last alignment ``(batch, frames)``."""

    state: jax.Array
    alignment: jax.Array


class Recognizer(nn.Module):
    """``audio (batch, samples)`` + ``lengths (batch,)`` -> per-step character logits.

    Attributes:
      vocab_size: output classes (see ``audiojax.tasks.asr.tokenizer.CharTokenizer``); ``sos_id`` is the
        token fed before the first character.
      n_mels, hop_length, win_length, n_fft, sample_rate: the log-mel front-end (samples, Hz).
      time_masks, time_mask_width, freq_masks, freq_mask_width: SpecAugment in training.
      conv_channels: a :class:`ConvSubsampler` before the encoder (each entry halves time and
        frequency), () for none.
      input_stack: neighbouring frames concatenated before the encoder (a time reduction).
      encoder_hidden, encoder_layers, reductions, cell, dropout: the :class:`RNNEncoder`
        (bidirectional); total time reduction
        ``2**len(conv_channels) * input_stack * 2**reductions``.
      decoder_hidden, embed_dim, attention_units, location_filters, location_kernel: decoder.
      ctc_layer: encoder layer under a CTC head (blank: id 0, the padding id), -1: none.
    """

    vocab_size: int
    sos_id: int = 1
    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    n_mels: int = 80
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0
    conv_channels: tuple[int, ...] = ()
    input_stack: int = 3
    encoder_hidden: int = 256
    encoder_layers: int = 3
    reductions: int = 2
    cell: str = "article"
    dropout: float = 0.0
    decoder_hidden: int = 256
    embed_dim: int = 64
    attention_units: int = 128
    location_filters: int = 0
    location_kernel: int = 31
    ctc_layer: int = -1
    dtype: Any = jnp.float32  # compute (parameters stay float32; logits, alignments float32)

    def setup(self):
        self.features = LogMelFeatures(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            win_length=self.win_length, n_mels=self.n_mels, time_masks=self.time_masks,
            time_mask_width=self.time_mask_width, freq_masks=self.freq_masks,
            freq_mask_width=self.freq_mask_width)
        self.subsampler = (ConvSubsampler(tuple(self.conv_channels), dtype=self.dtype)
                           if self.conv_channels else None)
        self.encoder = RNNEncoder(self.encoder_hidden, self.encoder_layers, bidirectional=True,
                                  reductions=self.reductions, cell=self.cell, dropout=self.dropout,
                                  dtype=self.dtype)
        self.attention = AdditiveAttention(self.attention_units, self.location_filters,
                                           self.location_kernel, dtype=self.dtype)
        self.embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype)
        self.decoder_cell = make_cell(self.cell, self.decoder_hidden, dtype=self.dtype, use_bias=True)
        self.hidden = nn.Dense(self.decoder_hidden, dtype=self.dtype)
        self.output = nn.Dense(self.vocab_size, dtype=self.dtype)
        if self.ctc_layer >= 0:
            if self.ctc_layer >= self.encoder_layers:
                raise ValueError(f"ctc_layer: {self.ctc_layer} must be below encoder_layers "
                                 f"({self.encoder_layers})")
            self.ctc_output = nn.Dense(self.vocab_size, dtype=self.dtype)

    def _encode(self, audio, lengths, train, augment_keys):
        """-> (:class:`Encoded`, CTC ``(logits (batch, frames, vocab), frames (batch,))`` or None)."""
        x, frames = self.features(audio, lengths, augment_keys if train else None)
        x = x.astype(self.dtype)
        if self.subsampler is not None:
            x, frames = self.subsampler(x, frames)
        x, frames = stack_frames(x, frames, self.input_stack)
        if self.ctc_layer < 0:
            h, frames = self.encoder(x, frames, train=train)
            ctc = None
        else:
            h, frames, (tapped, tapped_frames) = self.encoder(x, frames, train=train, tap=self.ctc_layer)
            ctc = (self.ctc_output(tapped).astype(jnp.float32), tapped_frames)
        return Encoded(h, self.attention.keys(h), length_mask(frames, h.shape[1])), ctc

    def encode(self, audio: jax.Array, lengths: jax.Array, *, train: bool = False,
               augment_keys: jax.Array | None = None) -> Encoded:
        """``audio (batch, samples)``, ``lengths (batch,)`` samples -> :class:`Encoded` with
        ``frames = ceil(log-mel frames / (2**len(conv_channels) * input_stack * 2**reductions))``
        (ceilings taken stage by stage)."""
        return self._encode(audio, lengths, train, augment_keys)[0]

    def encode_with_ctc(self, audio: jax.Array, lengths: jax.Array
                        ) -> tuple[Encoded, tuple[jax.Array, jax.Array]]:
        """:meth:`encode` and the CTC head's ``(log-probabilities (batch, ctc_frames, vocab),
        ctc_frames (batch,))``, for joint CTC-attention decoding (needs ``ctc_layer >= 0``)."""
        if self.ctc_layer < 0:
            raise ValueError("ctc_weight: this recognizer has no CTC head (ctc_layer=-1)")
        encoded, (logits, frames) = self._encode(audio, lengths, False, None)
        return encoded, (jax.nn.log_softmax(logits.astype(jnp.float32)), frames)

    @nn.nowrap
    def encoded_frames(self, lengths: jax.Array) -> jax.Array:
        """``lengths (batch,)`` samples -> valid encoder frames ``(batch,)``, as :meth:`encode`
        counts them (for losses on the alignments), without running the model."""
        frames = jnp.maximum(frames_for_length(lengths, self.n_fft, self.hop_length, center=True), 1)
        for factor in (2,) * len(self.conv_channels) + (self.input_stack,) + (2,) * self.reductions:
            frames = -(-frames // factor)
        return frames

    def initial_state(self, encoded: Encoded) -> DecoderState:
        """Zero GRU state; the previous alignment starts on the first frame."""
        batch, frames = encoded.mask.shape
        first = jnp.zeros((batch, frames)).at[:, 0].set(1.0)
        return DecoderState(jnp.zeros((batch, self.decoder_hidden), self.dtype), first)

    def decode_step(self, carry: DecoderState, tokens: jax.Array, encoded: Encoded
                    ) -> tuple[DecoderState, jax.Array]:
        """``tokens (batch,)`` int = ``y_{i-1}`` -> ``(carry_i, logits_i (batch, vocab_size))``;
        ``carry_i.alignment`` is ``alpha_i``."""
        context, alpha = self.attention(carry.state, encoded.keys, encoded.values, encoded.mask,
                                        carry.alignment)
        state, _ = self.decoder_cell(carry.state, jnp.concatenate([self.embed(tokens), context], -1))
        logits = self.output(jnp.tanh(self.hidden(jnp.concatenate([state, context], -1))))
        return DecoderState(state, alpha), logits.astype(jnp.float32)

    def __call__(self, audio: jax.Array, lengths: jax.Array, targets: jax.Array, *,
                 train: bool = False, augment_keys: jax.Array | None = None,
                 sampling: jax.Array | None = None, with_ctc: bool = False):
        """Teacher forcing: ``targets (batch, steps)`` int (the reference, EOS and padding
        included) -> ``(logits (batch, steps, vocab_size), alignments (batch, steps, frames))``,
        and with ``with_ctc`` (needs ``ctc_layer >= 0``) a third item, the CTC head's
        ``(logits (batch, ctc_frames, vocab_size), ctc_frames (batch,))``.

        ``sampling (batch, steps)`` bool (scheduled sampling): where True, step ``i`` is fed the
        model's own previous prediction instead of ``targets[:, i-1]``.
        """
        encoded, ctc = self._encode(audio, lengths, train, augment_keys)
        if with_ctc and ctc is None:
            raise ValueError("with_ctc: this recognizer has no CTC head (ctc_layer=-1)")
        batch, steps = targets.shape
        previous = jnp.concatenate([jnp.full((batch, 1), self.sos_id, targets.dtype),
                                    targets[:, :-1]], axis=1)
        if sampling is None:
            sampling = jnp.zeros((batch, steps), bool)

        def body(module, carry, xs):
            state, predicted = carry
            teacher, use_own = xs
            fed = jnp.where(use_own, predicted, teacher)
            state, logits = module.decode_step(state, fed, encoded)
            return (state, logits.argmax(-1).astype(fed.dtype)), (logits, state.alignment)

        scan = nn.scan(body, variable_broadcast="params", split_rngs={"params": False},
                       in_axes=1, out_axes=1)
        start = (self.initial_state(encoded), previous[:, 0])
        _, (logits, alignments) = scan(self, start, (previous, sampling))
        return (logits, alignments, ctc) if with_ctc else (logits, alignments)
