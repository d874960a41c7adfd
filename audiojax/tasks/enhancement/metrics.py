"""Metrics of enhancement and separation.

JAX, for training and the device side of evaluation: :func:`si_sdr` (Le Roux et al., "SDR -
half-baked or well done?", ICASSP 2019) over each example's true length, and
:func:`pit_si_sdr`, the best of the source orderings (permutation-invariant training, Yu et
al. 2017). Host side, one example at a time: SI-SDR and SDR (``fast_bss_eval``, BSS-eval's
SDR with a 512-tap distortion filter), PESQ (ITU-T P.862: wide band at 16 kHz, narrow band at 8
kHz; the ``pesq`` package) and STOI (``pystoi``), with their improvements over the mixture.

SI-SDR of an estimate ``s_hat`` of ``s`` (both zero-mean over the valid samples by default):
``alpha = <s_hat, s> / ||s||^2``, ``10 log10(||alpha s||^2 / ||alpha s - s_hat||^2)`` dB.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from audiojax.masking import length_mask
from audiojax.tasks.base import bootstrap_interval

EPS = 1e-8


def si_sdr(estimate: jax.Array, reference: jax.Array, lengths: jax.Array,
           zero_mean: bool = True, eps: float = EPS) -> jax.Array:
    """SI-SDR in dB over the first ``lengths[b]`` samples: ``estimate``, ``reference``
    ``(batch, ..., samples)``, ``lengths (batch,)`` -> ``(batch, ...)``. Samples past a length
    count for nothing (whatever they hold). ``eps`` keeps silence finite and the gradient too."""
    mask = length_mask(lengths, estimate.shape[-1]).reshape(
        (estimate.shape[0],) + (1,) * (estimate.ndim - 2) + (estimate.shape[-1],))
    est = jnp.where(mask, estimate.astype(jnp.float32), 0.0)
    ref = jnp.where(mask, reference.astype(jnp.float32), 0.0)
    if zero_mean:
        n = jnp.maximum(mask.sum(-1, keepdims=True), 1)
        est = jnp.where(mask, est - est.sum(-1, keepdims=True) / n, 0.0)
        ref = jnp.where(mask, ref - ref.sum(-1, keepdims=True) / n, 0.0)
    alpha = (est * ref).sum(-1, keepdims=True) / ((ref ** 2).sum(-1, keepdims=True) + eps)
    target = alpha * ref
    return 10.0 * jnp.log10(((target ** 2).sum(-1) + eps) / (((target - est) ** 2).sum(-1) + eps))


def permutations(sources: int) -> np.ndarray:
    """``(S!, S)``: every ordering of ``sources`` sources, the identity first."""
    return np.array(list(itertools.permutations(range(sources))), np.int32)


def pit_si_sdr(estimates: jax.Array, references: jax.Array, lengths: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
    """Permutation-invariant SI-SDR: ``estimates``, ``references`` ``(B, S, samples)`` ->
    ``(best mean SI-SDR over sources (B,), its permutation (B, S))``, where estimate
    ``perm[b, s]`` goes with reference ``s``. The S x S pairwise SI-SDRs are computed once
    and each of the S! orderings sums S of them (S is small: 2 or 3)."""
    pairwise = si_sdr(estimates[:, None, :, :], references[:, :, None, :], lengths)  # (B, ref, est)
    perms = jnp.asarray(permutations(estimates.shape[1]))
    s = jnp.arange(estimates.shape[1])
    scores = pairwise[:, s[None, :], perms].mean(-1)  # (B, S!)
    best = scores.argmax(-1)
    return scores.max(-1), perms[best]


# -- host metrics, one example at a time ------------------------------------------------------

def si_sdr_np(estimate: np.ndarray, reference: np.ndarray, zero_mean: bool = True) -> float:
    """SI-SDR in dB of 1-D ``estimate`` against ``reference``, in float64 (the reference for
    :func:`si_sdr`, which computes in float32)."""
    est, ref = np.asarray(estimate, np.float64), np.asarray(reference, np.float64)
    if zero_mean:
        est, ref = est - est.mean(), ref - ref.mean()
    alpha = est @ ref / (ref @ ref + EPS)
    target = alpha * ref
    return float(10 * np.log10((target @ target + EPS) / ((target - est) @ (target - est) + EPS)))


def sdr_np(estimate: np.ndarray, reference: np.ndarray) -> float:
    """BSS-eval SDR in dB (``fast_bss_eval.sdr``: 512-tap distortion filter)."""
    # Its numpy backend directly: the top-level module imports torch whenever torch is
    # installed (seconds) only to dispatch on the array type. Reference first (BSS-eval's
    # order); with one channel its built-in permutation search is a no-op.
    from fast_bss_eval import numpy as bss  # noqa: PLC0415

    return float(bss.sdr(np.asarray(reference, np.float64)[None],
                         np.asarray(estimate, np.float64)[None])[0])


def _at_pesq_rate(y: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    if sample_rate in (8000, 16000):
        return np.asarray(y, np.float64), sample_rate
    import soxr  # noqa: PLC0415

    return soxr.resample(np.asarray(y, np.float64), sample_rate, 16000), 16000


def pesq_np(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """PESQ (MOS-LQO, about 1 to 4.6): wide band at 16 kHz, narrow band at 8 kHz, other rates
    resampled to 16 kHz. NaN where PESQ finds no utterance in the reference (silence, its
    ``NoUtterancesError``), for a clip under its 0.25 s (``BufferTooShortError``: one short
    clip of a manifest must not end its evaluation) and for an all-zero estimate; any other
    error propagates."""
    from pesq import BufferTooShortError, NoUtterancesError, pesq  # noqa: PLC0415

    if not np.any(estimate):
        # pesq 0.0.4 fails on exact digital silence with "ValueError: cannot convert float NaN
        # to integer" (a log of zero energy); a model may well output zeros, so no crash.
        return float("nan")
    est, sr = _at_pesq_rate(estimate, sample_rate)
    ref, _ = _at_pesq_rate(reference, sample_rate)
    try:
        return float(pesq(sr, ref, est, "wb" if sr == 16000 else "nb"))
    except (NoUtterancesError, BufferTooShortError):
        return float("nan")


def stoi_np(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility (``pystoi``, not the extended variant)."""
    from pystoi import stoi  # noqa: PLC0415

    return float(stoi(np.asarray(reference, np.float64), np.asarray(estimate, np.float64),
                      sample_rate, extended=False))


def example_metrics(estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray,
                    sample_rate: int) -> dict[str, float]:
    """SI-SDR, SDR, PESQ and STOI of one estimate ``(samples,)`` and of the mixture, and the
    estimate's improvements (``si_sdri``, ``sdri``, ``pesq_delta``, ``stoi_delta``)."""
    out = {}
    for name, fn in (("si_sdr", lambda y: si_sdr_np(y, reference)),
                     ("sdr", lambda y: sdr_np(y, reference)),
                     ("pesq", lambda y: pesq_np(y, reference, sample_rate)),
                     ("stoi", lambda y: stoi_np(y, reference, sample_rate))):
        out[name], out[f"{name}_mixture"] = fn(estimate), fn(mixture)
    out["si_sdri"] = out["si_sdr"] - out["si_sdr_mixture"]
    out["sdri"] = out["sdr"] - out["sdr_mixture"]
    out["pesq_delta"] = out["pesq"] - out["pesq_mixture"]
    out["stoi_delta"] = out["stoi"] - out["stoi_mixture"]
    return out


def sources_metrics(estimates: np.ndarray, references: np.ndarray, mixture: np.ndarray,
                    sample_rate: int) -> dict[str, float]:
    """:func:`example_metrics` averaged over the sources of one example: ``estimates``,
    ``references`` ``(S, samples)`` in matching order, ``mixture (samples,)``."""
    rows = [example_metrics(e, r, mixture, sample_rate) for e, r in zip(estimates, references)]
    return {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}


def summarize_examples(rows: list[dict[str, float]]) -> dict[str, dict]:
    """``{metric: {"mean", "median", "count", "nan"}}`` over per-example rows (such as
    :func:`example_metrics`'); NaNs are left out and counted (``nan``), ``count`` is the rest.
    ``si_sdri`` also gets ``ci95``: the 95% percentile-bootstrap interval of its mean."""
    out = {}
    for key in (rows[0] if rows else {}):
        values = np.array([row[key] for row in rows], np.float64)
        ok = values[np.isfinite(values)]
        out[key] = {"mean": float(ok.mean()) if ok.size else float("nan"),
                    "median": float(np.median(ok)) if ok.size else float("nan"),
                    "count": int(ok.size), "nan": int(values.size - ok.size)}
        if key == "si_sdri":
            out[key]["ci95"] = list(bootstrap_interval(ok))
    return out

