"""The recognizer's characters: ``CharTokenizer`` (transcript <-> ids) and its vocabulary."""

from __future__ import annotations

import numpy as np

PAD, SOS, EOS = "<pad>", "<sos>", "<eos>"
ALPHABET = "abcdefghijklmnopqrstuvwxyz' "


class CharTokenizer:
    """Transcript <-> ids: 0 padding, 1 start of sentence (decoder input only), 2 end of sentence,
    then the characters of ``ALPHABET``. Picklable: the loader calls it on each transcript."""

    vocabulary = (PAD, SOS, EOS, *ALPHABET)
    pad_id, sos_id, eos_id = 0, 1, 2

    def __init__(self, max_length: int):
        self.max_length = max_length
        self._ids = {c: i for i, c in enumerate(self.vocabulary) if len(c) == 1}

    def encode(self, text: str) -> np.ndarray:
        """``(max_length,)`` int32: the characters of ``text`` (lower-cased, spaces collapsed), EOS,
        zeros. Raises ValueError naming the transcript if it does not fit or has other characters."""
        chars = self.ids(text)
        if len(chars) + 1 > self.max_length:
            raise ValueError(f"transcript {text!r}: {len(chars)} characters + EOS exceed "
                             f"max_label_length={self.max_length}")
        ids = np.zeros(self.max_length, np.int32)
        ids[:len(chars)] = chars
        ids[len(chars)] = self.eos_id
        return ids

    def ids(self, text: str) -> list[int]:
        """The character ids of ``text`` (lower-cased, spaces collapsed), without EOS."""
        text = " ".join(text.lower().split())
        unknown = sorted(set(text) - set(ALPHABET))
        if unknown:
            raise ValueError(f"transcript {text!r}: characters outside a-z, apostrophe and space: "
                             f"{''.join(unknown)!r}")
        return [self._ids[c] for c in text]

    __call__ = encode

    def decode(self, ids) -> str:
        """The text of ``ids`` up to the first EOS or padding (start tokens skipped)."""
        out = []
        for i in np.asarray(ids).tolist():
            if i in (self.eos_id, self.pad_id):
                break
            if i != self.sos_id:
                out.append(self.vocabulary[i])
        return "".join(out)
