"""CTC prefix scores for joint CTC-attention beam search (Watanabe et al. 2017, "Hybrid
CTC/attention architecture for end-to-end speech recognition", Algorithm 2), batched over rows
(utterances x beams) and over every candidate next token at once.

For a prefix ``g`` of characters and CTC log-probabilities ``x_t(k)`` over ``T`` valid frames:

    r^n_t(g), r^b_t(g)  log p(frames 0..t collapse to g, frame t non-blank / blank)
    psi(g + c)          log p(some transcript starting with g + c)   (prefix probability)
    psi(g + EOS)        log p(transcript == g) = log(exp r^n_{T-1}(g) + exp r^b_{T-1}(g))

With ``phi_t = r^b_t(g)`` if ``c`` repeats g's last character (a blank must separate them) and
``logaddexp(r^n_t(g), r^b_t(g))`` otherwise:

    r^n_t(g + c) = logaddexp(r^n_{t-1}(g + c), phi_{t-1}) + x_t(c)
    r^b_t(g + c) = logaddexp(r^b_{t-1}(g + c), r^n_{t-1}(g + c)) + x_t(blank)
    psi(g + c)   = logsumexp_t (phi_{t-1} + x_t(c))

Both recurrences are linear in probability space (``y_t = a_t y_{t-1} + b_t``), so they run as a
parallel ``lax.associative_scan`` over frames (depth log T) instead of T sequential steps: that
is what makes scoring all candidates at every decoding step affordable on a CPU. Arrays carry
a virtual frame -1 in front (index 0) holding the empty prefix's start: ``r^b_{-1} = log 1``.
Frames past an utterance's length never reach a valid frame's value (the recurrences only run
forward) and are left out of the sums.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

NEG_INF = -jnp.inf


class PrefixState(NamedTuple):
    """One prefix per row: ``nonblank``, ``blank`` ``(rows, frames + 1)`` (index ``t + 1`` is
    frame ``t``; index 0 the virtual frame -1), ``score (rows,)`` = psi of the prefix (nats),
    ``last (rows,)`` int32 its last token (-1 for the empty prefix)."""

    nonblank: jax.Array
    blank: jax.Array
    score: jax.Array
    last: jax.Array


def initial_state(logp: jax.Array, blank_id: int) -> PrefixState:
    """The empty prefix for CTC log-probabilities ``logp (rows, frames, vocab)``: ``r^b`` is
    every frame so far blank (log 1 at the virtual frame), ``r^n`` impossible."""
    rows, frames, _ = logp.shape
    blank = jnp.concatenate([jnp.zeros((rows, 1)), jnp.cumsum(logp[:, :, blank_id], axis=1)], 1)
    return PrefixState(jnp.full((rows, frames + 1), NEG_INF), blank, jnp.zeros((rows,)),
                       jnp.full((rows,), -1, jnp.int32))


def _affine_scan(a: jax.Array, b: jax.Array) -> jax.Array:
    """``y_t = logaddexp(a_t + y_{t-1}, b_t)`` along axis 1 from ``y_{-1} = -inf`` (log space)."""

    def combine(first, second):
        a1, b1 = first
        a2, b2 = second
        return a1 + a2, jnp.logaddexp(a2 + b1, b2)

    return jax.lax.associative_scan(combine, (a, b), axis=1)[1]


def extend(state: PrefixState, logp: jax.Array, frames: jax.Array, *, blank_id: int,
           eos_id: int, sos_id: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Scores every one-token extension of each row's prefix.

    ``logp (rows, T, vocab)`` CTC log-softmax, ``frames (rows,)`` valid frames -> ``(psi (rows,
    vocab), nonblank (rows, T + 1, vocab), blank (rows, T + 1, vocab))``: ``psi[:, c]`` is the
    prefix log-probability of ``g + c`` (at ``eos_id``, of the complete transcript ``g``;
    ``-inf`` at ``blank_id`` and ``sos_id``, which are never emitted); the other two are the
    extended prefixes' states, for :func:`select`.
    """
    rows, T, vocab = logp.shape
    repeats = jnp.arange(vocab)[None, :] == state.last[:, None]       # (rows, vocab)
    phi = jnp.where(repeats[:, None, :], state.blank[..., None],
                    jnp.logaddexp(state.nonblank, state.blank)[..., None])  # (rows, T + 1, vocab)
    emit = phi[:, :T] + logp                                          # phi_{t-1} + x_t(c)
    nonblank = _affine_scan(logp, emit)                               # r^n_t(g + c), t = 0..T-1
    shifted = jnp.concatenate([jnp.full((rows, 1, vocab), NEG_INF), nonblank[:, :-1]], axis=1)
    x_blank = jnp.broadcast_to(logp[:, :, blank_id:blank_id + 1], logp.shape)
    blank = _affine_scan(x_blank, shifted + x_blank)                  # r^b_t(g + c)
    valid = (jnp.arange(T)[None, :] < frames[:, None])[..., None]
    psi = jax.nn.logsumexp(jnp.where(valid, emit, NEG_INF), axis=1)   # (rows, vocab)
    last = frames[:, None]                                            # index of frame T_valid - 1
    ended = jnp.logaddexp(jnp.take_along_axis(state.nonblank, last, 1),
                          jnp.take_along_axis(state.blank, last, 1))[:, 0]
    psi = psi.at[:, eos_id].set(ended)
    psi = psi.at[:, blank_id].set(NEG_INF).at[:, sos_id].set(NEG_INF)
    pad = jnp.full((rows, 1, vocab), NEG_INF)
    return (psi, jnp.concatenate([pad, nonblank], axis=1), jnp.concatenate([pad, blank], axis=1))


def select(psi: jax.Array, nonblank: jax.Array, blank: jax.Array, rows: jax.Array,
           tokens: jax.Array) -> PrefixState:
    """The states of the chosen extensions: row ``rows[i]`` extended by ``tokens[i]``
    (``rows``, ``tokens``: ``(n,)`` int) -> :class:`PrefixState` of ``n`` rows."""
    pick = lambda x: x[rows, :, tokens]  # noqa: E731  (n, T + 1)
    return PrefixState(pick(nonblank), pick(blank), psi[rows, tokens], tokens.astype(jnp.int32))
