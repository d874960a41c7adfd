"""Task ``asr``: speech recognition with an attention recognizer, characters out; CER/WER,
attention alignments; ``audiojax transcribe`` and ``audiojax lm``.

    task.py        the Task: teacher forcing, CTC head, guided attention, CER/WER
    tokenizer.py   characters <-> ids
    decode.py      greedy and beam search, joint CTC-attention scoring, n-gram fusion
    ctc_prefix.py  CTC prefix scores for beam search
    lm.py          the character n-gram model (interpolated Kneser-Ney)
    transcribe.py  ``audiojax transcribe``
    fit_lm.py      ``audiojax lm``
"""

from audiojax.tasks.commands import Command, Option

TASK = "audiojax.tasks.asr.task:SpeechRecognition"
OPTIONS = (
    Option("--beam-width", "decode.beam_width", int,
           "ASR: beam search width (default: the run's config.decode.beam_width)"),
    Option("--ctc-weight", "decode.ctc_weight", float,
           "ASR: weight in [0, 1] of the CTC head's score in beam search (joint CTC-attention "
           "decoding; 1: the CTC head alone; default: the run's config.decode.ctc_weight)"),
    Option("--lm-weight", "decode.lm_weight", float,
           "ASR: weight of a character n-gram language model in beam search (shallow fusion; "
           "default: the run's config.decode.lm_weight)"),
    Option("--lm", "decode.lm", str,
           "ASR: the language model file (default: WORKDIR/lm.npz, made by "
           "`audiojax lm --workdir WORKDIR`)"),
)
COMMANDS = (
    Command("transcribe", "text of audio files under a speech-recognition run",
            "audiojax.tasks.asr.transcribe"),
    Command("lm", "a character n-gram language model for ASR beam search",
            "audiojax.tasks.asr.fit_lm"),
)
