"""Task ``generation``: waveform models (WaveNet, SampleRNN) trained on next-sample likelihood,
unconditional, word-conditioned or mel-conditioned (a vocoder); bits per sample;
``audiojax generate``.

    task.py        the Task: teacher-forced likelihood, conditions
    samplers.py    cached ("fast WaveNet") and naive samplers
    generate.py    ``audiojax generate``; word recognition and vocoder distortion measures
    distortion.py  log-spectral distance, mel-cepstral distortion
"""

from audiojax.tasks.commands import Command

TASK = "audiojax.tasks.generation.task:Generation"
COMMANDS = (
    Command("generate", "sample waveforms from a generation run (WAV + PNG each)",
            "audiojax.tasks.generation.generate"),
)
OPTIONS = ()
