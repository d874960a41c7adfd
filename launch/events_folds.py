"""Five-fold cross-validation of experiments/events_cnn.py on the `events` corpus: each fold's
run tests on that fold (sources it never heard), validates on the next and trains on the rest.

    make sounds && audiojax data build events
    audiojax sweep launch/events_folds.py --workdir runs/events_folds --parallel 1
    audiojax evaluate --workdir runs/events_folds --split test
    audiojax report runs/events_folds

Variants: `small` (events/small, 600 steps a fold), `tiny` (the tests), none (events/full,
the experiment's schedule).
"""

from audiojax.data.corpora.sound_events import FOLDS
from audiojax.sweep import runs


def get_sweep(variant=None):
    suffix = f":{variant}" if variant else ""
    size = variant or "full"
    return runs(f"experiments/events_cnn.py{suffix}",
                [{"data.source": f"events/{size}/fold{k}"} for k in range(1, FOLDS + 1)])
