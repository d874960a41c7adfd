"""A causal log-mel front-end with a whole-signal mode and a chunk-by-chunk mode that agree.

Causal framing: frame ``t`` holds the ``n_fft`` samples that end at sample ``(t + 1) * hop``
(zeros before the start), so it exists as soon as its last sample has arrived and a signal of
``L`` samples has ``L // hop`` frames. This is librosa's ``center=False`` framing of the
signal with ``n_fft - hop`` zeros prepended.

The step mode takes chunks of any fixed size ``C`` (not necessarily a multiple of the hop):
each call returns ``ceil(C / hop)`` frame slots of which the first ``n`` are new frames (``n``
is 0, 1, ... as the chunk completes frames), and a state pytree to pass to the next call. The
layers of :mod:`audiojax.models.streaming` take the same ``(frames, n, state)`` protocol.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from audiojax.frontends.mel import mel_frames
from audiojax.frontends.spectral import resolve_lengths

COMPRESSIONS = ("pcen", "db")


def pcen_coefficient(time_constant: float, sample_rate: float, hop_length: int) -> float:
    """librosa.pcen's smoothing coefficient ``b`` for a time constant in seconds."""
    t_frames = time_constant * sample_rate / float(hop_length)
    return float((np.sqrt(1 + 4 * t_frames ** 2) - 1) / (2 * t_frames ** 2))


class StreamingLogMel(nn.Module):
    """Causal mel features: ``(batch, samples)`` -> ``(batch, samples // hop, n_mels)``, float32.

    ``compression='pcen'``: per-channel energy normalization of the mel magnitude (power 1)
    of audio scaled to the 32-bit integer range (librosa's example), equal to
    ``librosa.pcen(S, sr, hop_length, gain, bias, power, time_constant, eps, zi=...)`` with its
    smoother started at the first frame (``zi = lfilter_zi(...) * S[:, :1]``: the steady state
    of a stream that had been as loud as its start), so that a clip's first frames are not
    exaggerated. PCEN's automatic gain control makes the features independent of the level and
    follows slow changes of background, which is why streaming keyword models use it.
    ``compression='db'``: ``power_to_db(mel power, amin=1e-10, top_db=None) / 20``, with no
    per-utterance normalization (that would need the future).

    Attributes: ``sample_rate`` (Hz), ``n_fft``, ``hop_length``, ``win_length`` (samples; a
    Hann window), ``n_mels``, ``fmin``, ``fmax`` (Hz, Slaney mels); PCEN's ``time_constant``
    (seconds), ``gain``, ``bias``, ``power``, ``eps`` with librosa's meanings.
    """

    sample_rate: int = 16000
    n_fft: int = 400
    hop_length: int = 160
    win_length: int | None = None
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = 7600.0
    compression: str = "pcen"
    time_constant: float = 0.4
    gain: float = 0.98
    bias: float = 2.0
    power: float = 0.5
    eps: float = 1e-6

    def _check(self) -> tuple[int, int, int]:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression: unknown {self.compression!r}; known: {COMPRESSIONS}")
        n_fft, hop, win = resolve_lengths(self.n_fft, self.hop_length, self.win_length)
        if hop > n_fft:
            raise ValueError(f"hop_length={hop} must not exceed n_fft={n_fft}")
        return n_fft, hop, win

    def _mel(self, segment: jax.Array) -> jax.Array:
        """Mel frames of ``segment (batch, (K - 1) * hop + n_fft)``, framed without padding."""
        n_fft, hop, win = self._check()
        power = 1.0 if self.compression == "pcen" else 2.0
        scale = 2.0 ** 31 if self.compression == "pcen" else 1.0
        return mel_frames(segment.astype(jnp.float32) * scale, self.sample_rate, n_fft, hop, win,
                          "hann", False, "constant", power, self.n_mels, self.fmin, self.fmax,
                          False, "slaney")

    def _compress(self, mel: jax.Array, valid: jax.Array, smooth: jax.Array, fresh: jax.Array):
        """``mel (batch, K, n_mels)``, frames ``valid (K,)`` -> features and the PCEN smoother's
        state after the last valid frame (``fresh``: no frame seen yet)."""
        if self.compression == "db":
            return 10.0 * jnp.log10(jnp.maximum(mel, 1e-10)) / 20.0, smooth, fresh
        b = pcen_coefficient(self.time_constant, self.sample_rate, self.hop_length)

        def step(carry, inputs):
            m, fresh = carry
            s, ok = inputs
            m_new = (1.0 - b) * jnp.where(fresh, s, m) + b * s
            return (jnp.where(ok, m_new, m), fresh & ~ok), m_new

        (smooth, fresh), smoothed = jax.lax.scan(step, (smooth, fresh),
                                                 (jnp.swapaxes(mel, 0, 1), valid))
        smoothed = jnp.swapaxes(smoothed, 0, 1)
        agc = jnp.exp(-self.gain * (jnp.log(self.eps) + jnp.log1p(smoothed / self.eps)))
        out = self.bias ** self.power * jnp.expm1(self.power * jnp.log1p(mel * agc / self.bias))
        return out, smooth, fresh

    def __call__(self, audio: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``audio (batch, samples)``, ``lengths (batch,)`` samples -> ``(features (batch,
        samples // hop, n_mels), frames (batch,) = lengths // hop)``. Frames past a length are
        computed from the padding; later layers mask them."""
        n_fft, hop, _ = self._check()
        if audio.shape[-1] < hop:
            raise ValueError(f"audio of {audio.shape[-1]} samples is shorter than one hop ({hop})")
        padded = jnp.pad(audio, ((0, 0), (n_fft - hop, 0)))
        mel = self._mel(padded)
        state = self.initial_state(audio.shape[0])
        x, _, _ = self._compress(mel, jnp.ones(mel.shape[1], bool), state["smooth"],
                                 state["fresh"])
        return x, (lengths // hop).astype(jnp.int32)

    @nn.nowrap
    def initial_state(self, batch: int) -> dict:
        """The state before any sample: the last ``n_fft - 1`` samples (zeros), the count of
        samples received modulo the hop, and PCEN's smoother."""
        n_fft, _, _ = self._check()
        return {"samples": jnp.zeros((batch, n_fft - 1), jnp.float32),
                "phase": jnp.zeros((), jnp.int32),
                "smooth": jnp.zeros((batch, self.n_mels), jnp.float32),
                "fresh": jnp.ones((), bool)}

    def step(self, chunk: jax.Array, state: dict) -> tuple[jax.Array, jax.Array, dict]:
        """``chunk (batch, C)`` samples -> ``(features (batch, ceil(C / hop), n_mels), n, state)``:
        the first ``n`` (a traced int32) slots are the frames this chunk completed, the same as
        the whole-signal mode's frames at those times."""
        n_fft, hop, _ = self._check()
        size = chunk.shape[-1]
        slots = -(-size // hop)
        phase = state["phase"]
        new = (phase + size) // hop
        # The buffer ends at the sample before the chunk; the next frame ends hop - phase
        # samples into the chunk, so it starts at hop - phase - 1 in [buffer, chunk].
        joined = jnp.concatenate([state["samples"], chunk.astype(jnp.float32),
                                  jnp.zeros((chunk.shape[0], slots * hop - size), jnp.float32)], -1)
        segment = jax.lax.dynamic_slice_in_dim(joined, hop - phase - 1, (slots - 1) * hop + n_fft,
                                               axis=1)
        valid = jnp.arange(slots) < new
        x, smooth, fresh = self._compress(self._mel(segment), valid, state["smooth"],
                                          state["fresh"])
        state = {"samples": joined[:, size:size + n_fft - 1], "phase": (phase + size) % hop,
                 "smooth": smooth, "fresh": fresh}
        return x, new.astype(jnp.int32), state
