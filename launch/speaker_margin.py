"""The speaker-recognition ablation on `speakers`: x-vector, ECAPA-TDNN and the article's GRU,
each trained with plain softmax and with an additive angular margin of 0.1 and 0.2 (9 runs).

    audiojax sweep launch/speaker_margin.py:small --workdir runs/speaker_margin --parallel 1
    audiojax evaluate --workdir runs/speaker_margin --split test
    audiojax report runs/speaker_margin
    audiojax sweep launch/speaker_margin.py --workdir runs/speaker_margin_full --executor slurm

Variants: `small` (the experiments' :small on speakers/small), `tiny` (the tests), none (the
full corpus, each experiment's own schedule). Models are the outer loop, so a sweep cut short
has compared every loss on the first model.
"""

from audiojax.sweep import grid, runs, union

MODELS = ("speaker_xvector", "speaker_ecapa", "speaker_gru")
LOSSES = [{"speaker.loss": "softmax"},
          {"speaker.loss": "aam", "speaker.margin": 0.1},
          {"speaker.loss": "aam", "speaker.margin": 0.2}]


def get_sweep(variant=None):
    suffix = f":{variant}" if variant else ""
    return union(*(runs(f"experiments/{model}.py{suffix}", grid(LOSSES)) for model in MODELS))
