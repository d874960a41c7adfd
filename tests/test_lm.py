"""The character n-gram language model (audiojax.tasks.asr.lm) against a direct transcription of
interpolated Kneser-Ney over Python dictionaries, and its files and command."""

from __future__ import annotations

import math
from collections import defaultdict

import jax.numpy as jnp
import numpy as np
import pytest

from audiojax.tasks.asr.lm import CharNgramLM, advance, initial_context, next_logp
from audiojax.tasks.asr.fit_lm import build_language_model, fit_language_model
from audiojax.tasks.asr.tokenizer import CharTokenizer

V, SOS, EOS = len(CharTokenizer.vocabulary), CharTokenizer.sos_id, CharTokenizer.eos_id
TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
         "that is the hat", "the mat is flat", "on the mat sat the cat", "at the hat"]


class DictKneserNey:
    """Interpolated Kneser-Ney written out as in Chen & Goodman: raw counts at the top order,
    continuation counts below, one discount per order from its counts of counts."""

    def __init__(self, sentences, order):
        self.order = order
        top = defaultdict(int)
        for s in sentences:
            seq = [SOS] * (order - 1) + list(s) + [EOS]
            for t in range(order - 1, len(seq)):
                top[(tuple(seq[t - order + 1:t]), seq[t])] += 1
        self.counts = {order - 1: dict(top)}
        for m in range(order - 2, -1, -1):
            lower = defaultdict(int)
            for (h, w) in self.counts[m + 1]:
                lower[(h[1:], w)] += 1          # one per distinct left extension
            self.counts[m] = dict(lower)
        self.discount = {}
        for m, c in self.counts.items():
            n1 = sum(v == 1 for v in c.values())
            n2 = sum(v == 2 for v in c.values())
            self.discount[m] = min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)
        self.totals = {m: defaultdict(int) for m in self.counts}
        self.types = {m: defaultdict(int) for m in self.counts}
        for m, c in self.counts.items():
            for (h, _), v in c.items():
                self.totals[m][h] += v
                self.types[m][h] += 1

    def prob(self, history, w):
        p = 1.0 / (V - SOS - 1)                 # uniform over EOS and the characters
        for m in range(self.order):
            h = tuple(history[len(history) - m:]) if m else ()
            total = self.totals[m].get(h, 0)
            if total == 0:
                continue                        # an unseen context adds nothing at its order
            d = self.discount[m]
            p = (max(self.counts[m].get((h, w), 0) - d, 0) / total
                 + d * self.types[m][h] / total * p)
        return p

    def sentence_logp(self, ids):
        seq = [SOS] * (self.order - 1) + list(ids)
        return sum(math.log(self.prob(seq[:len(seq) - len(ids) + i], w))
                   for i, w in enumerate(list(ids) + [EOS]))


@pytest.mark.parametrize("order", [2, 3, 5])
def test_sentence_logp_matches_dictionary_kneser_ney(order):
    tokenizer = CharTokenizer(0)
    lm = fit_language_model(TEXTS, order)
    reference = DictKneserNey([tokenizer.ids(t) for t in TEXTS], order)
    for text in ["the cat sat on the mat", "the hat sat", "a flat dog", "zebra quiz", ""]:
        ids = tokenizer.ids(text)
        assert lm.sentence_logp(ids) == pytest.approx(reference.sentence_logp(ids), rel=1e-5)


def test_every_context_is_a_distribution_and_padding_is_never_predicted():
    lm = fit_language_model(TEXTS, 4)
    tables = lm.tables()
    rng = np.random.default_rng(0)
    seen = np.concatenate([np.asarray(k) for k in lm.keys])
    unseen = rng.integers(0, V ** 3, 500)
    for ctx in (seen, unseen):
        logp = np.asarray(next_logp(tables, jnp.asarray(ctx, jnp.int32)), np.float64)
        np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-5)
        assert np.all(np.isneginf(logp[:, :SOS + 1]))
    # A seen context is more likely to go on as in training than an unseen one.
    ctx = initial_context(tables, SOS)
    for c in CharTokenizer(0).ids("the c"):
        ctx = advance(tables, ctx, jnp.int32(c))
    assert int(jnp.argmax(next_logp(tables, ctx))) == CharTokenizer(0).ids("a")[0]


def test_save_load_round_trip_and_errors(tmp_path):
    lm = fit_language_model(TEXTS, 3)
    lm.save(tmp_path / "lm.npz")
    again = CharNgramLM.load(tmp_path / "lm.npz")
    assert (again.order, again.vocab_size) == (3, V)
    for a, b in zip(lm.logp + lm.keys, again.logp + again.keys):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="audiojax lm"):
        CharNgramLM.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="order: must be at least 2"):
        fit_language_model(TEXTS, 1)
    with pytest.raises(ValueError, match="exceed int32"):
        fit_language_model(TEXTS, 8)
    with pytest.raises(ValueError, match="outside the predictable symbols"):
        CharNgramLM.fit([[5, SOS, 6]], order=3, vocab_size=V)


def test_lm_command_reads_text_and_manifests(tmp_path, capsys):
    from audiojax.cli import main

    (tmp_path / "a.txt").write_text("The Cat, sat!\n\nthe dog sat\n")
    (tmp_path / "b.tsv").write_text("x.wav\tthe cat sat\ty.wav\nz.wav\ton the mat\n")
    with pytest.raises(SystemExit) as exit_code:
        main(["lm", "--text", str(tmp_path / "a.txt"), str(tmp_path / "b.tsv"), "--order", "3",
              "--output", str(tmp_path / "lm.npz")])
    assert exit_code.value.code == 0
    assert "order 3" in capsys.readouterr().out
    lm = CharNgramLM.load(tmp_path / "lm.npz")
    tokenizer = CharTokenizer(0)
    expected = fit_language_model(["the cat sat", "the dog sat", "the cat sat", "on the mat"], 3)
    for text in ("the cat sat", "on the dog"):
        assert lm.sentence_logp(tokenizer.ids(text)) == pytest.approx(
            expected.sentence_logp(tokenizer.ids(text)), rel=1e-6)
    (tmp_path / "bad.tsv").write_text("x.wav\tfine\nno tab here\n")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        build_language_model(tmp_path / "x.npz", 3, text_files=[tmp_path / "bad.tsv"])
    with pytest.raises(ValueError, match="--output: needed"):
        build_language_model(None, 3, text_files=[tmp_path / "a.txt"])
