"""``config.augment``: on-device waveform augmentation in the train step, for the tasks that
train on recorded speech (classification, speech recognition). A task that reads it declares
:func:`augment_defaults` among its config keys; one that does not has no ``augment`` section."""

from __future__ import annotations

import jax
import ml_collections

from audiojax.data.augment import augment_waveforms, example_index


def augment_defaults() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.gain_db = 0.0            # random gain in [-gain_db, gain_db]
    c.max_shift_seconds = 0.0  # random time shift within the true length
    c.noise_prob = 0.0         # share of examples that get white noise ...
    c.snr_db = (5.0, 30.0)     # ... at an SNR uniform in this range
    c.speed = (1.0, 1.0)       # speed (pitch, formants, duration) factor range; 1: none
    return c


def augment_batch(config: ml_collections.ConfigDict, rng: jax.Array, audio: jax.Array,
                  lengths: jax.Array, axis_name: str | None):
    """``config.augment``'s augmentation of ``audio (B, samples)`` with true ``lengths (B,)``;
    returns ``(audio, lengths, keys)`` with one PRNG key per example (for feature-level
    augmentation such as SpecAugment, drawn from the same keys)."""
    cfg = config.augment
    # One key per global example index, so a device split gives the same augmentation.
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(example_index(audio.shape[0], axis_name))
    speed = tuple(cfg.speed)
    if not (cfg.gain_db or cfg.max_shift_seconds or cfg.noise_prob or speed != (1.0, 1.0)):
        return audio, lengths, keys
    audio, lengths = augment_waveforms(
        keys, audio, lengths, gain_db=cfg.gain_db,
        max_shift=int(cfg.max_shift_seconds * config.data.sample_rate),
        noise_prob=cfg.noise_prob, snr_db=tuple(cfg.snr_db),
        speed=None if speed == (1.0, 1.0) else speed)
    return audio, lengths, keys
