"""An offline source of short English sentences, and transcript normalization.

Two sources, merged and deduplicated:
- a template grammar (always available): commands, questions, statements about everyday
  things, with numbers, times and names spelled out;
- Debian's fortune files (``apt-get install fortunes fortunes-min``) when installed: short
  single sentences of real prose, kept only when they are plain words (no digits, no
  abbreviations, no all-caps tokens) of 3 to 12 words.

Transcripts are normalized to lowercase ``a-z``, apostrophe and single spaces
(:func:`normalize`); the synthesizers are given the normalized text, so what they say is the
transcript.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

FORTUNE_DIRS = ("/usr/share/games/fortunes", "/usr/share/fortunes")
_ALLOWED = re.compile(r"[^a-z' ]+")


def normalize(text: str) -> str:
    """Lowercase letters, apostrophe and single spaces; other characters become spaces."""
    t = text.lower().replace("\u2019", "'").replace("`", "'")
    t = _ALLOWED.sub(" ", t)
    # Apostrophes only inside words (don't, o'clock), not as quotes.
    t = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", t)
    return " ".join(t.split())


# ---------------------------------------------------------------------------------------------
# Template grammar

_NUM = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "a hundred"]
_NAMES = ["anna", "peter", "maria", "james", "sarah", "david", "emma", "thomas", "lucy", "robert",
          "grace", "daniel", "helen", "michael", "laura", "paul", "susan", "george", "alice", "mark"]
_PLACES = ["the kitchen", "the garden", "the station", "the office", "the library", "the park",
           "the market", "the school", "the hospital", "the beach", "the river", "the city",
           "the village", "the airport", "the museum", "the bakery", "the church", "the bridge",
           "the hotel", "the farm"]
_OBJECTS = ["the door", "the window", "the lights", "the radio", "the music", "the heating",
            "the oven", "the computer", "the television", "the fan", "the alarm", "the camera",
            "the car", "the printer", "the phone", "the kettle", "the washing machine",
            "the video", "the game", "the timer"]
_THINGS = ["a book", "some bread", "a cup of tea", "an umbrella", "the keys", "a new coat",
           "some apples", "a glass of water", "the newspaper", "a letter", "the tickets",
           "a red bicycle", "some flowers", "a small box", "the map", "a warm blanket",
           "a cheese sandwich", "the blue pen", "a bag of rice", "the old photographs"]
_PEOPLE = ["my brother", "her mother", "the teacher", "our neighbour", "the doctor", "his friend",
           "the children", "my sister", "the driver", "the old man", "the young woman",
           "their father", "the students", "the farmer", "the captain"] + _NAMES
_VERBS_PAST = ["found", "bought", "lost", "carried", "opened", "painted", "cleaned", "forgot",
               "borrowed", "sold", "wanted", "needed", "liked", "moved", "dropped", "fixed"]
_TIMES = ["today", "tomorrow", "yesterday", "this morning", "tonight", "on monday",
          "on friday", "next week", "last summer", "in the evening", "after lunch",
          "before dinner", "every day", "at noon", "on the weekend"]
_ADJ = ["cold", "warm", "quiet", "busy", "dark", "bright", "small", "large", "old", "new",
        "clean", "noisy", "empty", "full", "beautiful", "strange"]
_WEATHER = ["rain", "snow", "be sunny", "be windy", "be cloudy", "get colder", "get warmer"]
_COLOURS = ["red", "green", "blue", "yellow", "white", "black", "orange", "purple", "brown", "grey"]
_MINUTES = ["o'clock", "thirty", "fifteen", "forty five"]
_ANIMALS = ["dog", "cat", "bird", "horse", "cow", "rabbit", "fox", "duck", "sheep", "mouse"]


def _pick(rng, xs):
    return xs[int(rng.integers(len(xs)))]


def _template(rng: np.random.Generator) -> str:
    p = lambda xs: _pick(rng, xs)  # noqa: E731
    k = int(rng.integers(18))
    hour = p(_NUM[:12])
    if k == 0:
        return f"please turn {p(['on', 'off'])} {p(_OBJECTS)} in {p(_PLACES)}"
    if k == 1:
        return f"{p(_PEOPLE)} {p(_VERBS_PAST)} {p(_THINGS)} {p(_TIMES)}"
    if k == 2:
        return f"what time does {p(_PLACES)} open {p(_TIMES)}"
    if k == 3:
        return f"set an alarm for {hour} {p(_MINUTES)} {p(['in the morning', 'tonight', 'tomorrow'])}"
    if k == 4:
        return f"is it going to {p(_WEATHER)} {p(_TIMES)}"
    if k == 5:
        return f"i think {p(_PLACES)} is too {p(_ADJ)} {p(_TIMES)}"
    if k == 6:
        return f"can you tell {p(_PEOPLE)} to bring {p(_THINGS)}"
    if k == 7:
        return f"we need {p(_NUM)} {p(['more', 'new', 'clean', 'small', 'large'])} {p(['chairs', 'plates', 'boxes', 'bottles', 'candles', 'tickets', 'towels', 'cups'])}"
    if k == 8:
        return f"the {p(_COLOURS)} {p(_ANIMALS)} ran across {p(_PLACES)}"
    if k == 9:
        return f"{p(['turn', 'move', 'go', 'look'])} {p(['left', 'right', 'up', 'down', 'back', 'forward'])} and then {p(['stop', 'wait', 'go on', 'turn around'])}"
    if k == 10:
        return f"{p(_NAMES)} will meet {p(_PEOPLE)} at {p(_PLACES)} {p(_TIMES)}"
    if k == 11:
        return f"how far is it from {p(_PLACES)} to {p(_PLACES)}"
    if k == 12:
        return f"{p(['play', 'stop', 'pause', 'skip'])} the {p(['next', 'last', 'first', 'new'])} {p(['song', 'video', 'episode', 'album', 'track'])}"
    if k == 13:
        return f"there are {p(_NUM)} {p(_ANIMALS)}s near {p(_PLACES)}"
    if k == 14:
        return f"don't forget {p(_THINGS)} when you leave {p(_PLACES)}"
    if k == 15:
        return f"why is {p(_OBJECTS)} still {p(['on', 'off', 'open', 'broken', 'running'])}"
    if k == 16:
        return f"{p(_PEOPLE)} said that {p(_PLACES)} was {p(_ADJ)} and {p(_ADJ)}"
    return f"call {p(_NAMES)} and ask about {p(_THINGS)}"


def grammar_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct normalized template sentences (fewer if the grammar runs out)."""
    rng = np.random.default_rng([seed, 7919])
    out, seen = [], set()
    tries = 0
    while len(out) < n and tries < 20 * n + 100:
        tries += 1
        s = normalize(_template(rng))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# ---------------------------------------------------------------------------------------------
# Fortunes


def fortune_sentences(min_words: int = 3, max_words: int = 12) -> list[str]:
    """Short plain sentences from the installed fortune files (empty if none), sorted."""
    files = []
    for d in FORTUNE_DIRS:
        p = Path(d)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and not f.suffix
                            and (p / (f.name + ".dat")).exists())
    out = set()
    for f in files:
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for entry in text.split("\n%\n"):
            if "--" in entry or "\t" in entry:  # attributions, verse layouts, tables
                entry = entry.split("--")[0]
            flat = " ".join(entry.split())
            for sent in re.split(r"(?<=[.!?])\s+", flat):
                s = _clean_fortune(sent, min_words, max_words)
                if s:
                    out.add(s)
    return sorted(out)


def _clean_fortune(sent: str, min_words: int, max_words: int) -> str | None:
    if not sent or not re.fullmatch(r"[A-Za-z ,;:'\u2019\-]+[.!?]?", sent):
        return None
    words = sent.replace("-", " ").split()
    if not (min_words <= len(words) <= max_words):
        return None
    for w in words:
        core = w.strip(",;:.!?'")
        if len(core) > 1 and core.isupper() and core != "I":  # acronyms are spelled oddly
            return None
    s = normalize(sent)
    if len(s.split()) < min_words:
        return None
    return s


def sentence_pool(n_grammar: int = 20000, seed: int = 0, use_fortunes: bool = True) -> list[str]:
    """The merged, deduplicated sentence list in a fixed order."""
    pool = grammar_sentences(n_grammar, seed)
    if use_fortunes:
        seen = set(pool)
        pool += [s for s in fortune_sentences() if s not in seen]
    return pool


def split_of_text(text: str, fractions=(0.8, 0.1, 0.1)) -> str:
    """A fixed split for a sentence (by hash), so splits share no sentence."""
    h = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big") / 2 ** 64
    if h < fractions[0]:
        return "train"
    return "validation" if h < fractions[0] + fractions[1] else "test"
