"""Task ``classification``: one label per clip (keyword spotting, events, genres), trained by
cross-entropy; accuracy, macro F1, per-class accuracy, a confusion matrix; ``audiojax predict``.

    task.py      the Task: batches, loss, metrics, plots
    predict.py   ``audiojax predict``: top classes of audio files of any length
"""

from audiojax.tasks.commands import Command

TASK = "audiojax.tasks.classification.task:Classification"
COMMANDS = (
    Command("predict", "top classes of audio files under a clip-classification run",
            "audiojax.tasks.classification.predict"),
)
OPTIONS = ()
