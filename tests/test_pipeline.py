"""The grain input pipeline: crops, padding, batching, shuffling, sharding, resume, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import audiojax
from audiojax.data.manifest import write_manifest
from audiojax.data.pipeline import BadExampleError, make_loader, numeric
from audiojax.data.sources import ManifestSource

LOOKUP = {"no": 0, "up": 1, "yes": 2}


def _loader(source, **kw):
    args = dict(sample_rate=16000, batch_size=4, max_length=8000, label_to_id=LOOKUP,
                shard_index=0, shard_count=1)
    args.update(kw)
    return make_loader(source, **args)


def _take(it, n):
    return [next(it) for _ in range(n)]


def _assert_batches_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_eval_centre_crop_padding_and_every_example_once(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    clips = {rel: (label, spk, y) for rel, label, spk, y in clip_corpus["clips"]}
    batches = list(_loader(src, train=False, batch_size=5))
    assert len(batches) == 3  # 12 examples: 5 + 5 + 2 real rows, the last batch padded
    for b in batches:
        assert b["audio"].shape == (5, 8000) and b["audio"].dtype == np.float32
        assert b["length"].dtype == np.int32 and b["label"].dtype == np.int32 and b["mask"].dtype == bool
    mask = np.concatenate([b["mask"] for b in batches])
    assert mask.tolist() == [True] * 12 + [False] * 3
    seen = []
    for b in batches:
        for audio, length, label, m, id_, spk in zip(b["audio"], b["length"], b["label"], b["mask"],
                                                     b["id"], b["speaker"]):
            if not m:
                assert length == 0 and not audio.any() and id_ == ""
                continue
            seen.append(id_)
            want_label, want_spk, y = clips[id_]
            assert (label, spk) == (LOOKUP[want_label], want_spk)
            n = len(y)
            if n > 8000:  # the article's centre crop
                offset = (n - 8000) // 2
                assert length == 8000
                np.testing.assert_array_equal(audio, y[offset:offset + 8000])
            else:  # zero padded, true length kept
                assert length == n
                np.testing.assert_array_equal(audio[:n], y)
                assert not audio[n:].any()
    assert sorted(seen) == sorted(clips)


def test_train_random_crops_are_seeded_and_inside_the_clip(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    clips = {rel: y for rel, _, _, y in clip_corpus["clips"]}
    it = iter(_loader(src, train=True, seed=7))
    batches = _take(it, 6)  # 24 examples: two epochs of 12 (infinite by default), shuffled
    offsets = {}
    for b in batches:
        assert b["audio"].shape == (4, 8000) and b["mask"].all()
        for audio, length, id_ in zip(b["audio"], b["length"], b["id"]):
            y = clips[id_]
            if len(y) <= 8000:
                assert length == len(y)
                np.testing.assert_array_equal(audio[:length], y)
                continue
            # find the window: it must be an exact slice of the clip
            starts = [o for o in range(len(y) - 8000 + 1) if audio[0] == y[o] and audio[1] == y[o + 1]]
            assert any(np.array_equal(audio, y[o:o + 8000]) for o in starts)
            offsets.setdefault(id_, []).append(starts[0])
    assert len(offsets) >= 5
    assert any(len(set(v)) > 1 for v in offsets.values())  # a new crop each epoch
    epoch1 = [i for b in batches[:3] for i in b["id"]]
    epoch2 = [i for b in batches[3:] for i in b["id"]]
    assert sorted(epoch1) == sorted(epoch2) == sorted(clips)  # each epoch sees every example
    assert epoch1 != epoch2  # reshuffled
    # same seed: same batches; another seed: another order
    again = _take(iter(_loader(src, train=True, seed=7)), 6)
    for a, b in zip(batches, again):
        _assert_batches_equal(a, b)
    other = _take(iter(_loader(src, train=True, seed=8)), 3)
    assert [i for b in other for i in b["id"]] != epoch1


def test_train_drops_remainder_for_static_shapes(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    batches = list(_loader(src, train=True, batch_size=5, num_epochs=1))
    assert [b["audio"].shape for b in batches] == [(5, 8000), (5, 8000)]


def test_resample_and_mono(tmp_path):
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audiojax.save(tmp_path / "a8k.wav", tone, 8000)
    stereo = np.stack([tone, 0.5 * tone])
    audiojax.save(tmp_path / "st.wav", stereo, 16000)
    write_manifest(tmp_path / "m.tsv", [(str(tmp_path / "a8k.wav"), "yes"), (str(tmp_path / "st.wav"), "no")])
    b = next(iter(_loader(ManifestSource(tmp_path / "m.tsv"), train=False, batch_size=2, max_length=20000)))
    assert b["length"].tolist() == [16000, 8000]
    np.testing.assert_allclose(b["audio"][0, :16000], audiojax.load(tmp_path / "a8k.wav", sr=16000)[0])
    np.testing.assert_allclose(b["audio"][1, :8000], audiojax.load(tmp_path / "st.wav")[0])
    np.testing.assert_allclose(b["audio"][1, :8000], 0.75 * tone, atol=1e-4)


def test_default_max_length_is_four_seconds(clip_corpus):
    b = next(iter(make_loader(ManifestSource(clip_corpus["manifest"]), sample_rate=4000, batch_size=2,
                              train=False, shard_index=0, shard_count=1)))
    assert b["audio"].shape == (2, 16000)


@pytest.mark.parametrize("workers", [0, 2])
def test_saved_state_resumes_on_the_exact_next_batch(clip_corpus, workers):
    src = ManifestSource(clip_corpus["manifest"])
    loader = _loader(src, train=True, seed=3, worker_count=workers, batch_size=5)
    it = iter(loader)
    _take(it, 4)  # past the first epoch boundary (12 examples)
    state = it.get_state()
    expected = _take(it, 3)
    it.close()
    resumed = iter(_loader(src, train=True, seed=3, worker_count=workers, batch_size=5))
    resumed.set_state(state)
    for a, b in zip(expected, _take(resumed, 3)):
        _assert_batches_equal(a, b)
    resumed.close()
    assert json.loads(state)["skipped"] == {}


def test_shards_cover_every_example_once_with_equal_step_counts(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])  # 12 examples over 5 processes: 3, 3, 2, 2, 2
    per_shard = [list(_loader(src, train=False, batch_size=2, shard_index=i, shard_count=5)) for i in range(5)]
    assert {len(bs) for bs in per_shard} == {2}  # same number of steps on every process
    ids = [i for bs in per_shard for b in bs for i, m in zip(b["id"], b["mask"]) if m]
    assert sorted(ids) == sorted(rel for rel, *_ in clip_corpus["clips"])
    train = [_take(iter(_loader(src, train=True, batch_size=3, shard_index=i, shard_count=5, seed=1)), 1)[0]
             for i in range(5)]
    assert all(b["mask"].all() for b in train)


def test_labels_as_strings_or_callable(clip_corpus):
    src = ManifestSource(clip_corpus["manifest"])
    b = next(iter(_loader(src, train=False, label_to_id=None)))
    assert b["label"].tolist() == ["no", "up", "yes", "no"]
    b = next(iter(_loader(src, train=False, label_to_id=lambda s: np.array([len(s), ord(s[0])], np.int32))))
    assert b["label"].tolist() == [[2, 110], [2, 117], [3, 121], [2, 110]]
    assert set(numeric(b)) == {"audio", "length", "label", "mask"}


# ----------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory, clip_corpus):
    root = tmp_path_factory.mktemp("bad")
    good = [str(clip_corpus["dir"] / rel) for rel, *_ in clip_corpus["clips"][:4]]
    audiojax.save(root / "trunc.wav", np.zeros(16000, np.float32), 16000)
    data = (root / "trunc.wav").read_bytes()
    (root / "trunc.wav").write_bytes(data[:2000])
    rows = [(good[0], "no"), (good[1], "up"), ("trunc.wav", "yes"), (good[2], "no"),
            ("missing.wav", "no"), (good[3], "maybe")]
    write_manifest(root / "train.tsv", rows)
    return root / "train.tsv"


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_example_stops_with_the_check_message(bad_corpus, workers):
    loader = _loader(ManifestSource(bad_corpus), train=False, batch_size=2, worker_count=workers)
    with pytest.raises(BadExampleError) as info:  # the same type comes back from a worker process
        list(loader)
    first_bad = {0: 3, 2: None}[workers]  # with workers, whichever worker meets its bad clip first
    messages = {3: f"{bad_corpus}:3: trunc.wav: truncated: data chunk announces 32000 bytes, file holds 1956",
                5: f"{bad_corpus}:5: missing.wav: file not found"}
    if first_bad:
        assert str(info.value) == messages[first_bad]
    else:
        assert str(info.value) in messages.values()


def test_unknown_label_stops_training(tmp_path, clip_corpus):
    rel, *_ = clip_corpus["clips"][0]
    write_manifest(tmp_path / "m.tsv", [(str(clip_corpus["dir"] / rel), "no"), (str(clip_corpus["dir"] / rel), "maybe")])
    src = ManifestSource(tmp_path / "m.tsv")
    with pytest.raises(BadExampleError, match=r"m\.tsv:2: .*clip00\.wav: unknown label 'maybe' \(not among the 3"):
        list(_loader(src, train=True, batch_size=1, num_epochs=1))


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_masks_and_reports_every_bad_example(bad_corpus, workers):
    it = iter(_loader(ManifestSource(bad_corpus), train=False, batch_size=4, on_bad="skip",
                      worker_count=workers))
    batches = list(it)
    mask = np.concatenate([b["mask"] for b in batches])
    ids = np.concatenate([b["id"] for b in batches])
    assert sorted(ids[mask]) == sorted(i for i in ids if i.endswith("clip00.wav") or i.endswith("clip01.wav")
                                       or i.endswith("clip02.wav"))
    assert mask.sum() == 3
    for b in batches:
        assert not b["audio"][~b["mask"]].any() and "error" not in b
    assert sorted(it.skipped) == [
        f"{bad_corpus}:3: trunc.wav: truncated: data chunk announces 32000 bytes, file holds 1956",
        f"{bad_corpus}:5: missing.wav: file not found",
        f"{bad_corpus}:6: {ids[np.char.endswith(ids, 'clip03.wav')][0]}: unknown label 'maybe' "
        "(not among the 3 labels)",
    ]
    report = it.report()
    assert report.startswith("skipped 3 bad example(s) (3 distinct):") and "missing.wav" in report


def test_skipped_list_survives_a_state_restore(bad_corpus):
    loader = _loader(ManifestSource(bad_corpus), train=True, batch_size=2, on_bad="skip", seed=0, shuffle=False)
    it = iter(loader)
    _take(it, 3)  # the whole first epoch: 3 bad ones met once
    state = it.get_state()
    assert sum(it.skipped.values()) == 3
    resumed = iter(loader)
    resumed.set_state(state)
    _take(resumed, 3)  # second epoch
    assert sorted(resumed.skipped.values()) == [2, 2, 2]
    assert "(x2)" in resumed.report()


class _SignalSource:
    """In-memory records with two extra signals: ``clean``, a waveform (the audio halved), and
    ``roll``, a frame-rate array (hop 100) holding each frame's first sample and index, so a
    batch shows which samples each of its frames came from."""

    labels = ["a", "b"]
    sample_rate = 16000
    HOP = 100

    def __init__(self, lengths):
        from audiojax.data.sources import Signal

        self.signals = {"clean": Signal(), "roll": Signal(hop_length=self.HOP, frame_shape=(2,))}
        rng = np.random.default_rng(5)
        self.records = []
        for i, n in enumerate(lengths):
            y = rng.uniform(-0.5, 0.5, n).astype(np.float32)
            starts = np.arange(0, n, self.HOP)
            roll = np.stack([y[starts], np.arange(len(starts))], -1).astype(np.float32)
            self.records.append({"audio": y, "sample_rate": 16000, "label": "ab"[i % 2],
                                 "speaker": "", "id": f"r{i}", "origin": f"mem[{i}]",
                                 "clean": 0.5 * y, "roll": roll})

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return self.records[int(i)]

    def __repr__(self):
        return f"_SignalSource({len(self)})"


@pytest.mark.parametrize("train", [True, False])
def test_extra_signals_are_cropped_and_padded_with_the_audio(train):
    hop = _SignalSource.HOP
    source = _SignalSource([2500, 900, 4321, 1000, 3000, 640])
    loader = make_loader(source, sample_rate=16000, batch_size=3, max_length=2000, train=train,
                         seed=4, label_to_id={"a": 0, "b": 1}, shard_index=0, shard_count=1)
    it = iter(loader)
    for batch in _take(it, 4 if train else 2):
        assert batch["clean"].shape == (3, 2000) and batch["roll"].shape == (3, 20, 2)
        np.testing.assert_array_equal(batch["clean"], 0.5 * batch["audio"])
        for audio, roll, length, mask in zip(batch["audio"], batch["roll"], batch["length"],
                                             batch["mask"]):
            if not mask:
                continue
            frames = -(-length // hop)
            # Frame k of the window is the source frame whose first sample is the window's
            # sample k * hop: the crop started on a frame boundary.
            np.testing.assert_array_equal(roll[:frames, 0], audio[:length:hop])
            assert np.all(np.diff(roll[:frames, 1]) == 1)
            assert not roll[frames:].any() and not audio[length:].any()
    it.close()


def test_a_signal_that_does_not_match_the_audio_is_a_bad_example():
    source = _SignalSource([1000, 1000])
    source.records[1]["clean"] = source.records[1]["clean"][:999]
    loader = make_loader(source, sample_rate=16000, batch_size=2, max_length=1000, train=False,
                         label_to_id={"a": 0, "b": 1}, shard_index=0, shard_count=1)
    with pytest.raises(BadExampleError, match=r"mem\[1\]: r1: clean: 999 samples, the audio has 1000"):
        next(iter(loader))


def test_extra_signals_follow_length_buckets():
    source = _SignalSource([700, 800, 900, 1800, 1900, 2000])
    loader = make_loader(source, sample_rate=16000, batch_size=3, max_length=2000, train=False,
                         label_to_id={"a": 0, "b": 1}, shard_index=0, shard_count=1,
                         bucket_lengths=[1000])
    widths = [(b["audio"].shape[1], b["clean"].shape[1], b["roll"].shape[1]) for b in loader]
    assert widths == [(1000, 1000, 10), (2000, 2000, 20)]
