"""Mask over the STFT against time domain: the GRU mask estimator and Conv-TasNet, each
non-causal and causal, on two-talker separation (`separate`, 8 kHz min) and on enhancement
(`enhance`, -5..20 dB): 8 runs.

    audiojax sweep launch/separation_models.py:small --workdir runs/separation_models --parallel 1
    audiojax evaluate --workdir runs/separation_models --split test
    audiojax report runs/separation_models
    audiojax sweep launch/separation_models.py --workdir runs/separation_models_full --executor slurm

Variants: `small` (the experiments' :small on the small corpora), `tiny` (the tests), none
(the full corpora, each experiment's own schedule). Tasks are the outer loop, so a sweep cut
short has compared every model on separation.
"""

from audiojax.sweep import grid, runs, union

EXPERIMENTS = ("separate_mask_gru", "separate_convtasnet", "enhance_mask_gru", "enhance_convtasnet")


def get_sweep(variant=None):
    suffix = f":{variant}" if variant else ""
    return union(*(runs(f"experiments/{name}.py{suffix}", grid([{"model.causal": False},
                                                               {"model.causal": True}]))
                   for name in EXPERIMENTS))
