"""Task ``sed``: sound event detection, frame-level multi-label classes of recordings, trained
by binary cross-entropy on event rolls; event-based and segment-based F1, PSDS1; events over
spectrograms as PNG.

    task.py      the Task: batches of events files' recordings, loss, post-processing, metrics
    metrics.py   post-processing (median filter, threshold), event/segment F1 (sed_eval's
                 rules), PSDS1 (sed_scores_eval)
    tag.py       ``audiojax tag``: the events in audio files of any length

Data are events files ``file<TAB>onset_s<TAB>offset_s<TAB>label`` (the ``soundscapes`` corpus
writes ``events_SPLIT.tsv``); the model is :class:`~audiojax.models.crnn.CRNN` or any with its
interface.
"""

from audiojax.tasks.commands import Command, Option

TASK = "audiojax.tasks.sed.task:SoundEventDetection"
COMMANDS = (
    Command("tag", "top classes of audio files (clip runs) or the events in them (detection runs)",
            "audiojax.tasks.sed.tag"),
)
OPTIONS = (
    Option("--sed-threshold", "sed.threshold", float,
           "sed: the frame probability at which a class is detected (default: the run's "
           "config.sed.threshold, 0.5)"),
    Option("--median-seconds", "sed.median_seconds", float,
           "sed: the median filter over the frame probabilities, seconds (default: the run's "
           "config.sed.median_seconds)"),
)
