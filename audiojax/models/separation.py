"""Speech enhancement and source separation: ``mixture (batch, samples)`` float32, ``lengths
(batch,)`` int32 samples -> ``(batch, num_sources, samples)`` float32 estimated sources, the
input's number of samples, zero past each example's length.

- :class:`MaskEstimator`: a (bidirectional) GRU predicting a bounded time-frequency mask on
  the mixture's STFT; the estimate keeps the mixture's phase and is resynthesized by iSTFT.
- :class:`ConvTasNet`: Conv-TasNet (Luo & Mesgarani, "Conv-TasNet: Surpassing Ideal
  Time-Frequency Magnitude Masking for Speech Separation", IEEE/ACM TASLP 2019): a learned
  encoder, a temporal convolutional separator masking it, and a learned overlap-add decoder.

Padding: samples past a length are zeroed on input, every frame that reads no valid sample is
zeroed before anything mixes frames (recurrence, depthwise convolution), and statistics
(feature mean, gLN) are over valid frames only; each model pads its own frames internally, so
in eval mode more zero padding never changes an output's valid part, even for an example
that fills the batch.

Causality (``causal=True``): the network looks at no future frame (unidirectional GRU,
cumulative statistics, left-padded convolutions), and frame ``t`` reads samples only up to
``(t + 1) * hop - 1``. Overlap-add synthesis still spreads frame ``t`` over the ``window``
samples before that, so output sample ``n`` depends on input samples ``m < hop * floor((n +
window) / hop)`` only: a look-ahead of ``window - 1 - n % hop`` samples (``window`` =
``n_fft`` or ``L``; ``hop`` = ``hop_length`` or ``L // 2``). That is the usual algorithmic
latency of one window (32 ms for the MaskEstimator's 512 samples at 16 kHz, 1 ms for
Conv-TasNet's 16); less would need an asymmetric, short synthesis window.

Streaming: the causal models also have ``step(chunk, state)`` over chunks of whole hops with
an explicit state pytree (framing buffer, cumulative statistics, recurrent states, the
convolutions' past frames, the overlap-add tail), ``initial_state(batch)`` and
``stream_delay``: fed a signal and then ``stream_delay`` zeros, the stream is the whole-signal
output (google's sequence-layers' contract; ``audiojax enhance`` streams with it).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from audiojax.frontends import istft, stft
from audiojax.frontends.spectral import fft_window, stft_frames
from audiojax.masking import length_mask, masked_mean
from audiojax.models.rnn import ArticleGRUCell, RNNEncoder

_MASKS = {"sigmoid": nn.sigmoid, "relu": nn.relu}


def _mask_fn(kind: str):
    try:
        return _MASKS[kind]
    except KeyError:
        raise ValueError(f"mask: unknown {kind!r}; known: {sorted(_MASKS)}") from None


def _frames_touching(lengths: jax.Array, left: int, hop: int) -> jax.Array:
    """Frames reading at least one valid sample, when frame ``k`` reads samples ``[k * hop -
    left, k * hop - left + window)`` (``window > left``) of a signal with ``lengths (batch,)``
    valid samples; 0 for an empty example. Every output sample below a length is made only
    from these frames."""
    count = (lengths - 1 + left) // hop + 1  # the last such k has k * hop - left < length
    return jnp.where(lengths > 0, count, 0).astype(jnp.int32)


def _finish(y: jax.Array, lengths: jax.Array) -> jax.Array:
    """``(batch, sources, samples)`` zeroed past each length, float32."""
    return jnp.where(length_mask(lengths, y.shape[-1])[:, None, :], y, 0.0).astype(jnp.float32)


class MaskEstimator(nn.Module):
    """STFT-mask enhancement / separation: ``mixture (batch, samples)``, ``lengths (batch,)``
    samples -> ``(batch, num_sources, samples)``.

        X = STFT(mixture)                               (batch, freq, frames), complex
        f = log1p(|X|) - mean over frames               per bin; cumulative mean when causal
        h = GRU^layers(Dense_hidden(f))                 bidirectional unless causal
        M = mask(Dense_{num_sources * freq}(h))         (batch, sources, freq, frames), in [0, 1] for sigmoid
        source_i = iSTFT(M_i * X)                       the mixture's phase

    ``freq = 1 + n_fft // 2``. A mask of ones returns the mixture (the STFT/iSTFT pair is
    librosa's, perfect reconstruction by window-sum-square normalization).

    Framing: centred (frame ``t`` covers samples ``[t * hop - n_fft / 2, t * hop + n_fft /
    2)``); with ``causal`` shifted left by ``n_fft / 2 - hop`` so it covers ``[t * hop -
    n_fft + hop, (t + 1) * hop)`` and reads nothing past the hop it ends. Output sample ``n``
    then depends on input samples ``m < hop_length * floor((n + n_fft) / hop_length)`` only
    (look-ahead ``n_fft - 1 - n % hop_length`` samples; see the module docstring).

    Attributes:
      num_sources: sources estimated (1: enhancement).
      n_fft, hop_length, window: the STFT (samples; ``window`` as :func:`~audiojax.frontends.stft`
        takes it). ``causal`` needs ``hop_length <= n_fft // 2``.
      layers, hidden, cell: the GRU (:class:`~audiojax.models.rnn.RNNEncoder`), ``hidden``
        features per direction.
      causal: unidirectional GRU, causal framing and cumulative feature mean, for streaming.
      mask: ``sigmoid`` (bounded, the default) or ``relu``.
      dtype: computation dtype of the dense and recurrent layers; the STFT, features and
        output stay float32. ``axis_name``: accepted for the trainer, unused (no BatchNorm).
    """

    num_sources: int = 1
    n_fft: int = 512
    hop_length: int = 128
    window: str = "hann"
    layers: int = 2
    hidden: int = 128
    cell: str = "article"
    causal: bool = False
    mask: str = "sigmoid"
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, mixture: jax.Array, lengths: jax.Array, *, train: bool) -> jax.Array:
        n_fft, hop = self.n_fft, self.hop_length
        if self.causal and hop > n_fft // 2:
            raise ValueError(f"hop_length: {hop} must be at most n_fft // 2 = {n_fft // 2} "
                             f"with causal (frames are shifted left by n_fft // 2 - hop_length)")
        mask_fn = _mask_fn(self.mask)
        batch, samples = mixture.shape
        lengths = jnp.clip(jnp.asarray(lengths, jnp.int32), 0, samples)
        x = jnp.where(length_mask(lengths, samples), mixture.astype(jnp.float32), 0.0)
        # Shift (causal framing) and n_fft // 2 zeros at the end, so every frame that reads a
        # valid sample exists however the batch is padded: padding then changes no frame.
        shift = n_fft // 2 - hop if self.causal else 0
        x = jnp.pad(x, ((0, 0), (shift, n_fft // 2)))
        spec = dict(n_fft=n_fft, hop_length=hop, window=self.window, center=True)
        X = stft(x, **spec)                                    # (batch, freq, frames)
        freq, frames = X.shape[-2:]
        valid = jnp.minimum(_frames_touching(lengths, n_fft // 2 + shift, hop), frames)
        frame_mask = length_mask(valid, frames)[..., None]     # (batch, frames, 1)

        f = jnp.log1p(jnp.abs(jnp.swapaxes(X, -1, -2)))      # (batch, frames, freq)
        if self.causal:  # mean over frames 0..t: no future statistics
            count = jnp.arange(1, frames + 1, dtype=f.dtype)[None, :, None]
            f = f - jnp.cumsum(f, axis=1) / count
        else:
            f = f - masked_mean(f, frame_mask[..., 0], axis=1)[:, None, :]
        f = jnp.where(frame_mask, f, 0.0)

        h = nn.Dense(self.hidden, dtype=self.dtype, name="input")(f.astype(self.dtype))
        h, _ = RNNEncoder(self.hidden, self.layers, bidirectional=not self.causal,
                          cell=self.cell, dtype=self.dtype, name="rnn")(h, valid, train=train)
        m = nn.Dense(self.num_sources * freq, dtype=self.dtype, name="mask_out")(h)
        m = mask_fn(m.astype(jnp.float32)).reshape(batch, frames, self.num_sources, freq)
        m = jnp.transpose(m, (0, 2, 3, 1))                    # (batch, sources, freq, frames)
        y = istft(m * X[:, None], **spec, length=x.shape[-1])  # (batch, sources, padded)
        return _finish(y[..., shift:shift + samples], lengths)

    # -- streaming (causal only): the same output, chunk by chunk with carried state ------------
    @property
    def streamable(self) -> bool:
        """Whether :meth:`step` runs this model (causal, the article's cell)."""
        return self.causal and self.cell == "article"

    @property
    def stream_delay(self) -> int:
        """Samples by which :meth:`step`'s output lags its input: a window less a hop."""
        return self.n_fft - self.hop_length

    @nn.nowrap
    def initial_state(self, batch: int) -> dict:
        """The state before the first sample: the last ``n_fft - hop`` input samples (zeros),
        the running sum and count of the features, each GRU layer's state, and the overlap-add
        tail of ``n_fft - hop`` samples per source."""
        freq, kept = 1 + self.n_fft // 2, self.n_fft - self.hop_length
        return {"samples": jnp.zeros((batch, kept), jnp.float32),
                "sum": jnp.zeros((batch, freq), jnp.float32),
                "count": jnp.zeros((), jnp.float32),
                "rnn": tuple(jnp.zeros((batch, self.hidden), self.dtype) for _ in range(self.layers)),
                "overlap": jnp.zeros((batch, self.num_sources, kept), jnp.float32)}

    def step(self, chunk: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        """``chunk (batch, K * hop_length)`` samples -> ``(out (batch, num_sources, K *
        hop_length), state)``, for a causal model: ``out`` continues the output stream, which
        is the whole-signal output delayed by :attr:`stream_delay` samples (the first that many
        precede the signal). Fed a signal and then ``stream_delay`` zeros, the stream is
        :meth:`__call__`'s output on that signal (tests/test_separation_models.py)."""
        n_fft, hop = self.n_fft, self.hop_length
        if not self.streamable:
            raise ValueError("step: streaming needs causal=True and the article's cell")
        if chunk.shape[-1] % hop:
            raise ValueError(f"step: chunks of whole hops ({hop} samples), got {chunk.shape[-1]}")
        batch, frames = chunk.shape[0], chunk.shape[-1] // hop
        params = self.variables["params"]
        joined = jnp.concatenate([state["samples"], chunk.astype(jnp.float32)], axis=-1)
        X = stft_frames(joined, n_fft, hop, n_fft, self.window, False, "constant")  # (B, K, freq)
        f = jnp.log1p(jnp.abs(X))
        total = state["sum"][:, None, :] + jnp.cumsum(f, axis=1)
        count = state["count"] + jnp.arange(1, frames + 1, dtype=jnp.float32)
        f = f - total / count[None, :, None]
        # Layers applied with their parameters by hand (parent=None: not submodules of this
        # bound module), so the step reads the very parameters __call__ trained.
        dense = lambda n, name, x: nn.Dense(n, dtype=self.dtype, parent=None).apply(  # noqa: E731
            {"params": params[name]}, x)
        h = dense(self.hidden, "input", f.astype(self.dtype))
        layers = []
        for i in range(self.layers):
            h, s = ArticleGRUCell(self.hidden, use_bias=True, dtype=self.dtype, parent=None).apply(
                {"params": params["rnn"][f"forward_cell_{i}"]}, h, state["rnn"][i], frames,
                method=ArticleGRUCell.stream)
            layers.append(s)
        m = _mask_fn(self.mask)(dense(self.num_sources * X.shape[-1], "mask_out", h)
                                .astype(jnp.float32))
        m = m.reshape(batch, frames, self.num_sources, X.shape[-1])
        win = jnp.asarray(fft_window(self.window, n_fft, n_fft), jnp.float32)
        y = jnp.fft.irfft(m * X[:, :, None], n=n_fft, axis=-1) * win   # (B, K, S, n_fft)
        index = hop * np.arange(frames)[:, None] + np.arange(n_fft)
        ola = jnp.zeros((batch, self.num_sources, (frames - 1) * hop + n_fft), jnp.float32)
        ola = ola.at[..., index].add(jnp.transpose(y, (0, 2, 1, 3)))
        ola = ola.at[..., :n_fft - hop].add(state["overlap"])
        out = ola[..., :frames * hop] * jnp.asarray(np.tile(self._inverse_wss(), frames))
        return out, {"samples": joined[:, frames * hop:], "sum": total[:, -1], "count": count[-1],
                     "rnn": tuple(layers), "overlap": ola[..., frames * hop:]}

    @nn.nowrap
    def _inverse_wss(self) -> np.ndarray:
        """``1 / sum of squared windows`` over one hop of a stream (every sample of the signal
        is covered by all the frames that can cover it), as :func:`istft` divides."""
        win2 = fft_window(self.window, self.n_fft, self.n_fft) ** 2
        wss = np.array([win2[r::self.hop_length].sum() for r in range(self.hop_length)])
        usable = wss > np.finfo(np.float32).tiny
        return np.where(usable, 1.0 / np.where(usable, wss, 1.0), 1.0).astype(np.float32)


class _Norm(nn.Module):
    """Conv-TasNet's layer norms of ``x (batch, frames, C)``, statistics over frames and
    channels: global (gLN) over the valid frames of ``mask (batch, frames)``, or cumulative
    (cLN, ``causal``) over frames ``0..k`` for frame ``k``; a gain and bias per channel."""

    causal: bool = False
    eps: float = 1e-8  # the paper's

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        gain = self.param("scale", nn.initializers.ones, (channels,))
        bias = self.param("bias", nn.initializers.zeros, (channels,))
        v = x.astype(jnp.float32)
        if self.causal:
            count = channels * jnp.arange(1, x.shape[1] + 1, dtype=jnp.float32)[None, :, None]
            mean = jnp.cumsum(v.sum(-1, keepdims=True), axis=1) / count
            var = jnp.cumsum((v ** 2).sum(-1, keepdims=True), axis=1) / count - mean ** 2
        else:
            valid = mask[..., None]
            count = jnp.maximum(valid.sum((1, 2), keepdims=True) * channels, 1)
            mean = jnp.where(valid, v, 0.0).sum((1, 2), keepdims=True) / count
            var = jnp.where(valid, (v - mean) ** 2, 0.0).sum((1, 2), keepdims=True) / count
        y = (v - mean) * jax.lax.rsqrt(jnp.maximum(var, 0.0) + self.eps) * gain + bias
        return y.astype(x.dtype)

    @nn.nowrap
    def initial_state(self, batch: int) -> dict:
        """cLN's running sums (per example) and frame count before the first frame."""
        return {"sum": jnp.zeros((batch, 1, 1), jnp.float32),
                "squares": jnp.zeros((batch, 1, 1), jnp.float32),
                "frames": jnp.zeros((), jnp.float32)}

    def step(self, x: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        """cLN over the next frames ``x (batch, K, C)``, the statistics carried in ``state``."""
        channels = x.shape[-1]
        gain, bias = self.variables["params"]["scale"], self.variables["params"]["bias"]
        v = x.astype(jnp.float32)
        total = state["sum"] + jnp.cumsum(v.sum(-1, keepdims=True), axis=1)
        squares = state["squares"] + jnp.cumsum((v ** 2).sum(-1, keepdims=True), axis=1)
        frames = state["frames"] + jnp.arange(1, x.shape[1] + 1, dtype=jnp.float32)
        count = channels * frames[None, :, None]
        mean = total / count
        var = squares / count - mean ** 2
        y = (v - mean) * jax.lax.rsqrt(jnp.maximum(var, 0.0) + self.eps) * gain + bias
        return y.astype(x.dtype), {"sum": total[:, -1:], "squares": squares[:, -1:],
                                   "frames": frames[-1]}


class TemporalBlock(nn.Module):
    """One 1-D conv block of the separator: ``x (batch, frames, B)``, ``mask (batch, frames)``
    -> ``(residual (batch, frames, B) or None, skip (batch, frames, Sc))``:

        y = norm(PReLU(conv1x1_H(x)))
        y = norm(PReLU(depthwise_conv_P(y, dilation)))   'same' padding, or left only (causal)
        residual = conv1x1_B(y), skip = conv1x1_Sc(y)

    The depthwise conv's input is zeroed past ``mask``, so valid frames never read padding.
    """

    hidden: int
    bottleneck: int
    skip: int
    kernel_size: int = 3
    dilation: int = 1
    causal: bool = False
    residual: bool = True  # the last block's residual output is never used
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array):
        conv = lambda n, name: nn.Conv(n, (1,), dtype=self.dtype, name=name)  # noqa: E731
        prelu = lambda: nn.PReLU(negative_slope_init=0.25)  # noqa: E731  PyTorch's initial slope
        y = _Norm(self.causal)(prelu()(conv(self.hidden, "expand")(x)), mask)
        y = jnp.where(mask[..., None], y, jnp.zeros((), y.dtype))
        context = self.dilation * (self.kernel_size - 1)
        pad = (context, 0) if self.causal else (context // 2, context - context // 2)
        y = nn.Conv(self.hidden, (self.kernel_size,), kernel_dilation=(self.dilation,),
                    padding=(pad,), feature_group_count=self.hidden, dtype=self.dtype,
                    name="depthwise")(y)
        y = _Norm(self.causal)(prelu()(y), mask)
        residual = conv(self.bottleneck, "residual")(y) if self.residual else None
        return residual, conv(self.skip, "skip")(y)

    @nn.nowrap
    def initial_state(self, batch: int) -> dict:
        """The causal block's state: its two cLNs' and the depthwise convolution's last
        ``dilation * (kernel_size - 1)`` input frames."""
        norm = _Norm(True, parent=None).initial_state(batch)
        return {"norm_0": norm, "norm_1": norm,
                "context": jnp.zeros((batch, self.dilation * (self.kernel_size - 1), self.hidden),
                                     self.dtype)}

    def step(self, x: jax.Array, state: dict):
        """A causal block over the next frames ``x (batch, K, B)`` with carried ``state`` ->
        ``((residual or None, skip), state)``, equal to :meth:`__call__` frame for frame."""
        p = self.variables["params"]
        run = lambda module, name, *a, **kw: module.apply({"params": p[name]}, *a, **kw)  # noqa: E731
        conv = lambda n, name, y: run(nn.Conv(n, (1,), dtype=self.dtype, parent=None), name, y)  # noqa: E731
        prelu = lambda name, y: run(nn.PReLU(parent=None), name, y)  # noqa: E731
        norm = lambda name, y, st: run(_Norm(True, parent=None), name, y, st,  # noqa: E731
                                       method=_Norm.step)
        y, n0 = norm("_Norm_0", prelu("PReLU_0", conv(self.hidden, "expand", x)), state["norm_0"])
        joined = jnp.concatenate([state["context"], y.astype(state["context"].dtype)], axis=1)
        y = run(nn.Conv(self.hidden, (self.kernel_size,), kernel_dilation=(self.dilation,),
                        padding="VALID", feature_group_count=self.hidden, dtype=self.dtype,
                        parent=None), "depthwise", joined)
        y, n1 = norm("_Norm_1", prelu("PReLU_1", y), state["norm_1"])
        residual = conv(self.bottleneck, "residual", y) if self.residual else None
        context = joined[:, joined.shape[1] - state["context"].shape[1]:]
        return (residual, conv(self.skip, "skip", y)), {"norm_0": n0, "norm_1": n1,
                                                          "context": context}


class ConvTasNet(nn.Module):
    """Conv-TasNet: ``mixture (batch, samples)``, ``lengths (batch,)`` samples -> ``(batch,
    num_sources, samples)``.

        w = ReLU(Conv1D_N(mixture, kernel L, stride L // 2))        encoder, (batch, frames, N)
        s = sum of skips of R x X TemporalBlocks (dilations 1, 2, .., 2**(X-1)) on
            conv1x1_B(norm(w))
        m_i = mask(conv1x1_{num_sources * N}(PReLU(s)))             (batch, frames, N) each
        source_i = ConvTranspose1D(m_i * w, kernel L, stride L // 2)  overlap-add decoder

    Frame ``k`` reads samples ``[k * hop - (L - hop), k * hop + hop)`` (``hop = L // 2``; the
    input zero-padded at both ends, so every sample is covered by the same number of frames);
    the decoder's output is trimmed to the input's samples. About 0.32M parameters at the
    defaults (a small CPU size); the paper's best non-causal model is ``N=512, L=16, B=128,
    H=512, P=3, X=8, R=3, Sc=128`` (4.9M parameters here, the paper's table says 5.1M).

    With ``causal``: left-padded depthwise convolutions and cumulative layer norm (cLN)
    instead of global (gLN); output sample ``n`` depends on input samples ``m < hop *
    floor((n + L) / hop)`` only (look-ahead ``L - 1 - n % hop`` samples).

    Attributes:
      num_sources: sources estimated.
      N: encoder filters. L: their length in samples (stride ``L // 2``; ``L >= 2``).
      B: bottleneck channels. H: conv-block channels. P: depthwise kernel size.
      X: blocks per repeat. R: repeats. Sc: skip-connection channels.
      causal: for streaming (above). mask: ``sigmoid`` (the paper's) or ``relu``.
      dtype: computation dtype of the convolutions (norm statistics and output float32).
        ``axis_name``: accepted for the trainer, unused (no BatchNorm).
    """

    num_sources: int = 1
    N: int = 128
    L: int = 16
    B: int = 64
    H: int = 128
    P: int = 3
    X: int = 6
    R: int = 2
    Sc: int = 64
    causal: bool = False
    mask: str = "sigmoid"
    dtype: Any = jnp.float32
    axis_name: str | None = None

    @nn.compact
    def __call__(self, mixture: jax.Array, lengths: jax.Array, *, train: bool) -> jax.Array:
        if self.L < 2:
            raise ValueError(f"L: {self.L} must be at least 2 (the stride is L // 2)")
        mask_fn = _mask_fn(self.mask)
        batch, samples = mixture.shape
        window, hop = self.L, self.L // 2
        left = window - hop
        lengths = jnp.clip(jnp.asarray(lengths, jnp.int32), 0, samples)
        x = jnp.where(length_mask(lengths, samples), mixture.astype(jnp.float32), 0.0)
        # Enough frames for every sample (frame k covers [k*hop - left, k*hop - left + L)),
        # exactly filling the padded signal; computed from static shapes.
        frames = (samples - 1 + left) // hop + 1
        right = (frames - 1) * hop + window - left - samples
        x = jnp.pad(x, ((0, 0), (left, right)))[..., None].astype(self.dtype)
        w = nn.relu(nn.Conv(self.N, (window,), strides=(hop,), padding="VALID",
                            use_bias=False, dtype=self.dtype, name="encoder")(x))
        mask = length_mask(jnp.minimum(_frames_touching(lengths, left, hop), frames),
                           frames)                            # (batch, frames)
        w = jnp.where(mask[..., None], w, jnp.zeros((), w.dtype))  # padding never leaks

        y = nn.Conv(self.B, (1,), dtype=self.dtype, name="bottleneck")(
            _Norm(self.causal, name="input_norm")(w, mask))
        skips = 0.0
        for r in range(self.R):
            for i in range(self.X):
                last = r == self.R - 1 and i == self.X - 1
                residual, skip = TemporalBlock(
                    self.H, self.B, self.Sc, self.P, 2 ** i, self.causal, residual=not last,
                    dtype=self.dtype, name=f"block_{r}_{i}")(y, mask)
                skips = skips + skip
                if residual is not None:
                    y = y + residual
        m = nn.Conv(self.num_sources * self.N, (1,), dtype=self.dtype, name="mask_out")(
            nn.PReLU(negative_slope_init=0.25)(skips))
        m = mask_fn(m.astype(jnp.float32)).reshape(batch, frames, self.num_sources, self.N)
        est = jnp.transpose(m * w[:, :, None, :].astype(jnp.float32), (0, 2, 1, 3))
        est = est.reshape(batch * self.num_sources, frames, self.N).astype(self.dtype)
        out = nn.ConvTranspose(1, (window,), strides=(hop,), padding="VALID", use_bias=False,
                               dtype=self.dtype, name="decoder")(est)  # overlap-add
        out = out[:, left:left + samples, 0].reshape(batch, self.num_sources, samples)
        return _finish(out, lengths)

    # -- streaming (causal only): the same output, chunk by chunk with carried state ------------
    @nn.nowrap
    def _blocks(self) -> list[tuple[str, "TemporalBlock"]]:
        return [(f"block_{r}_{i}", TemporalBlock(
            self.H, self.B, self.Sc, self.P, 2 ** i, True,
            residual=not (r == self.R - 1 and i == self.X - 1), dtype=self.dtype, parent=None))
            for r in range(self.R) for i in range(self.X)]

    @property
    def streamable(self) -> bool:
        """Whether :meth:`step` runs this model (causal)."""
        return self.causal

    @property
    def hop_length(self) -> int:
        return self.L // 2

    @property
    def stream_delay(self) -> int:
        """Samples by which :meth:`step`'s output lags its input: ``L - L // 2``."""
        return self.L - self.L // 2

    @nn.nowrap
    def initial_state(self, batch: int) -> dict:
        """The state before the first sample: the encoder's last ``L - hop`` input samples,
        the input cLN's and every block's state, and the decoder's overlap-add tail."""
        left = self.L - self.L // 2
        return {"samples": jnp.zeros((batch, left), jnp.float32),
                "norm": _Norm(True, parent=None).initial_state(batch),
                "blocks": {name: block.initial_state(batch) for name, block in self._blocks()},
                "overlap": jnp.zeros((batch * self.num_sources, left), jnp.float32)}

    def step(self, chunk: jax.Array, state: dict) -> tuple[jax.Array, dict]:
        """``chunk (batch, K * L // 2)`` samples -> ``(out (batch, num_sources, K * L // 2),
        state)``, for a causal model: the output stream is the whole-signal output delayed by
        :attr:`stream_delay` samples (see :meth:`MaskEstimator.step`)."""
        if not self.causal:
            raise ValueError("step: streaming needs causal=True")
        hop, window = self.L // 2, self.L
        if chunk.shape[-1] % hop:
            raise ValueError(f"step: chunks of whole hops ({hop} samples), got {chunk.shape[-1]}")
        batch, frames = chunk.shape[0], chunk.shape[-1] // hop
        p = self.variables["params"]
        run = lambda module, name, *a, **kw: module.apply({"params": p[name]}, *a, **kw)  # noqa: E731
        conv1 = lambda n, name, y: run(nn.Conv(n, (1,), dtype=self.dtype, parent=None), name, y)  # noqa: E731
        joined = jnp.concatenate([state["samples"], chunk.astype(jnp.float32)], axis=-1)
        w = nn.relu(run(nn.Conv(self.N, (window,), strides=(hop,), padding="VALID",
                                use_bias=False, dtype=self.dtype, parent=None), "encoder",
                        joined[..., None].astype(self.dtype)))
        y, norm = run(_Norm(True, parent=None), "input_norm", w, state["norm"], method=_Norm.step)
        y = conv1(self.B, "bottleneck", y)
        skips, blocks = 0.0, {}
        for name, block in self._blocks():
            (residual, skip), blocks[name] = run(block, name, y, state["blocks"][name],
                                                 method=TemporalBlock.step)
            skips = skips + skip
            if residual is not None:
                y = y + residual
        m = conv1(self.num_sources * self.N, "mask_out", run(nn.PReLU(parent=None), "PReLU_0", skips))
        m = _mask_fn(self.mask)(m.astype(jnp.float32)).reshape(batch, frames, self.num_sources, self.N)
        est = jnp.transpose(m * w[:, :, None, :].astype(jnp.float32), (0, 2, 1, 3))
        est = est.reshape(batch * self.num_sources, frames, self.N).astype(self.dtype)
        out = run(nn.ConvTranspose(1, (window,), strides=(hop,), padding="VALID", use_bias=False,
                                   dtype=self.dtype, parent=None), "decoder", est)[..., 0]
        out = out.astype(jnp.float32).at[:, :state["overlap"].shape[1]].add(state["overlap"])
        emit = out[:, :frames * hop].reshape(batch, self.num_sources, frames * hop)
        return emit, {"samples": joined[:, frames * hop:], "norm": norm, "blocks": blocks,
                      "overlap": out[:, frames * hop:]}
