"""Task ``separation``: a mixture of talkers to each talker's speech, trained on the
permutation-invariant negative SI-SDR; evaluated by SI-SDR(i), SDR, PESQ and STOI under the best
ordering of the sources; ``audiojax separate``.

    task.py      the Task: the enhancement task's, with interchangeable sources

Data are manifests ``mixture<TAB>source1<TAB>source2`` (the ``separate`` corpus writes them);
the models are :mod:`audiojax.models.separation`'s, and ``audiojax separate`` is the
enhancement task's command (:mod:`audiojax.tasks.enhancement.enhance`: ``NAME_s1.wav``,
``NAME_s2.wav``, segments put in the order that continues the one before).
"""

from audiojax.tasks.commands import Command

TASK = "audiojax.tasks.separation.task:Separation"
COMMANDS = (
    Command("separate", "the separated talkers of audio files under a separation run",
            "audiojax.tasks.enhancement.enhance"),
)
