"""Experiment configs and overrides; classification metrics against scikit-learn."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, f1_score

from audiojax.tasks.classification.task import Classification
from audiojax.config import load_config
from audiojax.data import local_spec, source_parts
from audiojax.data.sources import LOCAL_CORPORA
from audiojax.train.defaults import base_config

ROOT = Path(__file__).resolve().parents[1]
SEED_CNN = str(ROOT / "experiments" / "kws_seed_cnn.py")


def test_every_experiment_has_a_tiny_variant_and_documents_its_command():
    for path in sorted((ROOT / "experiments").glob("*.py")):
        config = load_config(f"{path}:tiny")
        # On a local corpus, its tiny size; public corpora are mocked (test_public_recipes.py).
        local = config.data.source.partition("/")[0] in LOCAL_CORPORA
        assert not local or all(local_spec(part)[1] == "tiny"   # a version (events' fold) stays
                                for part in source_parts(config.data.source)), path.name
        assert config.num_train_steps > 0
        doc = path.read_text().split('"""')[1]
        assert f"audiojax train --config experiments/{path.name}" in doc, path.name


def test_overrides_are_typed_and_checked():
    config = load_config(SEED_CNN + ":tiny", ["batch_size=16", "learning_rate=1", "model.masked_pooling=False",
                                             "data.source=/data/my.tsv", "--config.optimizer=sgd"])
    assert config.batch_size == 16 and config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.model.masked_pooling is False and config.data.source == "/data/my.tsv"
    assert config.optimizer == "sgd"
    with pytest.raises(ValueError, match="no key 'batchsize'"):
        load_config(SEED_CNN, ["batchsize=3"])
    with pytest.raises(ValueError, match="batch_size=big"):
        load_config(SEED_CNN, ["batch_size=big"])
    with pytest.raises(ValueError, match="unknown variant 'huge'"):
        load_config(SEED_CNN + ":huge")
    with pytest.raises(ValueError, match="no such experiment file"):
        load_config("experiments/nope.py")


def test_summarize_matches_sklearn():
    rng = np.random.default_rng(0)
    labels = [f"c{i}" for i in range(6)]
    truth = rng.integers(0, 5, 300)                        # class c5 never occurs in the truth
    pred = np.where(rng.random(300) < 0.6, truth, rng.integers(0, 6, 300))
    confusion = np.zeros((6, 6))
    np.add.at(confusion, (truth, pred), 1)
    task = Classification(base_config(), labels)
    hits = [truth[:100] == pred[:100], truth[100:] == pred[100:]]  # two batches' rows
    probs = rng.dirichlet(np.ones(6), 300)
    got = task.summarize({"loss": 30.0, "count": 300.0, "confusion": confusion, "hits": hits,
                          "probs": [probs[:100], probs[100:]], "labels": [truth[:100], truth[100:]]})
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, pred))
    low, high = got["accuracy_ci95"]
    assert low < got["accuracy"] < high and high - low < 0.15
    assert got["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
    assert got["confusion_matrix"] == confusion_matrix(truth, pred, labels=range(6)).tolist()
    assert got["loss"] == pytest.approx(0.1)
    per_class = {f"c{k}": float(np.mean(pred[truth == k] == k)) for k in range(5)}
    assert got["per_class_accuracy"] == pytest.approx(per_class)
    # mAP over the classes that occur in the truth (c5 never does).
    onehot = np.eye(6)[truth][:, :5]
    assert got["mean_average_precision"] == pytest.approx(
        average_precision_score(onehot, probs[:, :5], average="macro"))


def test_bootstrap_interval_of_an_accuracy_is_the_binomial_one():
    from audiojax.tasks.base import bootstrap_interval

    rng = np.random.default_rng(0)
    for n, p in ((735, 0.76), (200, 0.5), (2000, 0.95)):
        hits = rng.random(n) < p
        acc = hits.mean()
        low, high = bootstrap_interval(hits)
        # The normal approximation of the binomial: acc -+ 1.96 sqrt(acc (1 - acc) / n).
        half = 1.96 * np.sqrt(acc * (1 - acc) / n)
        assert low < acc < high
        assert low == pytest.approx(acc - half, abs=0.25 * half)
        assert high == pytest.approx(acc + half, abs=0.25 * half)
        assert bootstrap_interval(hits) == (low, high)  # seeded
    assert bootstrap_interval(np.ones(50)) == (1.0, 1.0)
    assert all(np.isnan(bootstrap_interval(np.zeros(0))))
