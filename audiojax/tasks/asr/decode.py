"""Batched greedy and beam-search decoding of a :class:`~audiojax.models.seq2seq.Recognizer`,
compiled with jax (``lax.while_loop``: the loop stops when every hypothesis has ended).

    decode = make_decoder(model, beam_width=4, max_steps=120)
    out = decode(variables, audio, lengths)    # jitted; audio (batch, samples), lengths (batch,)
    out.tokens   # (batch, max_steps) int32: characters, then EOS, then 0 (padding)

A hypothesis ends with EOS; it is forced to end after ``ceil(max_ratio * encoder frames)`` tokens
(and after ``max_steps``). Beam search keeps ``beam_width`` hypotheses per utterance and returns
the best by ``log p / length**length_penalty``; with ``beam_width=1`` it is greedy decoding.
With ``ctc_weight`` beam search scores hypotheses jointly with the recognizer's CTC head
(``(1 - w) log p_att + w log p_ctc``, CTC prefix scores from :mod:`audiojax.tasks.asr.ctc_prefix`); with
``lm_weight`` it adds ``lm_weight * log p_lm`` of a character n-gram model (shallow fusion,
:mod:`audiojax.tasks.asr.lm`).
Buffers are written in place per step (no per-step copies of histories): beam search stores
each step's tokens, parent beams and alignments, and follows the parents back once at the end.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from audiojax.tasks.asr import ctc_prefix, lm as ngram
from audiojax.models.seq2seq import Recognizer


class Decoded(NamedTuple):
    """``tokens (batch, max_steps)`` int32 (EOS included, 0 after), ``lengths (batch,)`` tokens
    with EOS, ``scores (batch,)`` summed log-probabilities, ``alignments (batch, max_steps,
    frames)`` attention weights per emitted token (0 after the end)."""

    tokens: jax.Array
    lengths: jax.Array
    scores: jax.Array
    alignments: jax.Array


def _limits(mask: jax.Array, max_ratio: float, max_steps: int) -> jax.Array:
    """Most tokens per utterance ``(batch,)``: ``ceil(max_ratio * valid encoder frames)``."""
    frames = mask.sum(-1).astype(jnp.float32)
    return jnp.clip(jnp.ceil(max_ratio * frames), 1, max_steps).astype(jnp.int32)


def _force_end(logp: jax.Array, must_end: jax.Array, eos_id: int) -> jax.Array:
    """Where ``must_end`` (broadcast over the last, vocabulary axis), only EOS stays possible."""
    is_eos = jnp.arange(logp.shape[-1]) == eos_id
    return jnp.where(must_end[..., None] & ~is_eos, -jnp.inf, logp)


def _check_ctc_weight(ctc_weight: float) -> None:
    if not 0.0 <= ctc_weight <= 1.0:
        raise ValueError(f"ctc_weight: must be in [0, 1], got {ctc_weight}")


def greedy_decode(model: Recognizer, variables, audio, lengths, *, eos_id: int, max_steps: int,
                  max_ratio: float = 3.0) -> Decoded:
    """The most probable next character at every step, for a batch."""
    encoded = model.apply(variables, audio, lengths, method=Recognizer.encode)
    batch, frames = encoded.mask.shape
    limits = _limits(encoded.mask, max_ratio, max_steps)
    step_fn = functools.partial(model.apply, variables, method=Recognizer.decode_step)

    def body(c):
        t, state, previous, done, tokens, scores, alignments = c
        state, logits = step_fn(state, previous, encoded)
        logp = _force_end(jax.nn.log_softmax(logits), t + 1 >= limits, eos_id)
        token = jnp.where(done, 0, logp.argmax(-1)).astype(jnp.int32)
        scores = scores + jnp.where(done, 0.0, jnp.take_along_axis(logp, token[:, None], -1)[:, 0])
        alignments = alignments.at[:, t].set(jnp.where(done[:, None], 0.0, state.alignment))
        return (t + 1, state, token, done | (token == eos_id), tokens.at[:, t].set(token), scores,
                alignments)

    init = (jnp.int32(0), model.apply(variables, encoded, method=Recognizer.initial_state),
            jnp.full((batch,), model.sos_id, jnp.int32), jnp.zeros((batch,), bool),
            jnp.zeros((batch, max_steps), jnp.int32), jnp.zeros((batch,)),
            jnp.zeros((batch, max_steps, frames)))
    _, _, _, _, tokens, scores, alignments = jax.lax.while_loop(
        lambda c: (c[0] < max_steps) & ~c[3].all(), body, init)
    return Decoded(tokens, (tokens != 0).sum(-1).astype(jnp.int32), scores, alignments)


def beam_search(model: Recognizer, variables, audio, lengths, *, eos_id: int, max_steps: int,
                beam_width: int = 4, max_ratio: float = 3.0, length_penalty: float = 1.0,
                ctc_weight: float = 0.0, blank_id: int = 0, lm: ngram.LMTables | None = None,
                lm_weight: float = 0.0) -> Decoded:
    """Beam search over ``beam_width`` hypotheses per utterance; returns the best of each.

    With ``ctc_weight`` (``lambda`` in [0, 1]) a hypothesis scores ``(1 - lambda) log p_att +
    lambda log p_ctc`` (joint CTC-attention decoding; the CTC term is its prefix probability,
    :mod:`audiojax.tasks.asr.ctc_prefix`, and at EOS the probability of the whole transcript): the CTC
    head's monotonic alignment vetoes what the attention decoder makes up or skips. At 1 it is
    a prefix beam search of the CTC head alone (the attention decoder still runs, for the
    alignments and the length limit). With ``lm`` and ``lm_weight`` every character (and EOS)
    also scores ``lm_weight * log p_lm(c | the hypothesis so far)``."""
    _check_ctc_weight(ctc_weight)
    fuse = lm is not None and lm_weight > 0
    if ctc_weight > 0:
        encoded, (ctc_logp, ctc_frames) = model.apply(variables, audio, lengths,
                                                      method=Recognizer.encode_with_ctc)
    else:
        encoded = model.apply(variables, audio, lengths, method=Recognizer.encode)
    batch, frames = encoded.mask.shape
    k = beam_width
    limits = _limits(encoded.mask, max_ratio, max_steps)[:, None]                 # (batch, 1)
    tiled = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0), encoded)             # rows b*k + j
    step_fn = functools.partial(model.apply, variables, method=Recognizer.decode_step)
    rows = lambda x: x.reshape((batch * k,) + x.shape[2:])                       # noqa: E731
    beams = lambda x: x.reshape((batch, k) + x.shape[1:])                        # noqa: E731
    if ctc_weight > 0:
        ctc_logp, ctc_frames = jnp.repeat(ctc_logp, k, axis=0), jnp.repeat(ctc_frames, k, axis=0)
        extend = functools.partial(ctc_prefix.extend, logp=ctc_logp, frames=ctc_frames,
                                   blank_id=blank_id, eos_id=eos_id, sos_id=model.sos_id)

    def body(c):
        t, state, previous, done, scores, ends, tokens, parents, alignments, prefix, context = c
        state, logits = step_fn(state, rows(previous), tiled)
        logp = beams(jax.nn.log_softmax(logits))
        if ctc_weight > 0:
            psi, nonblank, blank = extend(prefix)
            gain = jnp.where(prefix.score[:, None] > -jnp.inf, psi - prefix.score[:, None], -jnp.inf)
            # At weight 1 the attention term is dropped, not multiplied by 0 (0 * -inf is NaN).
            logp = beams(gain) if ctc_weight == 1.0 else (
                (1.0 - ctc_weight) * logp + ctc_weight * beams(gain))
        if fuse:
            logp = logp + lm_weight * ngram.next_logp(lm, context)
        logp = _force_end(logp, t + 1 >= limits, eos_id)
        # An ended hypothesis has one continuation, at no cost: it stays as it is.
        ended = jnp.where(jnp.arange(logp.shape[-1]) == eos_id, 0.0, -jnp.inf)
        logp = jnp.where(done[..., None], ended, logp)
        vocab = logp.shape[-1]
        scores, best = jax.lax.top_k((scores[..., None] + logp).reshape(batch, k * vocab), k)
        parent, token = best // vocab, (best % vocab).astype(jnp.int32)
        was_done = jnp.take_along_axis(done, parent, 1)
        ends = jnp.where(was_done, jnp.take_along_axis(ends, parent, 1), t + 1)
        if ctc_weight > 0:
            chosen = (jnp.arange(batch)[:, None] * k + parent).reshape(-1)
            prefix = ctc_prefix.select(psi, nonblank, blank, chosen, token.reshape(-1))
        if fuse:
            context = ngram.advance(lm, jnp.take_along_axis(context, parent, 1), token)
        token = jnp.where(was_done, 0, token)
        state = jax.tree.map(lambda x: rows(jnp.take_along_axis(
            beams(x), parent.reshape(parent.shape + (1,) * (x.ndim - 1)), 1)), state)
        return (t + 1, state, token, was_done | (token == eos_id), scores, ends,
                tokens.at[:, :, t].set(token), parents.at[:, :, t].set(parent),
                alignments.at[:, :, t].set(beams(state.alignment)), prefix, context)

    first = model.apply(variables, tiled, method=Recognizer.initial_state)
    init = (jnp.int32(0), first, jnp.full((batch, k), model.sos_id, jnp.int32),
            jnp.zeros((batch, k), bool),
            jnp.full((batch, k), -jnp.inf).at[:, 0].set(0.0),  # one live hypothesis at first
            jnp.ones((batch, k), jnp.int32), jnp.zeros((batch, k, max_steps), jnp.int32),
            jnp.zeros((batch, k, max_steps), jnp.int32), jnp.zeros((batch, k, max_steps, frames)),
            ctc_prefix.initial_state(ctc_logp, blank_id) if ctc_weight > 0 else None,
            jnp.full((batch, k), ngram.initial_context(lm, model.sos_id)) if fuse else None)
    c = jax.lax.while_loop(lambda c: (c[0] < max_steps) & ~c[3].all(), body, init)
    steps, _, _, _, scores, ends, tokens, parents, alignments, _, _ = c
    normalized = scores / ends.astype(jnp.float32) ** length_penalty
    chosen = normalized.argmax(-1)                                               # (batch,)

    def back(beam, t):
        """From step ``t``'s beam to its parent at ``t - 1``; picks out step ``t``'s outputs."""
        pick = lambda x: jnp.take_along_axis(x[:, :, t], beam[:, None], 1)[:, 0]  # noqa: E731
        out = (pick(tokens), jnp.take_along_axis(alignments[:, :, t], beam[:, None, None], 1)[:, 0])
        return jnp.where(t < steps, pick(parents), beam), out

    _, (best_tokens, best_alignments) = jax.lax.scan(back, chosen, jnp.arange(max_steps),
                                                     reverse=True)
    best_tokens = best_tokens.T
    emitted = best_tokens != 0
    return Decoded(best_tokens, emitted.sum(-1).astype(jnp.int32),
                   jnp.take_along_axis(scores, chosen[:, None], 1)[:, 0],
                   jnp.where(emitted[..., None], jnp.moveaxis(best_alignments, 0, 1), 0.0))


def make_decoder(model: Recognizer, *, eos_id: int, max_steps: int, beam_width: int = 1,
                 max_ratio: float = 3.0, length_penalty: float = 1.0, ctc_weight: float = 0.0,
                 lm: str = "", lm_weight: float = 0.0):
    """A jitted ``decode(variables, audio, lengths) -> Decoded``: greedy for ``beam_width=1``
    (the same result as a width-1 beam, computed more simply) without ``ctc_weight`` or
    ``lm_weight``, else beam search. ``lm``: a :class:`~audiojax.tasks.asr.lm.CharNgramLM` file, fused
    with ``lm_weight`` (its tables become constants of the compiled decoder)."""
    if beam_width < 1:
        raise ValueError(f"beam_width: must be at least 1, got {beam_width}")
    _check_ctc_weight(ctc_weight)
    if lm_weight < 0:
        raise ValueError(f"lm_weight: must be >= 0, got {lm_weight}")
    tables = None
    if lm_weight > 0:
        if not lm:
            raise ValueError("lm_weight > 0 needs a language model file (decode option `lm`)")
        language_model = ngram.CharNgramLM.load(lm)
        if language_model.vocab_size != model.vocab_size:
            raise ValueError(f"language model {lm}: {language_model.vocab_size} symbols, the "
                             f"recognizer has {model.vocab_size}")
        tables = language_model.tables()
    if beam_width == 1 and ctc_weight == 0 and tables is None:
        fn = functools.partial(greedy_decode, model, eos_id=eos_id, max_steps=max_steps,
                               max_ratio=max_ratio)
    else:
        fn = functools.partial(beam_search, model, eos_id=eos_id, max_steps=max_steps,
                               beam_width=beam_width, max_ratio=max_ratio,
                               length_penalty=length_penalty, ctc_weight=ctc_weight,
                               lm=tables, lm_weight=lm_weight)
    return jax.jit(fn)
