"""The ``speakers`` corpus (speaker recognition): its speakers, its clip plan and its trial lists.

A speaker is one voice *configuration*: a synthesizer voice (an espeak-ng accent and variant,
an MBROLA database, a flite/festival/RHVoice/pico voice of a recorded person) at one of the
size's pitch centres. Each utterance of a configuration keeps its pitch within
:data:`PITCH_JITTER` of the centre and draws its own speaking rate, text, room, noise and
channel, so what stays the same across a speaker's utterances is the voice itself. The
small and full sizes also take the MBROLA databases of other languages (50 more recorded
persons, reading the English sentences with their language's rules: identity does not depend
on the language). Training classes are the training split's configurations; splits stay
disjoint by voice group (one recorded person, or one espeak accent) through the shared
``voice_splits.tsv``.

Besides ``train``, ``validation``, ``test`` and ``test_clean`` the corpus has
``identification``: held-out utterances of the training speakers (closed-set identification
accuracy). Each held-out split has a trial list, ``trials_SPLIT.tsv``
(``enroll<TAB>test<TAB>1|0``, paths relative to the list): for every speaker as many target
pairs (two utterances of that configuration) as different-person pairs (its utterance against
one of a speaker of another voice group), and ``trials_SPLIT_siblings.tsv``: the same targets
against other configurations of the same person (pitch or variant apart), reported apart.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

# Of a configuration's utterances: pitch factor = centre * U(1 - jitter, 1 + jitter).
PITCH_JITTER = 0.03
# Trial lists written for these splits (test_clean: the test split's pairs, clean recordings).
TRIAL_SPLITS = ("validation", "test", "test_clean")
SPLITS = ("train", "validation", "test", "identification")


def speaker_id(voice_id: str, pitch: float, pitches: tuple[float, ...]) -> str:
    """A configuration's name: the voice, and its pitch centre in percent when there are several
    (``espeak-en-us-m3-p108``)."""
    return voice_id if len(pitches) == 1 else f"{voice_id}-p{round(100 * pitch):03d}"


def plan_rows(split_voices: dict, pitches: tuple[float, ...], utterances: int,
              identification: int, seed: int, pools: dict[str, list[str]]):
    """``(split, voice, speaker, pitch centre, text)`` per utterance, in a fixed order: every
    configuration of every split's voices speaks ``utterances`` sentences of its split's text
    pool; training configurations ``identification`` more, into the ``identification`` split."""
    rows = []
    for si, split in enumerate(("train", "validation", "test")):
        pool = pools[split]
        order = np.random.default_rng([seed, 98, si]).permutation(len(pool))
        k = 0
        for voice in split_voices[split]:
            for pitch in pitches:
                speaker = speaker_id(voice.id, pitch, pitches)
                extra = identification if split == "train" else 0
                for r in range(utterances + extra):
                    rows.append(("identification" if r >= utterances else split, voice, speaker,
                                 pitch, pool[order[k % len(order)]]))
                    k += 1
    return rows


def _pairs(count: int, limit: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to ``limit`` distinct pairs ``i < j`` of ``range(count)``, drawn at random."""
    pairs = list(itertools.combinations(range(count), 2))
    pick = rng.permutation(len(pairs))[:limit]
    return [pairs[i] for i in sorted(pick)]


def trial_rows(rows: list[dict], split: str, seed: int, per_speaker: int):
    """``(trials, siblings)`` of one split's manifest rows (``path``, ``speaker``, ``group``),
    each a list of ``(enroll path, test path, target)``: per speaker up to ``per_speaker``
    target pairs, and for each one a different-person pair (its enroll utterance against a
    random utterance of another voice group) and, in ``siblings``, a pair against another
    configuration of the same group when there is one."""
    by_speaker: dict[str, list[dict]] = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"], []).append(r)
    speakers = sorted(by_speaker)
    group = {s: by_speaker[s][0]["group"] for s in speakers}
    others = {s: [t for t in speakers if group[t] != group[s]] for s in speakers}
    siblings = {s: [t for t in speakers if group[t] == group[s] and t != s] for s in speakers}
    rng = np.random.default_rng([seed, 4242, TRIAL_SPLITS.index(split)])
    trials, sibling_trials = [], []
    for s in speakers:
        utts = by_speaker[s]
        for i, j in _pairs(len(utts), per_speaker, rng):
            enroll = utts[i]["path"]
            target = (enroll, utts[j]["path"], True)
            trials.append(target)
            if others[s]:
                other = by_speaker[others[s][int(rng.integers(len(others[s])))]]
                trials.append((enroll, other[int(rng.integers(len(other)))]["path"], False))
            if siblings[s]:
                sibling = by_speaker[siblings[s][int(rng.integers(len(siblings[s])))]]
                sibling_trials += [target,
                                   (enroll, sibling[int(rng.integers(len(sibling)))]["path"], False)]
    return trials, sibling_trials


def write_trial_lists(root: Path, rows: list[dict], seed: int, per_speaker: int) -> dict:
    """Writes ``trials_SPLIT.tsv`` and ``trials_SPLIT_siblings.tsv`` for :data:`TRIAL_SPLITS`
    into the corpus folder ``root``; returns ``{split: {target, nontarget, sibling}}`` counts.
    ``test_clean`` pairs the same utterances as ``test`` (its recordings without room, noise
    and channel)."""
    from audiojax.data.trials import write_trials  # noqa: PLC0415

    counts = {}
    for split in TRIAL_SPLITS:
        source = "test" if split == "test_clean" else split
        trials, siblings = trial_rows([r for r in rows if r["split"] == source], source, seed,
                                      per_speaker)
        if split == "test_clean":
            clean = {r["index"]: r["path"] for r in rows if r["split"] == "test_clean"}
            noisy = {r["path"]: r["index"] for r in rows if r["split"] == "test"}
            trials, siblings = ([(clean[noisy[a]], clean[noisy[b]], t) for a, b, t in pairs]
                                for pairs in (trials, siblings))
        write_trials(root / f"trials_{split}.tsv", trials)
        write_trials(root / f"trials_{split}_siblings.tsv", siblings)
        counts[split] = {"target": sum(t for _, _, t in trials),
                         "nontarget": sum(not t for _, _, t in trials),
                         "sibling": sum(not t for _, _, t in siblings)}
    return counts
