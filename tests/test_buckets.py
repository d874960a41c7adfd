"""Length bucketing in the input pipeline: one bucket per batch, trimmed padding, the same
crops as without buckets, multi-process slices that agree, resume, evaluation in length order."""

from __future__ import annotations

import numpy as np
import pytest

from audiojax.data.buckets import BucketSampler, bucket_of
from audiojax.data.pipeline import make_loader
from audiojax.data.sources import ManifestSource

BOUNDARIES = [8000, 14000]  # + max_length 24000: the fixture's 12 clips are 4800 + 1600 i samples
MAX = 24000


def _loader(source, **kw):
    args = dict(sample_rate=16000, max_length=MAX, bucket_lengths=BOUNDARIES, shard_index=0,
                shard_count=1, seed=5, label_to_id=None)
    args.update(kw)
    return make_loader(source, **args)


def _take(loader, n):
    it = iter(loader)
    out = [next(it) for _ in range(n)]
    it.close()
    return out


def _clips(clip_corpus):
    return {rel: y for rel, _, _, y in clip_corpus["clips"]}


def test_bucket_sampler_epochs_are_whole_single_bucket_batches():
    buckets = np.array([0] * 7 + [1] * 5 + [2] * 9)
    sampler = BucketSampler(buckets, global_batch=3, seed=0, num_epochs=2)
    assert sampler.epoch_length == 2 * 3 + 1 * 3 + 3 * 3  # leftovers: 1, 2, 0
    epochs = [[sampler[e * sampler.epoch_length + i].record_key for i in range(sampler.epoch_length)]
              for e in range(2)]
    for keys in epochs:
        assert len(set(keys)) == len(keys)  # no record twice in an epoch
        for k in range(0, len(keys), 3):
            assert len({int(buckets[j]) for j in keys[k:k + 3]}) == 1
        assert all(np.sum(buckets[keys] == b) // 3 * 3 == np.sum(buckets[keys] == b) for b in range(3))
    assert epochs[0] != epochs[1]  # reshuffled: other records wait in another epoch
    again = BucketSampler(buckets, global_batch=3, seed=0, num_epochs=2)
    assert [again[i].record_key for i in range(sampler.epoch_length)] == epochs[0]
    with pytest.raises(ValueError, match="no bucket holds a whole batch of 10"):
        BucketSampler(buckets, global_batch=10, seed=0, num_epochs=None)
    np.testing.assert_array_equal(bucket_of(np.array([1, 8000, 8001, 30000]), [8000, 14000, MAX]),
                                  [0, 0, 1, 2])


def test_train_batches_are_trimmed_to_their_bucket_with_the_unbucketed_crops(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    clips = _clips(clip_corpus)
    batches = _take(_loader(src, train=True, batch_size=3), 8)  # two epochs of 4 batches
    widths = []
    for b in batches:
        lengths = b["length"]
        width = b["audio"].shape[1]
        widths.append(width)
        assert width == min(w for w in BOUNDARIES + [MAX] if w >= lengths.max())
        assert len({int(x) for x in bucket_of(lengths, BOUNDARIES + [MAX])}) == 1
        for audio, n, id_ in zip(b["audio"], lengths, b["id"]):
            np.testing.assert_array_equal(audio[:n], clips[id_])  # the whole clip, zero padded
            assert not audio[n:].any()
    assert sorted(widths[:4]) == [8000, 14000, MAX, MAX]
    ids = [i for b in batches[:4] for i in b["id"]]
    assert sorted(ids) == sorted(clips)  # this split leaves no remainder: every clip once


def test_processes_take_slices_of_the_same_bucketed_global_batches(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    whole = _take(_loader(src, train=True, batch_size=2), 6)
    parts = [_take(_loader(src, train=True, batch_size=1, shard_index=i, shard_count=2), 6)
             for i in range(2)]
    for k, b in enumerate(whole):
        assert parts[0][k]["audio"].shape[1] == parts[1][k]["audio"].shape[1] == b["audio"].shape[1]
        np.testing.assert_array_equal(np.concatenate([p[k]["audio"] for p in parts]), b["audio"])
        assert [p[k]["id"][0] for p in parts] == b["id"].tolist()


def test_bucketed_iterator_resumes_on_the_exact_next_batch(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    it = iter(_loader(src, train=True, batch_size=3))
    [next(it) for _ in range(5)]  # into the second epoch
    state = it.get_state()
    expected = [next(it) for _ in range(3)]
    it.close()
    resumed = iter(_loader(src, train=True, batch_size=3))
    resumed.set_state(state)
    for a in expected:
        b = next(resumed)
        for key in ("audio", "length", "id"):
            np.testing.assert_array_equal(a[key], b[key])
    resumed.close()


def test_eval_runs_in_length_order_every_clip_once(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    clips = _clips(clip_corpus)
    batches = list(_loader(src, train=False, batch_size=5))
    assert [b["audio"].shape for b in batches] == [(5, 14000), (5, MAX), (5, MAX)]
    lengths = np.concatenate([b["length"][b["mask"]] for b in batches])
    assert (np.diff(lengths) >= 0).all()
    ids = [i for b in batches for i, m in zip(b["id"], b["mask"]) if m]
    assert sorted(ids) == sorted(clips)
    for b in batches:
        for audio, n, id_, m in zip(b["audio"], b["length"], b["id"], b["mask"]):
            if m:
                np.testing.assert_array_equal(audio[:n], clips[id_])
    # Several processes evaluate unbucketed: every process must pad alike.
    shard = list(_loader(src, train=False, batch_size=5, shard_index=0, shard_count=2))
    assert {b["audio"].shape[1] for b in shard} == {MAX}


def test_tokenized_labels_are_cut_to_the_widest_of_their_bucket(clip_corpus):
    from audiojax.tasks.asr.tokenizer import CharTokenizer

    src = ManifestSource(clip_corpus["manifest"])
    tokenizer = CharTokenizer(12)
    labels = {rel: label for rel, label, _, _ in clip_corpus["clips"]}
    bounds = BOUNDARIES + [MAX]
    clip_bucket = {rel: int(bucket_of(np.array([len(y)]), bounds)[0]) for rel, y in _clips(clip_corpus).items()}
    for train in (True, False):
        for b in _take(_loader(src, train=train, batch_size=3, label_to_id=tokenizer), 4):
            bucket = bounds.index(b["audio"].shape[1])
            want = max(len(labels[r]) + 1 for r in labels if clip_bucket[r] <= bucket)  # + EOS
            assert b["label"].shape == (3, want)
            assert [tokenizer.decode(row) for row in b["label"]] == [labels[i] for i in b["id"]]
