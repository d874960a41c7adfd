"""Task ``enhancement``: noisy speech to clean speech, trained on the negative SI-SDR;
evaluated by SI-SDR(i), SDR, PESQ and STOI; ``audiojax enhance``.

    task.py      the Task: loss, evaluation rows and summaries, spectrogram plots
    metrics.py   SI-SDR and permutation-invariant SI-SDR (JAX); SDR, PESQ, STOI (host)
    enhance.py   ``audiojax enhance``: enhanced WAVs of audio files (any length, rate, channels)

Data are manifests ``mixture<TAB>clean`` (the ``enhance`` corpus writes them); the models are in
:mod:`audiojax.models.separation`.
"""

from audiojax.tasks.commands import Command

TASK = "audiojax.tasks.enhancement.task:Enhancement"
COMMANDS = (
    Command("enhance", "enhanced speech of audio files under an enhancement run",
            "audiojax.tasks.enhancement.enhance"),
)
