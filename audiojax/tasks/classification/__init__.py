"""Task ``classification``: one label per clip (keyword spotting, events, genres), trained by
cross-entropy; accuracy, macro F1, per-class accuracy, a confusion matrix; ``audiojax predict``.

    task.py      the Task: batches, loss, metrics, plots
    predict.py   ``audiojax predict``: top classes of audio files of any length
"""

from audiojax.tasks.commands import Command, Option

TASK = "audiojax.tasks.classification.task:Classification"
COMMANDS = (
    Command("predict", "top classes of audio files under a clip-classification run",
            "audiojax.tasks.classification.predict"),
)
OPTIONS = (
    Option("--shifts", "shifts.count", int,
           "classification: average the class probabilities over SHIFTS time shifts of each "
           "clip (default: the run's config.shifts.count, 1)"),
    Option("--shift-seconds", "shifts.max_seconds", float,
           "classification: the largest of those shifts, either way (default: the run's "
           "config.shifts.max_seconds, 0.1 s)"),
)
