"""Sample-level codecs: mu-law companding / quantization (WaveNet) and pre-/de-emphasis.

Same conventions as the rest of :mod:`audiojax.frontends`: ``(..., samples)``, jit/vmap/grad
friendly, float32 compute for low-precision floats, ``ValueError`` for bad static arguments.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.frontends.spectral import as_float_signal


def _check_mu(mu) -> int:
    if isinstance(mu, bool) or not isinstance(mu, numbers.Real) or mu <= 0:
        raise ValueError(f"mu must be strictly positive, got {mu!r}")
    return mu


def mu_law_encode(x, mu: int = 255, quantize: bool = True) -> jax.Array:
    """Mu-law companding of ``x`` in [-1, 1], optionally quantized to ``mu + 1`` classes.

    Args:
      x: float signal ``(..., samples)`` in [-1, 1]; values outside are clipped (librosa
        raises instead, which is impossible under ``jit``).
      mu: compression parameter; 255 gives 256 classes (8 bits, WaveNet).
      quantize: return integer class indices instead of the companded float.

    Returns:
      quantize=True: int32 classes in ``[0, mu]``, equal to
      ``librosa.mu_compress(x, mu=mu) + (mu + 1) // 2`` (librosa centres them on 0; class
      indices for a softmax must start at 0). quantize=False: float in [-1, 1], equal to
      ``librosa.mu_compress(x, mu=mu, quantize=False)``.
    """
    mu = _check_mu(mu)
    x = jnp.clip(as_float_signal(x, "x"), -1.0, 1.0)
    companded = jnp.sign(x) * jnp.log1p(mu * jnp.abs(x)) / np.log1p(mu)
    if not quantize:
        return companded
    # np.digitize(..., right=True) on librosa's bin edges == count of edges strictly below.
    edges = jnp.asarray(np.linspace(-1, 1, num=int(1 + mu), endpoint=True), companded.dtype)
    return jnp.searchsorted(edges, companded, side="left").astype(jnp.int32)


def mu_law_decode(y, mu: int = 255, quantize: bool = True) -> jax.Array:
    """Inverse of :func:`mu_law_encode`: classes (or companded floats) -> float signal in [-1, 1].

    ``mu_law_decode(c)`` equals ``librosa.mu_expand(c - (mu + 1) // 2, mu=mu)``; with
    ``quantize=False`` it equals ``librosa.mu_expand(y, mu=mu, quantize=False)``.
    """
    mu = _check_mu(mu)
    y = jnp.asarray(y)
    if quantize:
        y = (y - int(mu + 1) // 2).astype(jnp.float32) * (2.0 / (1 + mu))
    else:
        y = as_float_signal(y, "y")
    return jnp.sign(y) / mu * (jnp.power(1.0 + mu, jnp.abs(y)) - 1.0)


def _check_coef(coef) -> float:
    if isinstance(coef, bool) or not isinstance(coef, numbers.Real):
        raise ValueError(f"coef must be a real number, got {coef!r}")
    return float(coef)


def _check_two_samples(y: jax.Array, zi) -> None:
    if zi is None and y.shape[-1] < 2:
        raise ValueError(f"y needs at least 2 samples when zi is None, got {y.shape[-1]}")


def preemphasis(y, *, coef: float = 0.97, zi=None, return_zf: bool = False):
    """``y[n] - coef * y[n - 1]``, like ``librosa.effects.preemphasis``.

    Args:
      y: float signal ``(..., samples)``.
      coef: pre-emphasis coefficient.
      zi: initial filter state ``(..., 1)`` (librosa's lfilter state: ``out[0] = y[0] + zi``);
        None uses librosa's ``2 * y[0] - y[1]``.
      return_zf: also return the final state ``-coef * y[..., -1:]``, to continue on the next block.

    Returns:
      the filtered signal, same shape; or ``(filtered, zf)``.
    """
    coef = _check_coef(coef)
    y = as_float_signal(y)
    _check_two_samples(y, zi)
    zi = 2 * y[..., 0:1] - y[..., 1:2] if zi is None else jnp.asarray(zi, y.dtype).reshape(y.shape[:-1] + (1,))
    out = jnp.concatenate([y[..., :1] + zi, y[..., 1:] - coef * y[..., :-1]], axis=-1)
    if return_zf:
        return out, -coef * y[..., -1:]
    return out


@jax.jit
def _recurrence(x: jax.Array, coef: float) -> jax.Array:
    """``out[n] = coef * out[n - 1] + x[n]`` along the last axis, as an associative scan of
    affine maps (log-depth, unlike a sequential loop). Jitted: eager op-by-op dispatch of the
    scan's many small steps is slow."""

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_l * a_r, a_r * b_l + b_r

    _, out = jax.lax.associative_scan(combine, (jnp.full(x.shape, coef, x.dtype), x), axis=x.ndim - 1)
    return out


def deemphasis(y, *, coef: float = 0.97, zi=None, return_zf: bool = False):
    """Inverse of :func:`preemphasis`, ``out[n] = y[n] + coef * out[n - 1]``, like ``librosa.effects.deemphasis``.

    With ``zi=None``, librosa's initial condition is used, so ``deemphasis(preemphasis(y))``
    recovers ``y``.
    """
    coef = _check_coef(coef)
    y = as_float_signal(y)
    _check_two_samples(y, zi)
    start = jnp.zeros(y.shape[:-1] + (1,), y.dtype) if zi is None else jnp.asarray(zi, y.dtype).reshape(y.shape[:-1] + (1,))
    out = _recurrence(jnp.concatenate([y[..., :1] + start, y[..., 1:]], axis=-1), coef)
    # librosa returns the filter's state before its zi=None correction below.
    zf = coef * out[..., -1:]
    if zi is None:
        powers = jnp.asarray(coef ** np.arange(y.shape[-1]), y.dtype)
        out = out - ((2 - coef) * y[..., 0:1] - y[..., 1:2]) / (3 - coef) * powers
    if return_zf:
        return out, zf
    return out
