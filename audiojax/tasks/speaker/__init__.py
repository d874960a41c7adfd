"""Task ``speaker``: speaker embeddings trained with an additive angular margin softmax over
the training speakers; verification on trial lists (EER, minDCF, DET curve), closed-set
identification; ``audiojax embed`` and ``audiojax verify``.

    task.py      the Task: the angular-margin head and loss, embeddings, identification
    metrics.py   EER, minDCF, DET curve, cosine scoring, AS-norm (NumPy)
    embed.py     ``audiojax embed``: embeddings of audio files to an .npz
    verify.py    ``audiojax verify``: one pair's score and decision

Trial lists (``enroll<TAB>test<TAB>1|0``) are read by :mod:`audiojax.data.trials`; the
``trials`` evaluator (:mod:`audiojax.evaluators.trials`) embeds and scores them.
"""

from audiojax.tasks.commands import Command, Option


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")


TASK = "audiojax.tasks.speaker.task:SpeakerRecognition"
OPTIONS = (
    Option("--as-norm", "speaker.as_norm", _flag,
           "speaker: true/false, score trials with adaptive score normalization against the "
           "training speakers (default: the run's config.speaker.as_norm)"),
)
COMMANDS = (
    Command("embed", "speaker embeddings of audio files under a speaker-recognition run",
            "audiojax.tasks.speaker.embed"),
    Command("verify", "whether two audio files hold the same speaker, under a "
                      "speaker-recognition run", "audiojax.tasks.speaker.verify"),
)
