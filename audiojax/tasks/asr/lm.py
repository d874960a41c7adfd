"""A character n-gram language model (interpolated Kneser-Ney) for shallow fusion in beam search.

    lm = CharNgramLM.fit(ids_per_sentence, order=6, vocab_size=31)  # NumPy: 7,040 sentences, 3 s
    lm.save("lm.npz"); lm = CharNgramLM.load("lm.npz")
    tables = lm.tables()                             # a pytree of jax arrays, for jitted code
    logp = next_logp(tables, ctx)                    # (..., vocab) log P(next | context)
    ctx = advance(tables, ctx, token)

Symbols are the recognizer's ids (:class:`~audiojax.tasks.asr.tokenizer.CharTokenizer`: 0 padding, 1
start of sentence, 2 end of sentence, then characters). A sentence is scored as
``P(chars, EOS | SOS ... SOS)``; padding and SOS are never predicted (log-probability -inf).

A context of the last ``m`` symbols is the integer ``sum_i s_{t-1-i} V^i`` (the newest symbol
in the lowest digit, ``V`` the vocabulary size), so dropping the oldest symbol is ``ctx mod
V^(m-1)`` and ``V^(order-1)`` must fit in int32 (order <= 7 for 31 symbols). Only contexts seen
in training are stored, one table of full interpolated distributions per context length;
an unseen context falls back to its longest seen suffix, which is what interpolated Kneser-Ney
gives for a context of count zero.

Kneser-Ney (Chen & Goodman 1998, interpolated, one discount per order ``D = n1 / (n1 + 2 n2)``):
``P_m(w | h) = max(c_m(h w) - D_m, 0) / c_m(h) + D_m N1+(h .) / c_m(h) P_{m-1}(w | h')``, with
``c`` raw counts at the highest order and continuation counts ``N1+(. h w)`` below it, and
``P_{-1}`` uniform over the predictable symbols.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

MAX_INT32 = 2 ** 31 - 1


class LMTables(NamedTuple):
    """``keys[m - 1] (contexts_m,)`` sorted int32 context ids of length ``m`` (1 <= m < order);
    ``logp[m] (contexts_m, vocab)`` float32 log-probabilities (``logp[0]`` has one row)."""

    keys: tuple[jax.Array, ...]
    logp: tuple[jax.Array, ...]


def _discount(counts: np.ndarray) -> float:
    n1, n2 = (counts == 1).sum(), (counts == 2).sum()
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95)) if n1 + n2 else 0.5


class CharNgramLM:
    """An interpolated Kneser-Ney n-gram model over the recognizer's token ids."""

    def __init__(self, order: int, vocab_size: int, sos_id: int, eos_id: int,
                 keys: Sequence[np.ndarray], logp: Sequence[np.ndarray]):
        self.order, self.vocab_size, self.sos_id, self.eos_id = order, vocab_size, sos_id, eos_id
        self.keys = [np.asarray(k, np.int32) for k in keys]
        self.logp = [np.asarray(p, np.float32) for p in logp]

    @classmethod
    def fit(cls, sentences: Iterable[Sequence[int]], *, order: int, vocab_size: int,
            sos_id: int = 1, eos_id: int = 2, predictable: Sequence[int] | None = None
            ) -> "CharNgramLM":
        """``sentences``: token ids without SOS/EOS. ``predictable``: the ids that may follow a
        context (default: every id above ``sos_id``, i.e. EOS and the characters)."""
        if order < 2:
            raise ValueError(f"order: must be at least 2, got {order}")
        if vocab_size ** (order - 1) > MAX_INT32:
            raise ValueError(f"order: {vocab_size}^{order - 1} contexts exceed int32; use order "
                             f"<= {int(np.log(MAX_INT32) / np.log(vocab_size)) + 1}")
        V, m_top = vocab_size, order - 1
        ctx_rows, words = [], []
        for ids in sentences:
            seq = np.concatenate([np.full(m_top, sos_id), np.asarray(ids, np.int64), [eos_id]])
            # ctx[t] = sum_i seq[t - 1 - i] V^i over the m_top symbols before position t.
            t = np.arange(m_top, len(seq))
            ctx = sum(seq[t - 1 - i] * V ** i for i in range(m_top))
            ctx_rows.append(ctx)
            words.append(seq[m_top:])
        if not ctx_rows:
            raise ValueError("no sentences to fit a language model on")
        ctx, word = np.concatenate(ctx_rows), np.concatenate(words)
        allowed = np.zeros(V, bool)
        allowed[list(predictable) if predictable is not None else np.arange(sos_id + 1, V)] = True
        if not allowed[word].all():
            raise ValueError(f"sentences hold ids outside the predictable symbols: "
                             f"{sorted(set(word[~allowed[word]].tolist()))}")

        # Counts per context length, highest first: raw, then continuation counts.
        pairs, counts = np.unique(ctx * V + word, return_counts=True)
        levels = {m_top: (pairs, counts)}
        for m in range(m_top - 1, -1, -1):
            upper = levels[m + 1][0]
            lower = (upper // V) % (V ** m) * V + upper % V
            levels[m] = tuple(np.unique(lower, return_counts=True))

        uniform = np.where(allowed, 1.0 / allowed.sum(), 0.0)
        keys, probs = [], []
        for m in range(order):
            pairs, counts = levels[m]
            contexts, row = np.unique(pairs // V, return_inverse=True)
            table = np.zeros((len(contexts), V))
            np.add.at(table, (row, pairs % V), counts)
            d = _discount(counts)
            total = table.sum(1, keepdims=True)
            types = (table > 0).sum(1, keepdims=True)
            # Every context's suffix is a context one level down (continuation counts).
            lower = uniform[None] if m == 0 else \
                probs[m - 1][np.searchsorted(keys[m - 1], contexts % V ** (m - 1))]
            probs.append(np.maximum(table - d, 0) / total + d * types / total * lower)
            keys.append(contexts.astype(np.int64))
        with np.errstate(divide="ignore"):
            logp = [np.log(p).astype(np.float32) for p in probs]
        return cls(order, V, sos_id, eos_id, [k.astype(np.int32) for k in keys[1:]], logp)

    # --- storage ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        arrays = {f"keys{m}": k for m, k in enumerate(self.keys, 1)}
        arrays.update({f"logp{m}": p for m, p in enumerate(self.logp)})
        np.savez(path, meta=np.array([self.order, self.vocab_size, self.sos_id, self.eos_id]),
                 **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"language model {path}: no such file (make one with "
                                    f"`audiojax lm --workdir RUN` or `--text FILE`)")
        with np.load(path) as z:
            order, vocab, sos, eos = (int(x) for x in z["meta"])
            return cls(order, vocab, sos, eos, [z[f"keys{m}"] for m in range(1, order)],
                       [z[f"logp{m}"] for m in range(order)])

    # --- scoring ------------------------------------------------------------------------------

    def tables(self) -> LMTables:
        return LMTables(tuple(jnp.asarray(k) for k in self.keys),
                        tuple(jnp.asarray(p) for p in self.logp))

    def sentence_logp(self, ids: Sequence[int]) -> float:
        """log P(ids, EOS) in nats, through the jitted path's lookups (one symbol at a time)."""
        tables, total = self.tables(), 0.0
        ctx = initial_context(tables, self.sos_id)
        for token in [*ids, self.eos_id]:
            total += float(next_logp(tables, ctx)[token])
            ctx = advance(tables, ctx, jnp.int32(token))
        return total


def initial_context(tables: LMTables, sos_id: int) -> jax.Array:
    """The context before a sentence's first character: ``order - 1`` start symbols."""
    vocab = tables.logp[0].shape[-1]
    return jnp.int32(sum(sos_id * vocab ** i for i in range(len(tables.keys))))


def next_logp(tables: LMTables, ctx: jax.Array) -> jax.Array:
    """``ctx (...)`` int32 contexts -> ``(..., vocab)`` log P(next symbol | longest seen suffix)."""
    vocab = tables.logp[0].shape[-1]
    out = jnp.broadcast_to(tables.logp[0][0], ctx.shape + (vocab,))
    for m, keys in enumerate(tables.keys, 1):
        sub = ctx % vocab ** m
        idx = jnp.clip(jnp.searchsorted(keys, sub), 0, keys.shape[0] - 1)
        out = jnp.where((keys[idx] == sub)[..., None], tables.logp[m][idx], out)
    return out


def advance(tables: LMTables, ctx: jax.Array, token: jax.Array) -> jax.Array:
    """The context after ``token``: the oldest symbol drops out, ``token`` comes in."""
    vocab, kept = tables.logp[0].shape[-1], len(tables.keys) - 1
    return (ctx % vocab ** kept) * vocab + token
