"""The ``streams`` corpus (wake-word detection): minutes-long recordings of held-out voices
with keywords at random times over keyword-free background, an events file per split, hours
of background with no keyword at all (for the false-alarm rate), and the clips of the
"nothing" classes a detector trains on.

Per split (voices of the checked-in split table, as every corpus):

- ``streams/SPLIT/NNNN.wav`` (validation, test): one voice of the split says
  :attr:`StreamsSpec.keywords_per_stream` keywords of the 35 (each word as often as the
  others over the split), dry renderings placed at random times (at least :data:`MIN_GAP_S`
  apart) over a background (:func:`background`), the keywords heard in the recording's room;
- ``background/SPLIT/NNNN.wav`` (validation, test): the same backgrounds without a keyword;
- ``events_SPLIT.tsv``: ``file<TAB>onset_s<TAB>offset_s<TAB>word`` per keyword (the dry
  utterance's span) and a line holding the file alone for a recording with no keyword, paths
  relative to the corpus folder (what ``audiojax evaluate --events`` reads);
- ``SPLIT.tsv`` (``path<TAB>label<TAB>speaker``): 1 s clips of the classes a detector needs
  beside the keywords: ``_background_`` (crops of backgrounds) and ``_unknown_`` (words that
  are not keywords, near misses among them: :data:`UNKNOWN_WORDS`, recorded as the
  ``commands`` clips are). Train on them with the commands corpus: ``commands+streams``.

A background holds noise (coloured, or a recorded non-speech source of the split:
:mod:`~audiojax.data.corpora.noises`, instrumental loops among them), often speech of other
voices of the split (sentences without a keyword or its homophone, in their own room) and
sometimes babble. Levels are relative to the keywords' active power.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from audiojax.data.corpora import acoustics, noises
from audiojax.data.corpora.commands import WORDS

SPLITS = ("train", "validation", "test")
BACKGROUND, UNKNOWN = "_background_", "_unknown_"
# Words that are not keywords; near misses of keywords (bad/bed, dig/dog, town/down) first.
UNKNOWN_WORDS = (
    "bad", "bid", "bud", "bet", "bard", "cap", "cut", "dig", "dug", "doll", "town", "gown",
    "fine", "fire", "fever", "fellow", "fallow", "foreign", "gold", "goat", "happen", "hose",
    "mouse", "learning", "lean", "lift", "light", "marble", "martin", "nice", "night", "now", "offer", "often", "once", "run", "rice", "seventy", "shell", "sheet",
    "sticks", "step", "stock", "tea", "tray", "trees", "twenty", "tune", "us", "usual",
    "vision", "wall", "wire", "yellow", "yet", "zebra", "zoo", "hello", "doctor", "window",
    "kitchen", "water", "paper", "morning", "table", "garden", "music", "sister", "coffee",
)
assert not set(UNKNOWN_WORDS) & set(WORDS)
# Kept out of background speech beside the keywords themselves: words that sound the same.
HOMOPHONES = ("to", "too", "for", "fore", "know", "write", "rite", "ate", "won", "wright")
MIN_GAP_S = 1.5          # between one keyword's end and the next one's onset
SPEECH_DB = (-20.0, -3.0)   # background speech's active power relative to the keywords
BABBLE_DB = (-25.0, -8.0)
NOISE_DB = (-35.0, -8.0)
KEYWORD_DB = (-4.0, 4.0)    # each keyword's level around its recording's
CROP_GAIN_DB = (-20.0, 0.0)  # a background clip's gain after its recording's peak level


@dataclasses.dataclass(frozen=True)
class StreamsSpec:
    """A size of the corpus: recordings per split, their length, the background-only
    seconds, and the 1 s clips of each "nothing" class per split."""

    streams: dict[str, int]             # validation/test recordings with keywords
    stream_seconds: float
    background_seconds: dict[str, float]  # validation/test keyword-free recordings, in all
    background_clips: dict[str, int]
    unknown_clips: dict[str, int]
    speech_utterances: dict[str, int]   # keyword-free sentences synthesized per split

    @property
    def keywords_per_stream(self) -> int:
        return max(1, int(self.stream_seconds // 6))


def _per_split(train, validation, test):
    return {"train": train, "validation": validation, "test": test}


SIZES = {
    "tiny": StreamsSpec(_per_split(0, 2, 2), 20.0, _per_split(0, 40.0, 40.0),
                        _per_split(24, 8, 8), _per_split(12, 4, 4), _per_split(4, 4, 4)),
    "small": StreamsSpec(_per_split(0, 16, 30), 60.0, _per_split(0, 1800.0, 3600.0),
                         _per_split(3000, 300, 300), _per_split(2000, 200, 200),
                         _per_split(160, 80, 120)),
    "full": StreamsSpec(_per_split(0, 30, 60), 120.0, _per_split(0, 3600.0, 10800.0),
                        _per_split(12000, 600, 600), _per_split(8000, 400, 400),
                        _per_split(600, 200, 300)),
}


def keyword_free(texts: list[str]) -> list[str]:
    """The sentences that hold no keyword and no homophone of one."""
    banned = set(WORDS) | set(HOMOPHONES)
    return [t for t in texts if not banned & set(t.split())]


def keyword_plan(rng: np.random.Generator, streams: int, per_stream: int) -> list[list[str]]:
    """The words of each recording: the 35 keywords in turn over a shuffled order, so each is
    said about as often as the others."""
    total = streams * per_stream
    order = np.concatenate([rng.permutation(len(WORDS)) for _ in range(-(-total // len(WORDS)))]
                           or [np.zeros(0, int)])
    return [[WORDS[i] for i in order[s * per_stream:(s + 1) * per_stream]] for s in range(streams)]


def onsets(rng: np.random.Generator, lengths: list[int], n: int, sr: int) -> list[int]:
    """Random onsets (samples) of utterances of ``lengths`` in order within ``n`` samples, at
    least :data:`MIN_GAP_S` apart and from the ends. ValueError when they do not fit."""
    gap = int(MIN_GAP_S * sr)
    free = n - sum(lengths) - gap * (len(lengths) + 1)
    if free < 0:
        raise ValueError(f"{len(lengths)} keywords ({sum(lengths) / sr:.1f} s) do not fit in "
                         f"{n / sr:.1f} s with {MIN_GAP_S} s between them")
    cuts = np.sort(rng.uniform(0, free, len(lengths))).astype(int)
    out, t = [], 0
    for k, length in enumerate(lengths):
        out.append(gap * (k + 1) + t + int(cuts[k]))
        t += length
    return out


def _track(rng: np.random.Generator, utterances: list[np.ndarray], n: int, sr: int) -> np.ndarray:
    """Utterances one after another from a random start, pauses of 0.2-2.5 s, until ``n``."""
    out = np.zeros(n, np.float32)
    t = -int(rng.integers(0, max(1, sum(u.size for u in utterances))))
    while t < n:
        u = utterances[int(rng.integers(len(utterances)))]
        lo, hi = max(t, 0), min(t + u.size, n)
        if hi > lo:
            out[lo:hi] += u[lo - t:hi - t]
        t += u.size + int(rng.uniform(0.2, 2.5) * sr)
    return out


def _at_level(y: np.ndarray, db: float, sr: int) -> np.ndarray:
    return y * acoustics.db_to_amp(db) / np.sqrt(acoustics.active_power(y, sr))


def background(rng: np.random.Generator, n: int, sr: int, speech: list[np.ndarray],
               babble_streams: list[np.ndarray], noise_sources: list[str]
               ) -> tuple[np.ndarray, dict]:
    """``n`` samples of keyword-free background at levels relative to a keyword of active
    power 1: noise (coloured or recorded, half each when sources exist), speech of other
    voices in a room of its own (60%), babble (30%). -> ``(signal, params)``."""
    beta = float(rng.uniform(-1.0, 2.0))
    noise_db, speech_db, babble_db = (float(rng.uniform(*r)) for r in (NOISE_DB, SPEECH_DB, BABBLE_DB))
    use_recorded = bool(noise_sources) and rng.random() < 0.5
    use_speech, use_babble = rng.random() < 0.6 and bool(speech), rng.random() < 0.3 and bool(babble_streams)
    source = noise_sources[int(rng.integers(len(noise_sources)))] if noise_sources else ""
    noise_rng = np.random.default_rng(rng.integers(2 ** 63))
    if use_recorded:
        noise = noises.recorded_noise(noise_rng, source, n, sr)
        params = {"noise": "recorded", "source": Path(source).name}
    else:
        noise, params = acoustics.coloured_noise(noise_rng, n, beta), {"noise": "colour",
                                                                        "beta": round(beta, 3)}
    # Unit RMS noise: its level is its mean power, not an active power (it may be sparse hits).
    out = noise * acoustics.db_to_amp(noise_db)
    params["noise_db"] = round(noise_db, 2)
    if use_speech:
        track = _track(rng, speech, n, sr)
        ir, room = acoustics.room_ir(rng, sr)
        out = out + _at_level(acoustics.reverberate(track, ir), speech_db, sr)
        params.update(speech_db=round(speech_db, 2), speech_rt60=round(room["rt60"], 3))
    if use_babble:
        talkers = int(rng.integers(3, 8))
        out = out + acoustics.babble(rng, babble_streams, n, talkers) * acoustics.db_to_amp(babble_db)
        params.update(babble_db=round(babble_db, 2), babble_talkers=talkers)
    return out.astype(np.float32), params


def keyword_recording(rng: np.random.Generator, words: list[tuple[str, np.ndarray]], n: int,
                      sr: int, bg: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float, str]], dict]:
    """Dry keyword utterances ``[(word, samples)]`` at random onsets (:func:`onsets`) over
    ``bg`` (``n`` samples), heard in one room (80%) -> ``(recording, events [(onset_s,
    offset_s, word)], params)``: the events are the dry utterances' spans."""
    track = np.zeros(n, np.float32)
    starts = onsets(rng, [y.size for _, y in words], n, sr)
    events = []
    for (word, y), t in zip(words, starts):
        track[t:t + y.size] += _at_level(y, float(rng.uniform(*KEYWORD_DB)), sr)
        events.append((round(t / sr, 3), round((t + y.size) / sr, 3), word))
    params = {}
    if rng.random() < 0.8:
        ir, room = acoustics.room_ir(rng, sr)
        track = acoustics.reverberate(track, ir)
        params["rt60"] = round(room["rt60"], 3)
    return track + bg, events, params


def peak_normalize(rng: np.random.Generator, y: np.ndarray, peak_dbfs=(-12.0, -1.0)) -> np.ndarray:
    return (y * acoustics.db_to_amp(float(rng.uniform(*peak_dbfs))) / (np.abs(y).max() + acoustics.EPS)
            ).astype(np.float32)


def crops(rng: np.random.Generator, y: np.ndarray, count: int, n: int) -> list[np.ndarray]:
    """``count`` random ``n``-sample crops of ``y`` (peak-normalized), each at a random gain
    in :data:`CROP_GAIN_DB`."""
    starts = rng.integers(0, y.size - n + 1, count)
    gains = acoustics.db_to_amp(rng.uniform(*CROP_GAIN_DB, count))
    return [(y[s:s + n] * g).astype(np.float32) for s, g in zip(starts, gains)]


def events_lines(rows: list[tuple[str, list[tuple[float, float, str]]]]) -> str:
    """An events file's text from ``[(file, events)]``: a line per event, the file alone for
    a recording without one."""
    lines = []
    for path, events in rows:
        lines += [f"{path}\t{on:.3f}\t{off:.3f}\t{word}" for on, off, word in events] or [path]
    return "\n".join(lines) + "\n"
