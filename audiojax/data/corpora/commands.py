"""The keyword-spotting vocabulary: the 35 words of Speech Commands v2, in its order."""

from __future__ import annotations

WORDS = ("backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
         "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
         "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual",
         "wow", "yes", "zero")
assert len(WORDS) == 35

TINY_WORDS = ("yes", "no", "up", "down")
