"""Per-sample output distributions of autoregressive waveform models (WaveNet, SampleRNN).

Each maps the model's output parameters ``(..., num_params)`` to a log-likelihood of the next
sample and to a random draw of it, and says how audio becomes targets and draws become audio:

- :class:`Categorical`: a softmax over ``num_classes`` mu-law codes (int samples);
- :class:`LogisticMixture`: a discretized mixture of logistics (PixelCNN++, Salimans et al.
  2017) over ``num_classes`` equal bins of [-1, 1] (float samples).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.frontends import mu_law_decode, mu_law_encode


class Categorical:
    def __init__(self, num_classes: int, num_mixtures: int = 0):
        self.num_classes = num_classes
        self.num_params = num_classes
        self.mu = num_classes - 1

    def targets(self, audio: jax.Array) -> jax.Array:
        """``(..., samples)`` floats in [-1, 1] -> int32 mu-law codes."""
        return mu_law_encode(audio, mu=self.mu)

    def to_audio(self, samples: jax.Array) -> jax.Array:
        return mu_law_decode(samples, mu=self.mu)

    def silence(self, batch_size: int) -> jax.Array:
        return mu_law_encode(jnp.zeros((batch_size,)), mu=self.mu)

    def log_prob(self, params: jax.Array, targets: jax.Array) -> jax.Array:
        """``(..., num_classes)`` logits, ``(...)`` codes -> ``(...)`` log-probabilities (nats)."""
        logp = jax.nn.log_softmax(params, axis=-1)
        return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]

    def sample(self, params: jax.Array, key: jax.Array, temperature: float) -> jax.Array:
        return jax.random.categorical(key, params / temperature, axis=-1).astype(jnp.int32)


class LogisticMixture:
    def __init__(self, num_classes: int, num_mixtures: int):
        self.num_classes, self.num_mixtures = num_classes, num_mixtures
        self.num_params = 3 * num_mixtures

    def targets(self, audio: jax.Array) -> jax.Array:
        return jnp.clip(audio, -1.0, 1.0).astype(jnp.float32)

    def to_audio(self, samples: jax.Array) -> jax.Array:
        return samples

    def silence(self, batch_size: int) -> jax.Array:
        return jnp.zeros((batch_size,), jnp.float32)

    def _split(self, params):
        logits, means, log_scales = jnp.split(params, 3, axis=-1)
        return logits, means, jnp.maximum(log_scales, -7.0)

    def log_prob(self, params: jax.Array, targets: jax.Array) -> jax.Array:
        """Probability mass of the bin of width ``2 / (num_classes - 1)`` around ``targets``;
        the edge bins take the tails (below -1 + half a bin, above 1 - half a bin)."""
        logits, means, log_scales = self._split(params)
        x = targets[..., None]
        half_bin = 1.0 / (self.num_classes - 1)
        inv_scale = jnp.exp(-log_scales)
        plus = inv_scale * (x - means + half_bin)
        minus = inv_scale * (x - means - half_bin)
        log_cdf_plus = plus - jax.nn.softplus(plus)          # log sigmoid(plus)
        log_one_minus_cdf_minus = -jax.nn.softplus(minus)    # log (1 - sigmoid(minus))
        cdf_delta = jax.nn.sigmoid(plus) - jax.nn.sigmoid(minus)
        mid = inv_scale * (x - means)
        # Where the bin mass underflows, the density at the centre times the bin width.
        log_pdf_mid = mid - log_scales - 2.0 * jax.nn.softplus(mid) + np.log(2 * half_bin)
        inner = jnp.where(cdf_delta > 1e-5, jnp.log(jnp.maximum(cdf_delta, 1e-12)), log_pdf_mid)
        log_probs = jnp.where(x < -0.999, log_cdf_plus,
                              jnp.where(x > 0.999, log_one_minus_cdf_minus, inner))
        return jax.nn.logsumexp(log_probs + jax.nn.log_softmax(logits, axis=-1), axis=-1)

    def sample(self, params: jax.Array, key: jax.Array, temperature: float) -> jax.Array:
        """A component (logits / temperature), then a logistic draw (scale x temperature)."""
        logits, means, log_scales = self._split(params)
        k_mix, k_logistic = jax.random.split(key)
        component = jax.random.categorical(k_mix, logits / temperature, axis=-1)
        pick = lambda a: jnp.take_along_axis(a, component[..., None], axis=-1)[..., 0]  # noqa: E731
        u = jax.random.uniform(k_logistic, component.shape, minval=1e-5, maxval=1.0 - 1e-5)
        x = pick(means) + temperature * jnp.exp(pick(log_scales)) * (jnp.log(u) - jnp.log1p(-u))
        return jnp.clip(x, -1.0, 1.0)


OUTPUTS = {"categorical": Categorical, "logistic_mixture": LogisticMixture}
