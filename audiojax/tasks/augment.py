"""``config.augment``: on-device waveform augmentation in the train step, for the tasks that
train on recorded speech (classification, speech recognition, speaker recognition). A task
that reads it declares :func:`augment_defaults` among its config keys and calls
:func:`check_augment` from its ``check_config``; one that does not has no ``augment``
section."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.data.augment import augment_waveforms, example_index

# Taps of the offline rooms' responses before the direct path (their fractional-delay filter).
ROOM_DELAY = 8


def augment_defaults() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.gain_db = 0.0            # random gain in [-gain_db, gain_db]
    c.max_shift_seconds = 0.0  # random time shift within the true length
    c.noise_prob = 0.0         # share of examples that get white noise ...
    c.snr_db = (5.0, 30.0)     # ... at an SNR uniform in this range
    c.speed = (1.0, 1.0)       # speed (pitch, formants, duration) factor range; 1: none
    c.room_prob = 0.0          # share of examples heard in a simulated room, drawn from ...
    c.rooms = 256              # ... a bank of this many shoebox rooms (seeded by config.seed)
    c.rt60 = (0.15, 0.9)       # reverberation time range of the bank's rooms, seconds
    c.room_seconds = 0.5       # each response cut to this long (a 10 ms fade at the end)
    c.eq_prob = 0.0            # share of examples through a random equalizer: ...
    c.eq_db = 12.0             # ... gains uniform in [-eq_db, eq_db] dB at ...
    c.eq_bands = 8             # ... this many log-spaced frequencies, 50 Hz to Nyquist
    return c


def check_augment(config: ml_collections.ConfigDict) -> None:
    """Raises ``ValueError`` naming the option for a ``config.augment`` out of range."""
    cfg = config.augment
    for name in ("noise_prob", "room_prob", "eq_prob"):
        if not 0.0 <= cfg[name] <= 1.0:
            raise ValueError(f"config.augment.{name}={cfg[name]}: a probability in [0, 1]")
    if cfg.room_prob and (cfg.rooms < 1 or cfg.room_seconds <= 0
                          or not 0 < cfg.rt60[0] <= cfg.rt60[1]):
        raise ValueError(f"config.augment: rooms={cfg.rooms} >= 1, room_seconds="
                         f"{cfg.room_seconds} > 0 and 0 < rt60[0] <= rt60[1] (rt60={cfg.rt60})")
    if cfg.eq_prob and (cfg.eq_bands < 2 or cfg.eq_db < 0):
        raise ValueError(f"config.augment: eq_bands={cfg.eq_bands} >= 2 and eq_db={cfg.eq_db} "
                         f">= 0")


@functools.lru_cache(maxsize=4)
def room_bank(sample_rate: int, count: int, rt60: tuple[float, float], seconds: float,
              seed: int) -> np.ndarray:
    """``(count, taps)`` float32 impulse responses of random shoebox rooms (the corpora's
    :func:`~audiojax.data.corpora.acoustics.room_ir`: image sources plus a decaying tail),
    direct path at tap :data:`ROOM_DELAY`, each cut to ``seconds`` with a 10 ms fade-out.
    The same arguments give the same bank (one generator seeded by ``seed``), so a resumed
    run hears the rooms it started with."""
    from audiojax.data.corpora.acoustics import room_ir

    rng = np.random.default_rng([seed, 0x600D])
    taps = int(round(seconds * sample_rate))
    fade = np.ones(taps, np.float32)
    n_fade = min(taps, int(0.01 * sample_rate))
    fade[taps - n_fade:] = np.cos(np.linspace(0.0, np.pi / 2, n_fade)) ** 2
    bank = np.zeros((count, taps), np.float32)
    for i in range(count):
        h = room_ir(rng, sample_rate, rt60)[0][:taps]
        bank[i, :h.size] = h * fade[:h.size]
    return bank


def augment_batch(config: ml_collections.ConfigDict, rng: jax.Array, audio: jax.Array,
                  lengths: jax.Array, axis_name: str | None):
    """``config.augment``'s augmentation of ``audio (B, samples)`` with true ``lengths (B,)``;
    returns ``(audio, lengths, keys)`` with one PRNG key per example (for feature-level
    augmentation such as SpecAugment, drawn from the same keys)."""
    cfg = config.augment
    # One key per global example index, so a device split gives the same augmentation.
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(example_index(audio.shape[0], axis_name))
    speed = tuple(cfg.speed)
    if not (cfg.gain_db or cfg.max_shift_seconds or cfg.noise_prob or cfg.room_prob
            or cfg.eq_prob or speed != (1.0, 1.0)):
        return audio, lengths, keys
    rooms = None
    if cfg.room_prob:
        rooms = jnp.asarray(room_bank(config.data.sample_rate, cfg.rooms, tuple(cfg.rt60),
                                      cfg.room_seconds, config.seed))
    audio, lengths = augment_waveforms(
        keys, audio, lengths, gain_db=cfg.gain_db,
        max_shift=int(cfg.max_shift_seconds * config.data.sample_rate),
        noise_prob=cfg.noise_prob, snr_db=tuple(cfg.snr_db),
        speed=None if speed == (1.0, 1.0) else speed, room_prob=cfg.room_prob, rooms=rooms,
        room_delay=ROOM_DELAY, eq_prob=cfg.eq_prob, eq_db=cfg.eq_db, eq_bands=cfg.eq_bands,
        sample_rate=config.data.sample_rate)
    return audio, lengths, keys
