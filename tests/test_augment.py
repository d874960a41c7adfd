"""On-device augmentation: numbers, padding untouched, determinism, under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from audiojax.data import augment

B, T = 6, 2000
LENGTHS = np.array([2000, 1500, 1000, 700, 2000, 1])


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    t = np.arange(T) / 16000
    x = (0.5 * np.sin(2 * np.pi * 440 * t)[None, :] * rng.uniform(0.2, 1.0, (B, 1))
         + 0.01 * rng.standard_normal((B, T))).astype(np.float32)
    x[np.arange(T)[None, :] >= LENGTHS[:, None]] = 0.0
    noise = rng.standard_normal((B, T)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(noise)


def _padding_is_zero(y):
    return not np.asarray(y)[np.arange(T)[None, :] >= LENGTHS[:, None]].any()


def test_random_gain(batch):
    x, _ = batch
    f = jax.jit(augment.random_gain, static_argnums=(2, 3))
    key = jax.random.key(0)
    y = f(key, x, -6.0, 6.0)
    gain_db = 20 * np.log10(np.abs(np.asarray(y)[:, 0] / np.asarray(x)[:, 0]))
    assert np.all(gain_db >= -6.0 - 1e-4) and np.all(gain_db <= 6.0 + 1e-4) and np.ptp(gain_db) > 1.0
    # one gain per example
    ratio = np.asarray(y)[:5, :700] / np.asarray(x)[:5, :700]
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones((1, 700)), rtol=1e-5)
    assert _padding_is_zero(y)
    np.testing.assert_array_equal(y, f(key, x, -6.0, 6.0))
    assert not np.array_equal(y, f(jax.random.key(1), x, -6.0, 6.0))


def test_random_time_shift(batch):
    x, _ = batch
    f = jax.jit(augment.random_time_shift, static_argnums=(3,))
    key = jax.random.key(3)
    y = np.asarray(f(key, x, LENGTHS, 300))
    xs = np.asarray(x)
    assert _padding_is_zero(y)
    shifts = []
    for b in range(B):
        n = LENGTHS[b]
        if n < 600:
            continue
        # recover the shift by matching the valid part
        found = [s for s in range(-300, 301)
                 if np.array_equal(y[b, max(s, 0):n + min(s, 0)], xs[b, max(-s, 0):n - max(s, 0)])]
        assert len(found) == 1, b
        s = found[0]
        shifts.append(s)
        # the opened gap is silence
        if s > 0:
            assert not y[b, :s].any()
        elif s < 0:
            assert not y[b, n + s:n].any()
    assert len(set(shifts)) > 1
    np.testing.assert_array_equal(y, f(key, x, LENGTHS, 300))
    np.testing.assert_array_equal(f(key, x, LENGTHS, 0), x)


@pytest.mark.parametrize("snr", [0.0, 10.0, -5.0, 30.0])
def test_mix_noise_hits_the_requested_snr(batch, snr):
    x, noise = batch
    f = jax.jit(augment.mix_noise)
    y = f(jax.random.key(0), x, noise, snr, LENGTHS)
    measured = np.asarray(augment.snr_db(x, y - x, LENGTHS))
    np.testing.assert_allclose(measured, snr, atol=1e-3)
    assert _padding_is_zero(y)
    # measured over the true length only: same SNR whatever lies in the noise's padding region
    y2 = f(jax.random.key(0), x, noise.at[:, 1600:].multiply(100.0), snr, LENGTHS)
    np.testing.assert_allclose(np.asarray(augment.snr_db(x, y2 - x, LENGTHS))[[2, 3, 5]], snr, atol=1e-3)


def test_mix_noise_random_snr_range_and_edge_cases(batch):
    x, noise = batch
    y = augment.mix_noise(jax.random.key(5), x, noise, 5.0, LENGTHS, max_snr_db=15.0)
    measured = np.asarray(augment.snr_db(x, y - x, LENGTHS))
    assert np.all(measured >= 5.0 - 1e-3) and np.all(measured <= 15.0 + 1e-3) and np.ptp(measured) > 1.0
    np.testing.assert_array_equal(y, augment.mix_noise(jax.random.key(5), x, noise, 5.0, LENGTHS, max_snr_db=15.0))
    # per-example SNRs; a 1-D noise shared by all; silent signal and silent noise stay as they were
    snrs = jnp.array([0.0, 3.0, 6.0, 9.0, 12.0, 15.0])
    y = augment.mix_noise(jax.random.key(0), x, noise[0], snrs, LENGTHS)
    np.testing.assert_allclose(np.asarray(augment.snr_db(x, y - x, LENGTHS)), snrs, atol=1e-3)
    silent = augment.mix_noise(jax.random.key(0), jnp.zeros_like(x), noise, 10.0, LENGTHS)
    assert not np.asarray(silent).any()
    np.testing.assert_array_equal(augment.mix_noise(jax.random.key(0), x, jnp.zeros_like(x), 10.0, LENGTHS), x)


def test_spec_augment_masks(batch):
    rng = np.random.default_rng(1)
    frames, feats = 50, 20
    lengths = np.array([50, 40, 30, 20, 10, 5])
    valid = np.arange(frames)[None, :] < lengths[:, None]
    x = jnp.asarray(np.where(valid[..., None], rng.uniform(1, 2, (B, frames, feats)), 0.0).astype(np.float32))
    f = jax.jit(augment.spec_augment, static_argnums=(2, 3, 4, 5))
    g = jax.jit(augment.spec_augment_masks, static_argnums=(1, 2, 3, 4, 5))
    widths_t, widths_f = [], []
    for seed in range(20):
        key = jax.random.key(seed)
        y = np.asarray(f(key, x, 1, 8, 1, 6, lengths))
        tmask, fmask = (np.asarray(m) for m in g(key, x.shape, 1, 8, 1, 6, lengths))
        expected = (tmask[:, :, None] | fmask[:, None, :]) & valid[..., None]
        np.testing.assert_array_equal(y == 0, expected | ~valid[..., None])
        np.testing.assert_array_equal(y[~expected], np.asarray(x)[~expected])  # the rest untouched
        for b in range(B):
            t = np.flatnonzero(tmask[b])
            fr = np.flatnonzero(fmask[b])
            for band, limit, widths in ((t, lengths[b], widths_t), (fr, feats, widths_f)):
                if band.size:  # one contiguous band inside the limit
                    assert np.array_equal(band, np.arange(band[0], band[-1] + 1)) and band[-1] < limit
                widths.append(band.size)
    assert max(widths_t) == 8 and max(widths_f) == 6 and min(widths_t) == 0
    assert 2 < np.mean(widths_t) < 6 and 1.5 < np.mean(widths_f) < 4.5  # uniform in [0, max]
    y1 = f(jax.random.key(0), x, 2, 8, 2, 6, lengths)
    np.testing.assert_array_equal(y1, f(jax.random.key(0), x, 2, 8, 2, 6, lengths))
    assert not np.array_equal(y1, f(jax.random.key(1), x, 2, 8, 2, 6, lengths))
    np.testing.assert_array_equal(f(jax.random.key(0), x, 0, 8, 0, 6, None), x)
    # several masks: at most num * max_width masked frames
    tm, _ = g(jax.random.key(2), (B, frames, feats), 3, 5, 0, 0, None)
    assert np.asarray(tm).sum(axis=1).max() <= 15


def test_augment_waveforms_is_per_example_and_keeps_padding():
    from audiojax.data.augment import augment_waveforms

    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((4, 800)).astype(np.float32))
    lengths = jnp.array([800, 500, 300, 650])
    x = x * (jnp.arange(800)[None, :] < lengths[:, None])
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(0), i))(jnp.arange(4))
    kw = dict(gain_db=6.0, max_shift=40, noise_prob=0.5, snr_db=(10.0, 20.0), eq_prob=0.5,
              eq_db=12.0)
    out, out_lengths = jax.jit(lambda k, a, n: augment_waveforms(k, a, n, **kw))(keys, x, lengths)
    np.testing.assert_array_equal(out_lengths, lengths)
    for i, n in enumerate(np.asarray(lengths)):
        assert np.all(np.asarray(out[i, n:]) == 0)
    # Each row depends only on its own key: the batch split in two gives the same rows.
    halves = jnp.concatenate([augment_waveforms(keys[:2], x[:2], lengths[:2], **kw)[0],
                              augment_waveforms(keys[2:], x[2:], lengths[2:], **kw)[0]])
    np.testing.assert_allclose(out, halves, rtol=1e-6, atol=1e-6)
    # Gain alone is a scale within +-6 dB.
    gained, _ = augment_waveforms(keys, x, lengths, gain_db=6.0)
    ratio = np.asarray(jnp.sum(gained * x, 1) / jnp.sum(x * x, 1))
    assert np.all((ratio >= 10 ** (-6 / 20) - 1e-6) & (ratio <= 10 ** (6 / 20) + 1e-6))


def test_change_speed_matches_numpy_interp_and_scales_frequency():
    from audiojax.data.augment import augment_waveforms, change_speed

    sr, n = 16000, 8000
    t = np.arange(n) / sr
    x = np.zeros((3, n), np.float32)
    lengths = np.array([8000, 6000, 4000])
    for i, m in enumerate(lengths):
        x[i, :m] = np.sin(2 * np.pi * 440.0 * t[:m])
    factors = np.array([1.1, 0.9, 1.0], np.float32)
    out, new = change_speed(jnp.asarray(x), jnp.asarray(lengths), jnp.asarray(factors))
    np.testing.assert_array_equal(new, [np.floor(8000 / np.float32(1.1)), 6000 / np.float32(0.9) // 1, 4000])
    for i in range(3):
        m = int(new[i])
        ref = np.interp(np.arange(m) * factors[i], np.arange(n), x[i])
        np.testing.assert_allclose(out[i, :m], ref, atol=2e-4)
        assert np.all(np.asarray(out[i, m:]) == 0)
        peak = np.argmax(np.abs(np.fft.rfft(np.asarray(out[i, :m]) * np.hanning(m)))) * sr / m
        assert abs(peak - 440.0 * factors[i]) < 5.0
    # The speed range of augment_waveforms draws factors inside it, per example.
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(1), i))(jnp.arange(3))
    _, drawn = augment_waveforms(keys, jnp.asarray(x), jnp.asarray(lengths), speed=(0.9, 1.1))
    ratio = lengths / np.asarray(drawn)
    assert np.all((ratio > 0.9 - 1e-3) & (ratio < 1.1 + 1e-3)) and len(set(ratio.round(4))) == 3


def test_reverberate_matches_numpy_convolution_at_the_dry_power():
    from audiojax.data.augment import reverberate

    rng = np.random.default_rng(5)
    size, taps, delay = 700, 90, 8
    lengths = np.array([700, 420, 0])
    x = rng.standard_normal((3, size)).astype(np.float32) * (np.arange(size) < lengths[:, None])
    h = rng.standard_normal((3, taps)).astype(np.float32) * np.exp(-np.arange(taps) / 20.0)
    out = np.asarray(jax.jit(reverberate, static_argnums=3)(jnp.asarray(x), jnp.asarray(lengths),
                                                         jnp.asarray(h), delay))
    for i, n in enumerate(lengths):
        if n:
            wet = np.convolve(x[i, :n].astype(np.float64), h[i])[delay:delay + n]
            wet *= np.sqrt(np.sum(x[i, :n].astype(np.float64) ** 2) / np.sum(wet ** 2))
            np.testing.assert_allclose(out[i, :n], wet, atol=2e-5)
        assert np.all(out[i, n:] == 0)  # padding, and the silent example, stay zero


def test_room_augmentation_draws_rooms_of_the_bank_per_example():
    from audiojax.data.augment import augment_waveforms, reverberate
    from audiojax.tasks.augment import ROOM_DELAY, room_bank

    bank = room_bank(8000, 6, (0.2, 0.5), 0.1, seed=3)
    assert bank.shape == (6, 800)
    np.testing.assert_array_equal(bank, room_bank.__wrapped__(8000, 6, (0.2, 0.5), 0.1, 3))
    assert not np.allclose(bank, room_bank.__wrapped__(8000, 6, (0.2, 0.5), 0.1, 4))
    # Direct path near the kept pre-onset taps, faded out at the cut.
    assert np.all(np.abs(np.argmax(np.abs(bank), axis=1) - ROOM_DELAY) <= 2)
    assert np.all(np.abs(bank[:, -1]) < 1e-6)

    rng = np.random.default_rng(6)
    lengths = jnp.array([1600, 1200, 900, 1600, 400])
    x = jnp.asarray(rng.standard_normal((5, 1600)).astype(np.float32)) * (
        jnp.arange(1600)[None, :] < lengths[:, None])
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(1), i))(jnp.arange(5))
    kw = dict(room_prob=1.0, rooms=jnp.asarray(bank), room_delay=ROOM_DELAY)
    out, _ = augment_waveforms(keys, x, lengths, **kw)
    # Every row is the example heard in one of the bank's rooms ...
    candidates = np.stack([np.asarray(reverberate(x, lengths, jnp.broadcast_to(bank[r], (5, 800)),
                                                  ROOM_DELAY)) for r in range(6)])
    errors = np.abs(candidates - np.asarray(out)[None]).max(axis=2)  # (rooms, batch)
    assert np.all(errors.min(axis=0) < 1e-4)
    # ... chosen per example: half a batch gives the same rows; no rooms leaves it dry.
    half, _ = augment_waveforms(keys[:2], x[:2], lengths[:2], **kw)
    np.testing.assert_allclose(out[:2], half, atol=1e-5)
    dry, _ = augment_waveforms(keys, x, lengths, **{**kw, "room_prob": 0.0})
    np.testing.assert_array_equal(dry, x)
    with pytest.raises(ValueError, match="bank of rooms"):
        augment_waveforms(keys, x, lengths, room_prob=0.5)


def test_equalize_scales_each_frequency_by_its_gain_and_keeps_power():
    """Tones at 100 Hz, 1 kHz and 5 kHz through a random equalizer: each comes out scaled by
    the gain its frequency gets on the line between the bands (dB over log-frequency, measured
    by least squares in the middle of the clip), relative to the others; the clip's power is
    the dry power; flat gains give the input back; padding stays zero."""
    from audiojax.data.augment import equalize

    sr, size, lengths = 16000, 4000, np.array([4000, 3000, 0])
    t = np.arange(size) / sr
    freqs = np.array([100.0, 1000.0, 5000.0])
    x = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate(freqs)).astype(np.float32)
    x = np.stack([x, x, x]) * (np.arange(size) < lengths[:, None])
    gains = np.random.default_rng(2).uniform(-12, 12, (3, 6)).astype(np.float32)
    out = np.asarray(jax.jit(equalize, static_argnums=3)(jnp.asarray(x), jnp.asarray(lengths),
                                                         jnp.asarray(gains), sr))
    bands = np.geomspace(50.0, sr / 2, 6)
    for i, n in enumerate(lengths[:2]):
        expected = 10 ** (np.interp(np.log(freqs), np.log(bands), gains[i]) / 20)
        mid = slice(n // 2 - 800, n // 2 + 800)  # away from the ends (the filter is zero-phase)
        basis = np.concatenate([np.sin(2 * np.pi * freqs * t[mid, None]),
                                np.cos(2 * np.pi * freqs * t[mid, None])], axis=1)
        coef = np.linalg.lstsq(basis, out[i, mid].astype(np.float64), rcond=None)[0]
        amplitude = np.hypot(coef[:3], coef[3:])
        np.testing.assert_allclose(amplitude / amplitude[1], expected / expected[1], rtol=0.02)
        np.testing.assert_allclose(np.sum(out[i, :n] ** 2), np.sum(x[i, :n] ** 2), rtol=1e-4)
        assert not out[i, n:].any()
    assert not out[2].any()
    flat = np.asarray(equalize(jnp.asarray(x), jnp.asarray(lengths), jnp.zeros((3, 6)), sr))
    np.testing.assert_allclose(flat, x, atol=1e-5)


def test_check_augment_names_the_option():
    from audiojax.tasks.augment import augment_defaults, check_augment

    config = ml_collections.ConfigDict({"augment": augment_defaults()})
    check_augment(config)
    config.augment.room_prob = 1.5
    with pytest.raises(ValueError, match="augment.room_prob"):
        check_augment(config)
    config.augment.room_prob = 0.5
    config.augment.rooms = 0
    with pytest.raises(ValueError, match="rooms=0"):
        check_augment(config)
