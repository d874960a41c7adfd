"""The front-end ablation on `commands`: raw waveform (the article's classifier) vs log-mel vs
MFCC front-ends, 2 seeds each (6 runs).

    audiojax sweep launch/kws_frontends.py:small --workdir runs/kws_frontends --parallel 1
    audiojax report runs/kws_frontends
    audiojax sweep launch/kws_frontends.py --workdir runs/kws_frontends_full --executor slurm

Variants: `small` (the experiments' :small, 600 steps on commands/small: about 10 min a run on
a 2-core CPU), `tiny` (the tests), none (the full corpus, each experiment's own schedule).
"""

from audiojax.sweep import grid, runs, union

SEEDS = {"seed": [0, 1]}


def get_sweep(variant=None):
    suffix = f":{variant}" if variant else ""
    return union(
        runs(f"experiments/kws_seed_cnn.py{suffix}", grid(SEEDS)),
        runs(f"experiments/kws_logmel_cnn.py{suffix}",
             grid({"model.frontend": ["logmel", "mfcc"]}, SEEDS)),
    )
