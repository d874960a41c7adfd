"""The front-end ablation on `commands`: raw waveform (the article's classifier) vs log-mel vs
MFCC front-ends, 2 seeds each (6 runs).

    audiojax sweep launch/kws_frontends.py:small --workdir runs/kws_frontends --parallel 3
    audiojax evaluate --workdir runs/kws_frontends --split test
    audiojax report runs/kws_frontends
    audiojax sweep launch/kws_frontends.py --workdir runs/kws_frontends_full --executor slurm

Variants: `small` (the experiments' :small, 600 steps on commands/small: about 10 min a run on
an idle 2-core CPU), `tiny` (the tests), none (the full corpus, each experiment's own schedule).
Seeds are the outer loop, so a sweep cut short has compared every front-end on seed 0.
"""

from audiojax.sweep import grid, runs, union


def get_sweep(variant=None):
    suffix = f":{variant}" if variant else ""
    return union(*(
        union(runs(f"experiments/kws_seed_cnn.py{suffix}", [{"seed": seed}]),
              runs(f"experiments/kws_logmel_cnn.py{suffix}",
                   grid({"model.frontend": ["logmel", "mfcc"]}, {"seed": [seed]})))
        for seed in (0, 1)))
