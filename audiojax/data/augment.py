"""On-device augmentation: pure, jit-able, batched jnp functions with explicit PRNG keys.

Waveforms are ``(batch, samples)`` with zero padding after each example's true length
(``lengths``, ``(batch,)`` int); every function keeps that padding zero. Features for
SpecAugment are ``(batch, frames, features)``. The same key gives the same output; draws are
independent per example.

    key, k1, k2, k3 = jax.random.split(key, 4)
    x = random_gain(k1, x, -6.0, 6.0)
    x = random_time_shift(k2, x, lengths, max_shift=1600)
    x = mix_noise(k3, x, noise, snr_db=10.0, lengths=lengths, max_snr_db=20.0)
    feats = spec_augment(k4, log_mel(x), 2, 20, 2, 10, lengths=frame_lengths)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from audiojax.masking import length_mask


def example_index(batch_size_here: int, axis_name: str | None) -> jax.Array:
    """Global index of each example of the (local) batch: per-example randomness keyed on it
    is the same whether the batch is split over devices (``pmap`` over ``axis_name``) or not."""
    offset = 0 if axis_name is None else jax.lax.axis_index(axis_name) * batch_size_here
    return offset + jnp.arange(batch_size_here)

__all__ = ["augment_waveforms", "change_speed", "equalize", "example_index", "mix_noise", "random_gain",
           "random_time_shift", "reverberate", "spec_augment", "spec_augment_masks",
           "spec_augment_per_example", "snr_db", "time_shift"]


def random_gain(key: jax.Array, x: jax.Array, min_db: float, max_db: float) -> jax.Array:
    """Scales each example by a gain drawn uniformly in ``[min_db, max_db]`` dB.

    ``x``: ``(batch, ...)``; returns the same shape and dtype (padding stays zero).
    """
    gain_db = jax.random.uniform(key, (x.shape[0],), minval=min_db, maxval=max_db)
    gain = (10.0 ** (gain_db / 20.0)).astype(x.dtype)
    return x * gain.reshape((-1,) + (1,) * (x.ndim - 1))


def random_time_shift(key: jax.Array, x: jax.Array, lengths: jax.Array, max_shift: int) -> jax.Array:
    """Shifts each example in time by ``s`` samples, uniform in ``[-max_shift, max_shift]``,
    within its true length (:func:`time_shift`). ``x``: ``(batch, samples)``."""
    shift = jax.random.randint(key, (x.shape[0],), -max_shift, max_shift + 1)
    return time_shift(x, lengths, shift)


def time_shift(x: jax.Array, lengths: jax.Array, shift: jax.Array) -> jax.Array:
    """Each example of ``x (batch, samples)`` delayed by ``shift (batch,)`` samples (advanced
    when negative) within its true length: ``out[t] = x[t - s]`` for ``0 <= t, t - s < length``,
    else 0.

    The length is unchanged: what is shifted past the end is dropped and the gap opened at the
    other end is silence (nothing wraps around); padding beyond ``lengths`` stays zero.
    """
    size = x.shape[1]
    lengths = jnp.asarray(lengths)
    t = jnp.arange(size)[None, :]
    src = t - shift[:, None]
    valid = (src >= 0) & (src < lengths[:, None]) & (t < lengths[:, None])
    shifted = jnp.take_along_axis(x, jnp.clip(src, 0, size - 1), axis=1)
    return jnp.where(valid, shifted, jnp.zeros((), x.dtype))


def snr_db(signal: jax.Array, noise: jax.Array, lengths: jax.Array) -> jax.Array:
    """Signal-to-noise ratio in dB per example, powers taken over the true lengths. ``(batch,)``."""
    m = length_mask(lengths, signal.shape[1]).astype(signal.dtype)
    ps = jnp.sum(signal ** 2 * m, axis=1)
    pn = jnp.sum(noise ** 2 * m, axis=1)
    return 10.0 * jnp.log10(ps / pn)


def mix_noise(
    key: jax.Array,
    x: jax.Array,
    noise: jax.Array,
    snr_db: float | jax.Array,
    lengths: jax.Array,
    max_snr_db: float | None = None,
) -> jax.Array:
    """Adds ``noise`` scaled so that each example's SNR is ``snr_db``.

    Args:
      key: used only when ``max_snr_db`` is given: the SNR is then drawn uniformly per example in
        ``[snr_db, max_snr_db]``.
      x: clean signals ``(batch, samples)``.
      noise: ``(batch, samples)`` or ``(samples,)`` (same noise for every example).
      snr_db: target SNR in dB, a scalar or ``(batch,)``.
      lengths: true lengths ``(batch,)``: signal and noise powers are measured over
        ``[0, length)`` and the noise is added only there (padding stays zero).

    Returns:
      ``x + g * noise`` with ``(batch, samples)``; a silent example stays silent, and silent
      noise adds nothing.
    """
    batch, size = x.shape
    noise = jnp.broadcast_to(noise, x.shape).astype(x.dtype)
    target = jnp.broadcast_to(jnp.asarray(snr_db, x.dtype), (batch,))
    if max_snr_db is not None:
        target = jax.random.uniform(key, (batch,), x.dtype, minval=target, maxval=max_snr_db)
    m = length_mask(lengths, size).astype(x.dtype)
    noise = noise * m
    ps = jnp.sum(x ** 2 * m, axis=1)
    pn = jnp.sum(noise ** 2, axis=1)
    scale = jnp.sqrt(ps / jnp.where(pn > 0, pn, 1.0) / 10.0 ** (target / 10.0))
    scale = jnp.where(pn > 0, scale, 0.0)
    return x + scale[:, None] * noise


def _draw_masks(key, batch: int, count: int, max_width: int, limit: jax.Array, size: int) -> jax.Array:
    """``(batch, size)`` bool: the union of ``count`` bands per row, each of width uniform in
    ``[0, max_width]`` (at most ``limit``) and lying inside ``[0, limit)``."""
    if count == 0 or max_width == 0:
        return jnp.zeros((batch, size), bool)
    kw, ks = jax.random.split(key)
    limit = jnp.broadcast_to(jnp.asarray(limit), (batch,))[:, None]
    width = jax.random.randint(kw, (batch, count), 0, max_width + 1)
    width = jnp.minimum(width, limit)
    # start uniform in [0, limit - width]
    start = jnp.floor(jax.random.uniform(ks, (batch, count)) * (limit - width + 1)).astype(jnp.int32)
    pos = jnp.arange(size)[None, None, :]
    bands = (pos >= start[..., None]) & (pos < (start + width)[..., None])
    return jnp.any(bands, axis=1)


def spec_augment_masks(
    key: jax.Array,
    shape: tuple[int, int, int],
    num_time_masks: int,
    max_time_width: int,
    num_freq_masks: int,
    max_freq_width: int,
    lengths: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """The masks :func:`spec_augment` applies: ``(time (batch, frames), freq (batch, features))``
    bool, True where masked. Time bands lie inside each example's ``lengths`` frames."""
    batch, frames, features = shape
    kt, kf = jax.random.split(key)
    limit_t = jnp.full((batch,), frames) if lengths is None else jnp.minimum(jnp.asarray(lengths), frames)
    time = _draw_masks(kt, batch, num_time_masks, max_time_width, limit_t, frames)
    freq = _draw_masks(kf, batch, num_freq_masks, max_freq_width, jnp.full((batch,), features), features)
    return time, freq


def spec_augment(
    key: jax.Array,
    features: jax.Array,
    num_time_masks: int,
    max_time_width: int,
    num_freq_masks: int,
    max_freq_width: int,
    lengths: jax.Array | None = None,
    mask_value: float = 0.0,
) -> jax.Array:
    """SpecAugment time and frequency masking (Park et al. 2019), without time warping.

    Args:
      features: ``(batch, frames, features)``, e.g. a log-mel spectrogram.
      num_time_masks, max_time_width: bands of whole frames, each ``[0, max_time_width]`` wide,
        placed inside the first ``lengths[b]`` frames.
      num_freq_masks, max_freq_width: bands of feature channels, each ``[0, max_freq_width]``.
      lengths: true lengths in frames ``(batch,)``; None means all frames. Frames past the
        length (padding) are never changed, by either kind of mask.
      mask_value: what masked cells become (0 for normalized features; for log-mels one may
        pass the mean).

    Returns:
      Same shape and dtype as ``features``.
    """
    time, freq = spec_augment_masks(key, features.shape, num_time_masks, max_time_width,
                                    num_freq_masks, max_freq_width, lengths)
    masked = time[:, :, None] | freq[:, None, :]
    if lengths is not None:  # padding frames stay as they are
        masked = masked & length_mask(lengths, features.shape[1])[:, :, None]
    return jnp.where(masked, jnp.asarray(mask_value, features.dtype), features)


def spec_augment_per_example(keys: jax.Array, features: jax.Array, lengths: jax.Array,
                             num_time_masks: int, max_time_width: int, num_freq_masks: int,
                             max_freq_width: int) -> jax.Array:
    """:func:`spec_augment` with one PRNG key per example (``keys (batch,)``), so the masks do not
    depend on how a batch is split over devices. ``features (batch, frames, bands)``,
    ``lengths (batch,)`` in frames."""
    return jax.vmap(lambda k, f, n: spec_augment(
        k, f[None], num_time_masks, max_time_width, num_freq_masks, max_freq_width,
        lengths=n[None])[0])(keys, features, lengths)


def change_speed(x: jax.Array, lengths: jax.Array, factors: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Plays each example ``factors[b]`` times as fast (linear interpolation): duration, pitch and
    formants all scale, as when a tape runs fast or a vocal tract is shorter.

    ``out[t] = x[t * factor]`` for ``t < floor(length / factor)`` (capped at the padded size),
    else 0; past the last sample the signal is the zero padding. ``x``: ``(batch, samples)``; returns ``(out, new lengths (batch,))``.
    """
    size = x.shape[1]
    factors = jnp.asarray(factors, jnp.float32)
    new_lengths = jnp.minimum(jnp.floor(jnp.asarray(lengths) / factors), size).astype(jnp.int32)
    pos = jnp.arange(size, dtype=jnp.float32)[None, :] * factors[:, None]
    left = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, size - 1)
    right = jnp.clip(left + 1, 0, size - 1)
    frac = (pos - left).astype(x.dtype)
    out = (jnp.take_along_axis(x, left, axis=1) * (1 - frac)
           + jnp.take_along_axis(x, right, axis=1) * frac)
    return jnp.where(length_mask(new_lengths, size), out, jnp.zeros((), x.dtype)), new_lengths


def reverberate(x: jax.Array, lengths: jax.Array, responses: jax.Array,
                delay: int = 0) -> jax.Array:
    """Each example heard through its own room: ``x (batch, samples)`` convolved with
    ``responses (batch, taps)``, aligned on the direct path at tap ``delay`` and cut to the
    true length, ``out[t] = sum_k h[k] x[t + delay - k]`` for ``t < length`` (else 0).

    The output keeps each example's power over its true length (the room changes the sound,
    not the level; a silent example stays silent). One FFT of a power-of-two size >= samples +
    taps - 1, so nothing wraps around.
    """
    size, taps = x.shape[1], responses.shape[1]
    n = 1 << (size + taps - 2).bit_length()
    wet = jnp.fft.irfft(jnp.fft.rfft(x, n) * jnp.fft.rfft(responses.astype(x.dtype), n), n)
    wet = wet[:, delay:delay + size].astype(x.dtype)
    m = length_mask(lengths, size).astype(x.dtype)
    wet = wet * m
    dry_power, wet_power = jnp.sum(x ** 2 * m, axis=1), jnp.sum(wet ** 2, axis=1)
    scale = jnp.sqrt(dry_power / jnp.where(wet_power > 0, wet_power, 1.0))
    return wet * jnp.where(wet_power > 0, scale, 0.0)[:, None]


def equalize(x: jax.Array, lengths: jax.Array, gains_db: jax.Array, sample_rate: int,
             fmin: float = 50.0) -> jax.Array:
    """Each example through its own equalizer: ``gains_db (batch, bands)`` are gains at
    ``bands`` frequencies log-spaced from ``fmin`` to Nyquist, joined by straight lines in dB
    over log-frequency (flat below ``fmin``); applied to the spectrum of the whole example (one
    FFT of a power-of-two size >= 2 * samples, so nothing wraps around), cut to the true length.

    The output keeps each example's power over its true length: an equalizer changes the
    timbre (a font's or a microphone's colouring), not the level. ``x``: ``(batch, samples)``.
    """
    size = x.shape[1]
    n = 1 << (2 * size - 1).bit_length()
    freqs = jnp.fft.rfftfreq(n, 1.0 / sample_rate)
    bands = jnp.geomspace(fmin, sample_rate / 2, gains_db.shape[1])
    where = jnp.log(jnp.maximum(freqs, fmin))
    curve = jax.vmap(lambda g: jnp.interp(where, jnp.log(bands), g))(gains_db)  # (batch, bins)
    m = length_mask(lengths, size).astype(x.dtype)
    y = jnp.fft.irfft(jnp.fft.rfft(x * m, n) * 10.0 ** (curve / 20.0), n)[:, :size].astype(x.dtype)
    y = y * m
    dry, wet = jnp.sum((x * m) ** 2, axis=1), jnp.sum(y ** 2, axis=1)
    return y * jnp.where(wet > 0, jnp.sqrt(dry / jnp.where(wet > 0, wet, 1.0)), 0.0)[:, None]


def augment_waveforms(keys: jax.Array, x: jax.Array, lengths: jax.Array, *, gain_db: float = 0.0,
                      max_shift: int = 0, noise_prob: float = 0.0,
                      snr_db: tuple[float, float] = (5.0, 30.0),
                      speed: tuple[float, float] | None = None, room_prob: float = 0.0,
                      rooms: jax.Array | None = None, room_delay: int = 0,
                      eq_prob: float = 0.0, eq_db: float = 0.0, eq_bands: int = 8,
                      sample_rate: int = 16000,
                      ) -> tuple[jax.Array, jax.Array]:
    """The training-time waveform augmentation of a batch, one PRNG key per example.

    Keyed per example (``keys (batch,)``, e.g. folded from each example's global index), so
    the result does not depend on how a batch is split over devices. In order: speed change by
    a factor uniform in ``speed`` (:func:`change_speed`; None: none), with probability
    ``room_prob`` a room drawn uniformly from the bank ``rooms (count, taps)`` (impulse
    responses with the direct path at tap ``room_delay``; :func:`reverberate`), with
    probability ``eq_prob`` an equalizer of ``eq_bands`` gains uniform in ``[-eq_db, eq_db]``
    dB (:func:`equalize`; ``sample_rate`` places its bands), random gain in
    ``[-gain_db, gain_db]`` dB, time shift of up to ``max_shift`` samples within the true
    length, and with probability ``noise_prob`` white noise at an SNR uniform in ``snr_db``
    (noise reaches the microphone directly, so it comes after the room).
    ``x``: ``(batch, samples)``; returns ``(x, lengths)``, lengths changed only by the speed
    change; padding beyond them stays zero.
    """
    if room_prob and rooms is None:
        raise ValueError("augment_waveforms: room_prob > 0 needs a bank of rooms")

    def one(key, y, length):
        y, length = y[None], length[None]
        k_gain, k_shift, k_noise, k_snr, k_use, k_speed = jax.random.split(key, 6)
        if speed is not None:
            factor = jax.random.uniform(k_speed, (1,), minval=speed[0], maxval=speed[1])
            y, length = change_speed(y, length, factor)
        if room_prob:
            k_room, k_in_room = jax.random.split(jax.random.fold_in(key, 7))
            room = rooms[jax.random.randint(k_room, (), 0, rooms.shape[0])][None]
            y = jnp.where(jax.random.uniform(k_in_room) < room_prob,
                          reverberate(y, length, room, room_delay), y)
        if eq_prob:
            k_gains, k_eq = jax.random.split(jax.random.fold_in(key, 11))
            gains = jax.random.uniform(k_gains, (1, eq_bands), minval=-eq_db, maxval=eq_db)
            y = jnp.where(jax.random.uniform(k_eq) < eq_prob,
                          equalize(y, length, gains, sample_rate), y)
        if gain_db:
            y = random_gain(k_gain, y, -gain_db, gain_db)
        if max_shift:
            y = random_time_shift(k_shift, y, length, max_shift)
        if noise_prob:
            noisy = mix_noise(k_snr, y, jax.random.normal(k_noise, y.shape, y.dtype), snr_db[0],
                              length, max_snr_db=snr_db[1])
            y = jnp.where(jax.random.uniform(k_use) < noise_prob, noisy, y)
        return y[0], length[0]

    return jax.vmap(one)(keys, x, jnp.asarray(lengths, jnp.int32))
