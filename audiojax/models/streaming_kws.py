"""A streaming keyword model: causal PCEN log-mel -> dilated causal convolutions -> optional
GRU -> per-frame class scores, run over whole clips or chunk by chunk with carried state."""

from __future__ import annotations

import flax.linen as nn
import jax

from audiojax.data.augment import spec_augment_per_example
from audiojax.frontends.streaming import StreamingLogMel
from audiojax.models.streaming import ResidualCausalBlock, StreamingGRU, WindowPool, pool_frames


class StreamingKWS(nn.Module):
    """Keyword spotter whose frame ``t`` (every ``hop_length`` samples) scores the classes from
    the audio up to that frame only.

    ``__call__(audio (B, samples), lengths (B,), *, train, augment_keys=None) -> logits (B,
    num_classes)``: the per-frame scores pooled over each clip's frames (``pooling``), so the
    classification task trains it as any clip classifier. :meth:`frames` gives the per-frame
    scores over whole clips; :meth:`stream_scores` what a stream is scored by (the per-frame
    scores, or with ``window`` their pooling over the last frames), and :meth:`step` the same
    chunk by chunk (any chunk size) from :meth:`initial_state`, for listening to a stream.

    Attributes:
      sample_rate, n_fft, hop_length, n_mels, compression: the causal front-end
        (:class:`~audiojax.frontends.streaming.StreamingLogMel`; ``pcen`` or ``db``).
      channels: width of the convolutional stack.
      kernel_size, dilations: one residual causal block per dilation; the receptive field is
        ``1 + (kernel_size - 1) * sum(dilations)`` frames (127, 1.27 s, by default).
      gru_units: a unidirectional article GRU after the convolutions, on their layer-normed
        output (0: none).
      pooling: ``max``, ``mean`` or ``last`` over frames for the clip's logits.
      background_class: the class of a clip of nothing (``_background_``, which the
        classification task gives when its labels hold it; -1: none): its clip logit is the
        *least* over frames, so a clip scores it only when every frame does, and a keyword
        clip, whose keyword frames do not, scores the keyword.
      window: > 0: a stream's frame t is scored by the clip logits of the ``window`` frames
        ending there (:class:`~audiojax.models.streaming.WindowPool`, pooled as in training:
        max, and min for the background class); 0: by frame t's own scores.
      dropout: after each block's convolution, in training with ``augment_keys`` (one key
        per example, so a device split drops the same units).
      time_masks, time_mask_width (frames), freq_masks, freq_mask_width (bands): SpecAugment
        on the features in training.
    """

    num_classes: int
    sample_rate: int = 16000
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 40
    compression: str = "pcen"
    channels: int = 64
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    gru_units: int = 0
    pooling: str = "max"
    background_class: int = -1
    window: int = 0
    dropout: float = 0.1
    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0

    @nn.nowrap
    def _frontend(self, **kwargs) -> StreamingLogMel:
        return StreamingLogMel(sample_rate=self.sample_rate, n_fft=self.n_fft,
                               hop_length=self.hop_length, n_mels=self.n_mels,
                               compression=self.compression, **kwargs)

    def setup(self):
        self.frontend = self._frontend()
        self.project = nn.Dense(self.channels)
        self.blocks = [ResidualCausalBlock(self.channels, self.kernel_size, d, self.dropout)
                       for d in self.dilations]
        self.gru = StreamingGRU(self.gru_units) if self.gru_units else None
        # The residual sum grows with depth; unnormalized, it saturates the GRU's gates.
        self.gru_norm = nn.LayerNorm() if self.gru_units else None
        self.norm = nn.LayerNorm()
        self.head = nn.Dense(self.num_classes)
        self.pool = WindowPool(self.window, self.background_class) if self.window else None

    def frames(self, audio: jax.Array, lengths: jax.Array, *, train: bool = False,
               augment_keys: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """-> ``(scores (B, samples // hop, num_classes), frames (B,) = lengths // hop)``."""
        x, frames = self.frontend(audio, lengths)
        if augment_keys is not None and (self.time_masks or self.freq_masks):
            x = spec_augment_per_example(augment_keys, x, frames, self.time_masks,
                                         self.time_mask_width, self.freq_masks,
                                         self.freq_mask_width)
        x = self.project(x)
        for i, block in enumerate(self.blocks):
            keys = None
            if train and augment_keys is not None:
                keys = jax.vmap(lambda k: jax.random.fold_in(k, 1 + i))(augment_keys)
            x = block(x, keys)
        if self.gru is not None:
            x = self.gru(self.gru_norm(x))
        return self.head(nn.relu(self.norm(x))), frames

    def __call__(self, audio: jax.Array, lengths: jax.Array, *, train: bool = False,
                 augment_keys: jax.Array | None = None) -> jax.Array:
        scores, frames = self.frames(audio, lengths, train=train, augment_keys=augment_keys)
        pooled = pool_frames(scores, frames, self.pooling)
        if self.background_class < 0:
            return pooled
        b = self.background_class
        least = -pool_frames(-scores[..., b:b + 1], frames, "max")
        return pooled.at[:, b].set(least[:, 0])

    def stream_scores(self, audio: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
        """-> ``(scores (B, samples // hop, num_classes), frames (B,))``: what :meth:`step`
        gives frame by frame."""
        scores, frames = self.frames(audio, lengths)
        return (scores if self.pool is None else self.pool(scores)), frames

    @nn.nowrap
    def initial_state(self, batch: int) -> dict:
        """The state before the first sample of ``batch`` streams."""
        blocks = [ResidualCausalBlock(self.channels, self.kernel_size, d, parent=None)
                  .initial_state(batch, self.channels) for d in self.dilations]
        state = {"frontend": self._frontend(parent=None).initial_state(batch), "blocks": blocks}
        if self.gru_units:
            state["gru"] = StreamingGRU(self.gru_units, parent=None).initial_state(batch,
                                                                                  self.channels)
        if self.window:
            state["window"] = WindowPool(self.window, parent=None).initial_state(batch,
                                                                               self.num_classes)
        return state

    def step(self, chunk: jax.Array, state: dict) -> tuple[jax.Array, jax.Array, dict]:
        """``chunk (B, C)`` samples -> ``(scores (B, ceil(C / hop), num_classes), n, state)``:
        the first ``n`` slots are the frames the chunk completed, equal to
        :meth:`stream_scores`."""
        x, n, frontend = self.frontend.step(chunk, state["frontend"])
        x = self.project(x)
        blocks = []
        for block, block_state in zip(self.blocks, state["blocks"]):
            x, block_state = block.step(x, n, block_state)
            blocks.append(block_state)
        new = {"frontend": frontend, "blocks": blocks}
        if self.gru is not None:
            x, new["gru"] = self.gru.step(self.gru_norm(x), n, state["gru"])
        scores = self.head(nn.relu(self.norm(x)))
        if self.pool is not None:
            scores, new["window"] = self.pool.step(scores, n, state["window"])
        return scores, n, new
