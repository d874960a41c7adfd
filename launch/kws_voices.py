"""How keyword-spotting accuracy on held-out voices grows with the number of distinct training
voices: the log-mel CNN trained on nested subsets of the `commands` training split's voice
groups (a quarter, a half, all of them; drawn per synthesizer family, `data.train_voices`),
every run the same 3568 steps (16 epochs of the whole split), so only the voices differ.

    audiojax sweep launch/kws_voices.py --workdir runs/kws_voices --parallel 2
    audiojax evaluate --workdir runs/kws_voices --split test
    audiojax report runs/kws_voices --metric accuracy

Variant `tiny`: the tests (`commands/tiny`, its own few steps).
"""

from audiojax.sweep import grid, runs


def get_sweep(variant=None):
    if variant:
        return runs(f"experiments/kws_logmel_cnn.py:{variant}", grid({"data.train_voices": [0.5, 1.0]}))
    return runs("experiments/kws_logmel_cnn.py",
                grid({"data.train_voices": [0.25, 0.5, 1.0], "num_train_steps": [3568]}))
