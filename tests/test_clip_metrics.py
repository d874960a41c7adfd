"""Clip classification's new pieces for sound events: mean average precision against
scikit-learn, mixup's mixing and the CNN's time poolings against NumPy."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from audiojax.models.classifiers import LogMelCNN, pool_frames
from audiojax.tasks.classification.metrics import average_precision, mean_average_precision
from audiojax.tasks.classification.task import mixup


def test_average_precision_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 60))
        scores = rng.integers(0, 6, n) / 5.0          # many tied scores
        positives = rng.random(n) < 0.3
        positives[0] = True
        assert average_precision(scores, positives) == pytest.approx(
            average_precision_score(positives, scores), abs=1e-12)


def test_mean_average_precision_is_sklearns_macro_over_present_classes():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 3, 50)                   # class 3 never occurs: left out
    mean_ap, per_class = mean_average_precision(probs, labels, 4)
    onehot = np.eye(4)[labels][:, :3]
    assert sorted(per_class) == [0, 1, 2]
    assert mean_ap == pytest.approx(average_precision_score(onehot, probs[:, :3], average="macro"))


def test_mixup_mixes_neighbours_and_skips_padding():
    audio = jnp.asarray(np.random.default_rng(2).normal(size=(4, 100)), jnp.float32)
    lengths = jnp.asarray([100, 60, 80, 100])
    targets = jax.nn.one_hot(jnp.arange(4), 4)
    mask = jnp.asarray([True, True, True, False])
    out, out_lengths, out_targets = mixup(jax.random.PRNGKey(0), audio, lengths, targets, mask, 0.4)
    lam = np.asarray(out_targets)[np.arange(4), np.arange(4)]
    assert np.all(lam >= 0.5)                          # each example's own sound leads
    assert lam[2] == 1.0                               # its neighbour is padding: not mixed
    for b in range(3):
        expect = lam[b] * np.asarray(audio[b]) + (1 - lam[b]) * np.asarray(audio[(b + 1) % 4])
        np.testing.assert_allclose(np.asarray(out[b]), expect, rtol=1e-5, atol=1e-6)
        assert out_targets[b, (b + 1) % 4] == pytest.approx(1 - lam[b]) or lam[b] == 1.0
    assert list(np.asarray(out_lengths)[:2]) == [100, 80]
    assert int(out_lengths[2]) == 80


def test_time_poolings_match_numpy_over_true_frames():
    x = np.random.default_rng(3).normal(size=(2, 7, 3)).astype(np.float32)
    valid = jnp.asarray([7, 4])
    mean = pool_frames(jnp.asarray(x), valid, "mean")
    both = pool_frames(jnp.asarray(x), valid, "max_mean")
    for b, n in enumerate([7, 4]):
        np.testing.assert_allclose(mean[b], x[b, :n].mean(0), rtol=1e-5)
        np.testing.assert_allclose(both[b], x[b, :n].max(0) + x[b, :n].mean(0), rtol=1e-5)
    with pytest.raises(ValueError, match="model.time_pooling"):
        pool_frames(jnp.asarray(x), valid, "median")


class _Pool(nn.Module):
    @nn.compact
    def __call__(self, x, valid):
        return pool_frames(x, valid, "attention")


def test_attention_pooling_is_a_softmax_over_true_frames():
    x = np.random.default_rng(4).normal(size=(2, 6, 3)).astype(np.float32)
    valid = jnp.asarray([6, 3])
    variables = _Pool().init(jax.random.PRNGKey(0), jnp.asarray(x), valid)
    dense = variables["params"]["AttentionScore_0"]["Dense_0"]
    out = np.asarray(_Pool().apply(variables, jnp.asarray(x), valid))
    for b, n in enumerate([6, 3]):
        score = x[b, :n] @ np.asarray(dense["kernel"])[:, 0] + float(dense["bias"][0])
        w = np.exp(score - score.max())
        np.testing.assert_allclose(out[b], (w / w.sum()) @ x[b, :n], rtol=1e-5, atol=1e-6)


def test_cnn14_style_model_runs_with_two_convolutions_per_block():
    model = LogMelCNN(num_classes=3, channels=(4, 8), convs_per_block=2, time_pooling="max_mean",
                      hidden=8)
    audio = jnp.asarray(np.random.default_rng(5).normal(size=(2, 8000)).astype(np.float32))
    variables = model.init(jax.random.PRNGKey(0), audio, jnp.asarray([8000, 4000]), train=False)
    assert sum("Conv" in k for k in variables["params"]) == 4
    assert model.apply(variables, audio, jnp.asarray([8000, 4000]), train=False).shape == (2, 3)
