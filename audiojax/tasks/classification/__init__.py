"""Task ``classification``: one label per clip (keyword spotting, events, genres), trained by
cross-entropy; accuracy, macro F1, per-class accuracy, a confusion matrix; ``audiojax predict``.

    task.py      the Task: batches, loss, metrics, plots
    predict.py   ``audiojax predict``: top classes of audio files of any length
    tag.py       ``audiojax tag`` for clip runs: predict's top classes, and a manifest of them
    detect.py    wake-word detection on streams and its scoring (misses, false alarms per hour)
    listen.py    ``audiojax listen``: detections in files or a live stream, chunk by chunk
    export.py    ``audiojax export``: the streaming step and its parameters as StableHLO
"""

from audiojax.tasks.commands import Command, Option

TASK = "audiojax.tasks.classification.task:Classification"
COMMANDS = (
    Command("predict", "top classes of audio files under a clip-classification run",
            "audiojax.tasks.classification.predict"),
    Command("tag", "top classes of audio files (clip runs) or the events in them (detection runs)",
            "audiojax.tasks.classification.tag"),
    Command("listen", "wake-word detection in audio files or raw PCM on stdin, chunk by chunk",
            "audiojax.tasks.classification.listen"),
    Command("export", "a streaming keyword run's step function as a jax.export artifact",
            "audiojax.tasks.classification.export"),
)
OPTIONS = (
    Option("--shifts", "shifts.count", int,
           "classification: average the class probabilities over SHIFTS time shifts of each "
           "clip (default: the run's config.shifts.count, 1)"),
    Option("--shift-seconds", "shifts.max_seconds", float,
           "classification: the largest of those shifts, either way (default: the run's "
           "config.shifts.max_seconds, 0.1 s)"),
)
