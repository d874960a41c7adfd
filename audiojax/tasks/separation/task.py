"""Source separation: a model maps a mixture of two talkers to the two, trained on the negative
SI-SDR under the best pairing of its outputs with the references (utterance-level
permutation-invariant training, Kolbaek et al. 2017); everything else, the models, evaluation
rows, summaries and plots, is :class:`~audiojax.tasks.enhancement.task.Enhancement`'s with
``num_sources`` 2. SI-SDRi is the mean over the sources of each estimate's SI-SDR minus the
mixture's against the same reference.

Dynamic mixing (``separate.dynamic_mixing``, as in Wavesplit, Zeghidour & Grangier 2021): each
training step pairs every example's first source with another example's second source, at a
new relative level, so that a few thousand recordings give a new mixture each time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from audiojax.data.manifest import Column
from audiojax.masking import length_mask
from audiojax.tasks.enhancement import metrics as M
from audiojax.tasks.enhancement.task import Enhancement


class Separation(Enhancement):
    """See the module docstring. Batches hold ``audio`` (the mixture), ``source1`` and
    ``source2``, read from manifests ``mixture<TAB>source1<TAB>source2``."""

    columns = (Column("audio", "audio", title="mixture"), Column("source1", "audio"),
               Column("source2", "audio"))
    targets = ("source1", "source2")

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = super().config_defaults()
        c.separate = ml_collections.ConfigDict()
        c.separate.dynamic_mixing = False   # training: remix the batch's sources every step
        c.separate.level_db = 5.0           # remixed: relative level uniform in +-level_db
        return c

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        super().check_config(config)
        if config.separate.level_db < 0:
            raise ValueError(f"config.separate.level_db={config.separate.level_db}: must not be negative")
        if config.separate.dynamic_mixing and config.batch_size // config.grad_accum_steps < 2:
            raise ValueError(f"config.separate.dynamic_mixing pairs the examples of a micro-batch: "
                             f"batch_size={config.batch_size} / grad_accum_steps="
                             f"{config.grad_accum_steps} must be at least 2")

    def training_batch(self, batch: dict, rng: jax.Array) -> dict:
        """With ``separate.dynamic_mixing``: example ``b``'s ``source1`` with example ``(b + k)
        % B``'s ``source2`` (``k`` drawn in ``1..B-1`` per step), both cut to the shorter
        length, at unit RMS each times ``10 ** (+-level / 40)`` (``level`` uniform in
        ``+-separate.level_db``), rescaled to the RMS of the example's recorded mixture; the
        mixture is their sum."""
        if not self.config.separate.dynamic_mixing:
            return batch
        s1, s2, lengths = batch["source1"], batch["source2"], batch["length"]
        size, samples = s1.shape
        if size < 2:  # one example per device (pmap): it would be paired with itself
            raise ValueError(f"config.separate.dynamic_mixing pairs the examples of a device's "
                             f"micro-batch, which holds {size}: batch_size must be at least 2 x "
                             f"devices x grad_accum_steps")
        k_shift, k_level = jax.random.split(rng)
        partner = (jnp.arange(size) + jax.random.randint(k_shift, (), 1, size)) % size
        length = jnp.minimum(lengths, lengths[partner])
        valid = length_mask(length, samples)
        count = jnp.maximum(length, 1)[:, None].astype(jnp.float32)

        def rms(x):
            return jnp.sqrt((jnp.where(valid, x, 0.0) ** 2).sum(-1, keepdims=True) / count + 1e-12)

        level = jax.random.uniform(k_level, (size, 1), minval=-1.0, maxval=1.0) * self.config.separate.level_db
        a = s1 / rms(s1) * 10 ** (level / 40)
        b = s2[partner] / rms(s2[partner]) * 10 ** (-level / 40)
        gain = rms(batch["audio"]) / rms(a + b)
        a, b = jnp.where(valid, a * gain, 0.0), jnp.where(valid, b * gain, 0.0)
        return {**batch, "audio": a + b, "source1": a, "source2": b, "length": length,
                "mask": batch["mask"] & batch["mask"][partner]}

    def align(self, estimates: jax.Array, references: jax.Array, lengths: jax.Array
              ) -> tuple[jax.Array, jax.Array]:
        """The estimates in the ordering of best mean SI-SDR (:func:`~audiojax.tasks.
        enhancement.metrics.pit_si_sdr`), and that mean ``(B,)``."""
        best, perm = M.pit_si_sdr(estimates, references, lengths)
        return jnp.take_along_axis(estimates, perm[:, :, None], axis=1), best
