"""SI-SDR and PIT in JAX against fast_bss_eval and brute force; the host metrics (SDR, PESQ,
STOI) and their summaries."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_bss_eval import numpy as bss
from pesq import BufferTooShortError, pesq

from audiojax.tasks.enhancement import metrics as M


def _noisy(rng, ref, snr_db):
    noise = rng.standard_normal(ref.shape)
    return ref + noise * np.sqrt(np.mean(ref ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))


@pytest.mark.parametrize("zero_mean", [True, False])
def test_si_sdr_matches_fast_bss_eval_and_ignores_scale_and_padding(zero_mean):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((4, 6000)) + 0.2
    est = np.stack([_noisy(rng, r, snr) for r, snr in zip(ref, (-5, 0, 10, 25))])
    lengths = np.array([6000, 5000, 4000, 6000])
    want = [bss.si_sdr(r[None, :n], e[None, :n], zero_mean=zero_mean)[0]
            for r, e, n in zip(ref, est, lengths)]
    garbage = np.where(np.arange(6000) < lengths[:, None], est, 1e3)
    ref_j, lengths_j = jnp.asarray(ref), jnp.asarray(lengths)
    got = M.si_sdr(jnp.asarray(garbage), ref_j, lengths_j, zero_mean=zero_mean)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)
    for scale in (0.3, 7.0):
        scaled = M.si_sdr(jnp.asarray(scale * est), ref_j, lengths_j, zero_mean)
        np.testing.assert_allclose(np.asarray(scaled), want, atol=1e-4)
    assert [M.si_sdr_np(e[:n], r[:n], zero_mean) for e, r, n in zip(est, ref, lengths)] == \
        pytest.approx(want, abs=1e-6)


def test_si_sdr_gradient_is_finite_near_a_perfect_estimate():
    ref = jnp.asarray(np.random.default_rng(1).standard_normal((1, 2000)), jnp.float32)
    grad = jax.jit(jax.grad(lambda e: M.si_sdr(e, ref, jnp.array([2000])).sum()))
    for estimate in (ref * 1.0001 + 1e-4, ref):  # near-perfect, and perfect (eps keeps it finite)
        assert np.isfinite(np.asarray(grad(estimate))).all()


@pytest.mark.parametrize("sources", [2, 3])
def test_pit_finds_the_permutation_of_brute_force(sources):
    rng = np.random.default_rng(sources)
    refs = rng.standard_normal((5, sources, 3000))
    truth = [rng.permutation(sources) for _ in range(5)]
    ests = np.stack([_noisy(rng, r[p], 5.0) for r, p in zip(refs, truth)])  # est k = ref p[k]
    best, perm = M.pit_si_sdr(jnp.asarray(ests), jnp.asarray(refs), jnp.full((5,), 3000))
    for b in range(5):
        scores = {p: np.mean([M.si_sdr_np(ests[b, p[s]], refs[b, s]) for s in range(sources)])
                  for p in itertools.permutations(range(sources))}
        want = max(scores, key=scores.get)
        assert tuple(np.asarray(perm[b])) == want == tuple(np.argsort(truth[b]))
        assert float(best[b]) == pytest.approx(scores[want], abs=1e-3)


def test_host_metrics_against_their_packages():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    ref = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2)
    ref += 0.05 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 3 * t) > 0)
    est, mix = _noisy(rng, ref, 15.0), _noisy(rng, ref, 0.0)
    assert M.sdr_np(est, ref) == pytest.approx(float(bss.sdr(ref[None], est[None])[0]), abs=1e-9)
    assert M.pesq_np(ref, ref, 16000) > 4.0 > M.pesq_np(mix, ref, 16000)
    assert M.stoi_np(ref, ref, 16000) == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(M.pesq_np(np.zeros(16000), np.zeros(16000), 16000))  # NoUtterancesError
    assert np.isnan(M.pesq_np(np.zeros(t.size), ref, 16000))  # pesq's ValueError on zeros
    with pytest.raises(BufferTooShortError):  # what pesq does under 0.25 s, and pesq_np not:
        pesq(16000, ref[:1000], est[:1000], "wb")
    assert np.isnan(M.pesq_np(est[:1000], ref[:1000], 16000))
    assert M.pesq_np(ref[::2], ref[::2], 8000) > 4.0  # narrow band
    assert M.pesq_np(ref, ref, 22050) > 4.0  # resampled to 16 kHz first
    row = M.example_metrics(est, ref, mix, 16000)
    assert row["si_sdri"] == pytest.approx(row["si_sdr"] - M.si_sdr_np(mix, ref))
    assert row["sdri"] == pytest.approx(row["sdr"] - M.sdr_np(mix, ref))
    assert row["pesq_delta"] == pytest.approx(row["pesq"] - row["pesq_mixture"])
    assert row["stoi_delta"] == pytest.approx(row["stoi"] - row["stoi_mixture"])
    assert row["pesq_delta"] > 0 and row["stoi_delta"] > 0 and row["sdri"] > 10
    two = M.sources_metrics(np.stack([est, mix]), np.stack([ref, ref]), mix, 16000)
    assert two["si_sdri"] == pytest.approx(row["si_sdri"] / 2)  # the mixture's own SI-SDRi is 0


def test_summaries_skip_and_count_nans():
    nan = float("nan")
    rows = [{"si_sdri": 1.0, "pesq": 2.0, "snr": -3.0}, {"si_sdri": 3.0, "pesq": nan, "snr": 2.0},
            {"si_sdri": 8.0, "pesq": 3.0, "snr": 4.0}, {"si_sdri": nan, "pesq": 1.5, "snr": 9.0}]
    s = M.summarize_examples(rows)
    si_sdri = np.array([r["si_sdri"] for r in rows])
    assert s["si_sdri"]["mean"] == pytest.approx(np.nanmean(si_sdri))
    assert s["si_sdri"]["median"] == pytest.approx(np.nanmedian(si_sdri))
    assert s["pesq"] == {"mean": pytest.approx(np.mean([2.0, 3.0, 1.5])), "median": 2.0,
                         "count": 3, "nan": 1}
    low, high = s["si_sdri"]["ci95"]
    assert 1.0 <= low < 4.0 < high <= 8.0
    assert M.summarize_examples([]) == {}
