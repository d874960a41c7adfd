"""CTC prefix scores (joint CTC-attention decoding) against brute-force sums over alignments."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.tasks.asr import ctc_prefix

BLANK, SOS, EOS = 0, 1, 2


def collapse(path):
    """An alignment's transcript: repeats merged, then blanks removed."""
    out = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return tuple(k for k in out if k != BLANK)


def brute_force(logp, frames):
    """``{transcript: log p}`` over every alignment of the first ``frames`` frames."""
    p = np.exp(logp[:frames])
    totals = {}
    for path in itertools.product(range(p.shape[1]), repeat=frames):
        y = collapse(path)
        totals[y] = totals.get(y, 0.0) + np.prod(p[np.arange(frames), path])
    return totals


def prefix_logp(totals, prefix):
    total = sum(v for y, v in totals.items() if y[:len(prefix)] == prefix)
    return np.log(total) if total > 0 else -np.inf


@pytest.mark.parametrize("frames", [5, 3])
def test_prefix_scores_against_enumerated_alignments(frames):
    """Every extension's psi (and EOS: the whole transcript) along a prefix with a repeat,
    with garbage in the padded frames past ``frames``."""
    rng = np.random.default_rng(frames)
    vocab, T = 5, 6                                     # blank, sos, eos, characters 3 and 4
    logp = np.asarray(jax.nn.log_softmax(rng.normal(size=(T, vocab)) * 1.5), np.float64)
    totals = brute_force(logp, frames)
    x = jnp.asarray(logp, jnp.float32)[None]
    x = x.at[:, frames:].set(jnp.asarray(rng.normal(size=(T - frames, vocab)) * 9.0)[None])
    length = jnp.array([frames])
    state = ctc_prefix.initial_state(x, BLANK)
    prefix = ()
    for token in (3, 3, 4):                             # "a", "aa" (a blank must separate), "aab"
        psi, nonblank, blank = ctc_prefix.extend(state, x, length, blank_id=BLANK, eos_id=EOS,
                                                 sos_id=SOS)
        for c in (3, 4):
            np.testing.assert_allclose(psi[0, c], prefix_logp(totals, prefix + (c,)), rtol=1e-5)
        complete = totals.get(prefix, 0.0)
        if complete > 0:
            np.testing.assert_allclose(psi[0, EOS], np.log(complete), rtol=1e-5)
        else:
            assert psi[0, EOS] == -np.inf
        assert psi[0, BLANK] == psi[0, SOS] == -np.inf
        state = ctc_prefix.select(psi, nonblank, blank, jnp.array([0]), jnp.array([token]))
        prefix += (token,)
        np.testing.assert_allclose(state.score[0], prefix_logp(totals, prefix), rtol=1e-5)


def test_complete_transcript_score_is_minus_ctc_loss():
    """psi(g + EOS) after extending character by character equals optax's CTC log-likelihood."""
    import optax
    rng = np.random.default_rng(0)
    rows, T, vocab = 3, 12, 6
    logp = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(rows, T, vocab)), jnp.float32))
    frames = jnp.array([12, 9, 7])
    labels = jnp.array([[3, 4, 4, 5], [5, 3, 5, 3], [4, 4, 4, 0]])
    state = ctc_prefix.initial_state(logp, BLANK)
    for i in range(labels.shape[1]):
        psi, nonblank, blank = ctc_prefix.extend(state, logp, frames, blank_id=BLANK, eos_id=EOS,
                                                 sos_id=SOS)
        live = labels[:, i] != 0
        new = ctc_prefix.select(psi, nonblank, blank, jnp.arange(rows), labels[:, i])
        state = jax.tree.map(lambda n, o: jnp.where(live.reshape((-1,) + (1,) * (n.ndim - 1)), n, o),
                             new, state)
    psi, _, _ = ctc_prefix.extend(state, logp, frames, blank_id=BLANK, eos_id=EOS, sos_id=SOS)
    paddings = (jnp.arange(T)[None] >= frames[:, None]).astype(jnp.float32)
    loss = optax.ctc_loss(logp, paddings, labels, (labels == 0).astype(jnp.float32), blank_id=BLANK)
    np.testing.assert_allclose(psi[:, EOS], -loss, rtol=1e-5)
