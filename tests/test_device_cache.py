"""Decoded records and a training split on the devices (audiojax.data.decoded, device_cache):
the batches are those that decoding the files gives (ids, crops, lengths, samples), a saved
iterator resumes on the exact next batch, and a split over the budget stays on the host."""

from __future__ import annotations

import json
import os
import pickle

import jax
import ml_collections
import numpy as np
import pytest

import audiojax
from audiojax.data import decoded, splits
from audiojax.data.device_cache import DeviceCache
from audiojax.data.manifest import write_manifest
from audiojax.data.pipeline import make_loader
from audiojax.data.sources import BadExampleError, ManifestSource, decode_record

LABELS = {"no": 0, "up": 1, "yes": 2}
MAX = 12000  # samples: the clips are 4800-22400, so crops, pads and both together


def _loader(source, **kw):
    args = dict(sample_rate=16000, max_length=MAX, batch_size=4, seed=3, label_to_id=LABELS,
                shard_index=0, shard_count=1)
    return make_loader(source, **{**args, **kw})


def _device_batches(source, folder, n, state=None, center=False, **kw):
    """``n`` batches of the index loader with their windows cut on the device, and the
    iterator's state after them."""
    cache = DeviceCache(decoded.Decoded(folder), ["audio"], MAX)
    loader = _loader(source, device_index=cache.index(16000 if center else None),
                     center=center, **kw)
    arrays = jax.device_put(cache.arrays)
    cut = jax.jit(cache.materialize)
    it = iter(loader)
    if state is not None:
        it.set_state(state)
    out = []
    for _ in range(n):
        b = next(it)
        numeric = {k: v for k, v in b.items() if k not in ("id", "speaker")}
        assert "audio" not in b and b["cache_index"].dtype == np.int32
        out.append({**b, **jax.device_get(cut(arrays, numeric))})
    return out, it.get_state()


def _same(host, device):
    for h, d in zip(host, device, strict=True):
        for key in ("id", "length", "label", "mask", "audio"):
            np.testing.assert_array_equal(h[key], d[key], err_msg=key)


def test_decoded_records_are_what_decoding_the_files_gives(clip_corpus, tmp_path):
    src = ManifestSource(clip_corpus["manifest"])
    folder = decoded.ensure(src, sample_rate=16000, data_dir=tmp_path, quiet=True)
    fast = decoded.DecodedSource(src, folder)
    assert repr(fast) == repr(src) and len(fast) == len(src)
    for i in range(len(src)):
        np.testing.assert_array_equal(decode_record(fast[i], 16000), decode_record(src[i], 16000))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["records"] == 12 and meta["samples"] == sum(len(c[-1]) for c in clip_corpus["clips"])
    # At another rate: resampled once, rounded to 16 bits.
    folder8 = decoded.ensure(src, sample_rate=8000, data_dir=tmp_path, quiet=True)
    assert folder8 != folder
    y8 = decode_record(decoded.DecodedSource(src, folder8)[5], 8000)
    np.testing.assert_allclose(y8, decode_record(src[5], 8000), atol=0.5 / 32768 + 1e-7)
    # Two subsets of one manifest, as many clips each (one repr): a copy each.
    spk0, spk1 = src.with_speakers(["spk0"]), src.with_speakers(["spk1"])
    assert repr(spk0) == repr(spk1)
    folders = [decoded.ensure(s, sample_rate=16000, data_dir=tmp_path, quiet=True) for s in (spk0, spk1)]
    assert folders[0] != folders[1]
    for s, f in zip((spk0, spk1), folders):
        np.testing.assert_array_equal(decode_record(decoded.DecodedSource(s, f)[2], 16000),
                                      decode_record(s[2], 16000))


def test_a_decoded_copy_is_made_again_when_a_file_changes(clip_corpus, tmp_path):
    root = tmp_path / "corpus"
    rows = []
    for rel, label, spk, y in clip_corpus["clips"][:3]:
        audiojax.save(root / rel, y, 16000)
        rows.append((rel, label, spk))
    write_manifest(root / "train.tsv", rows)
    src = ManifestSource(root / "train.tsv")
    folder = decoded.ensure(src, sample_rate=16000, data_dir=tmp_path, quiet=True)
    made = (folder / "meta.json").stat().st_mtime_ns
    assert decoded.ensure(src, sample_rate=16000, data_dir=tmp_path, quiet=True) == folder
    assert (folder / "meta.json").stat().st_mtime_ns == made  # unchanged: reused
    louder = 0.5 * clip_corpus["clips"][1][-1]
    audiojax.save(root / rows[1][0], louder, 16000)
    os.utime(root / rows[1][0], ns=(made + 10**9, made + 10**9))
    reader = pickle.dumps(decoded.DecodedSource(src, folder))  # a worker's copy, opened later
    decoded.ensure(src, sample_rate=16000, data_dir=tmp_path, quiet=True)
    np.testing.assert_array_equal(decode_record(decoded.DecodedSource(src, folder)[1], 16000),
                                  audiojax.load(root / rows[1][0])[0])
    with pytest.raises(RuntimeError, match="was made again"):  # not the old indices on new data
        pickle.loads(reader)[0]


@pytest.mark.parametrize("train,workers", [(True, 0), (False, 0), (True, 2)])
def test_device_batches_are_the_host_batches_and_resume_on_the_next_one(clip_corpus, tmp_path,
                                                                         train, workers):
    """With as many loader workers (grain forms batches per worker), and 2 of them too."""
    src = ManifestSource(clip_corpus["manifest"])
    folder = decoded.ensure(src, sample_rate=16000, data_dir=tmp_path, quiet=True)
    # eval: one pass of 12 clips in batches of 5, the last one padded with masked rows
    n, size = (6, 4) if train else (3, 5)
    host = list(_take(iter(_loader(src, train=train, batch_size=size, worker_count=workers)), n))
    device, _ = _device_batches(src, folder, n, train=train, batch_size=size,
                                worker_count=workers)
    _same(host, device)
    if train:
        assert any(b["length"].min() < MAX for b in host) and any(b["length"].max() == MAX for b in host)
        _, state = _device_batches(src, folder, 3, train=True, worker_count=workers)
        resumed, _ = _device_batches(src, folder, 3, state=state, train=True, worker_count=workers)
        _same(host[3:], resumed)
    else:
        assert not host[-1]["mask"].all()


def test_windows_centred_on_the_speech_are_the_host_windows(clip_corpus, tmp_path):
    src = ManifestSource(clip_corpus["manifest"])
    folder = decoded.ensure(src, sample_rate=16000, data_dir=tmp_path, quiet=True)
    host = list(_take(iter(_loader(src, train=True, center=True)), 4))
    device, _ = _device_batches(src, folder, 4, center=True, train=True)
    _same(host, device)


def _take(it, n):
    for _ in range(n):
        yield next(it)


@pytest.fixture
def bad_manifest(clip_corpus, tmp_path):
    good = [str(clip_corpus["dir"] / rel) for rel, *_ in clip_corpus["clips"][:3]]
    audiojax.save(tmp_path / "trunc.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "trunc.wav").write_bytes((tmp_path / "trunc.wav").read_bytes()[:2000])
    write_manifest(tmp_path / "train.tsv", [(good[0], "no"), ("trunc.wav", "yes"),
                                            (good[1], "up"), (good[2], "no")])
    return tmp_path / "train.tsv"


def test_a_record_that_does_not_decode_is_met_as_from_the_files(bad_manifest, tmp_path):
    src = ManifestSource(bad_manifest)
    with pytest.raises(BadExampleError, match=r"train\.tsv:2: trunc\.wav: truncated"):
        decoded.ensure(src, sample_rate=16000, data_dir=tmp_path / "d", quiet=True)
    folder = decoded.ensure(src, sample_rate=16000, data_dir=tmp_path / "d", on_bad="skip",
                            quiet=True)
    skipped = []
    for source in (src, decoded.DecodedSource(src, folder)):
        it = iter(_loader(source, train=False, on_bad="skip"))
        batches = list(it)
        skipped.append(dict(it.skipped))
        assert [b["mask"].tolist() for b in batches] == [[True, False, True, True]]
    assert skipped[0] == skipped[1] and len(skipped[0]) == 1
    device, _ = _device_batches(src, folder, 1, train=False, on_bad="skip")
    assert device[0]["mask"].tolist() == [True, False, True, True]
    assert not device[0]["audio"][1].any()
    with pytest.raises(BadExampleError, match=r"train\.tsv:2: trunc\.wav: truncated"):
        _device_batches(src, folder, 1, train=False)


def _config(tmp_path, source, cache, cache_bytes=4 << 30):
    c = ml_collections.ConfigDict()
    c.seed = 3
    c.data = ml_collections.ConfigDict(dict(
        source=str(source), sample_rate=16000, max_seconds=MAX / 16000, train_seconds=0.0,
        bucket_seconds=(), num_workers=0, on_bad="error", center="none", data_dir=str(tmp_path),
        cache=cache, cache_bytes=cache_bytes))
    return c


def test_a_split_over_the_budget_stays_on_the_host(clip_corpus, tmp_path, capsys):
    src = ManifestSource(clip_corpus["manifest"])
    fits = splits.loader_for(_config(tmp_path, clip_corpus["manifest"], "device"), src, LABELS,
                             train=True, batch_size=4)
    assert fits.device_cache is not None
    assert "the training split's 12 records (0.00 GB) go to every device" in capsys.readouterr().out
    small = splits.loader_for(_config(tmp_path, clip_corpus["manifest"], "device", 10_000), src,
                              LABELS, train=True, batch_size=4)
    assert small.device_cache is None
    assert ("data.cache=device: the training split stays on the host (its 0.00 GB of int16 "
            "waveforms exceed data.cache_bytes=0.00 GB per device)") in capsys.readouterr().out
    host = list(_take(iter(_loader(src, train=True)), 3))
    _same(host, list(_take(iter(small), 3)))  # the decoded records, read on the host


def test_training_with_the_split_on_the_devices_is_training_from_the_files(
        tiny_commands, tiny_data_dir, tmp_path, run_cli, checkpoints):
    from audiojax.train.loop import SIGNAL_AT_STEP

    common = ["--config", "experiments/kws_compact_cnn.py:tiny", "--config.num_train_steps=4",
              "--config.checkpoint_every_steps=2", "--config.evals.validation.every_steps=4",
              "--config.parallel=pmap", "--config.data.num_workers=2"]
    run_cli(["train", *common, "--workdir", tmp_path / "files"], tiny_data_dir, devices=2)
    # Stopped after step 2 reading files, resumed with the split on the devices (its steps 3
    # and 4 cut from the cache): the same run.
    run_cli(["train", *common, "--workdir", tmp_path / "mixed"], tiny_data_dir, devices=2,
            check=False, env={SIGNAL_AT_STEP: "2:TERM"})
    out = run_cli(["train", *common, "--config.data.cache=device", "--workdir", tmp_path / "mixed"],
                  tiny_data_dir, devices=2)
    assert "resuming" in out.stdout and "go to every device" in out.stdout
    checkpoints.assert_same(checkpoints.params(tmp_path / "files", 4),
                            checkpoints.params(tmp_path / "mixed", 4), rtol=1e-5, atol=1e-6)
    rows = [json.loads(line) for line in (tmp_path / "mixed" / "metrics.jsonl").open()]
    waits = [r["input_wait_fraction"] for r in rows if r["split"] == "train"]
    assert len(waits) == 2 and all(0.0 <= w < 1.0 for w in waits)


def test_data_cache_command_decodes_splits_once(clip_corpus, tmp_path, cli_main):
    code, out, _ = cli_main("data", "cache", clip_corpus["dir"], "--splits", "train",
                            "--data-dir", tmp_path)
    assert code == 0
    folder = decoded.folder_for(ManifestSource(clip_corpus["manifest"]), 16000, tmp_path)
    assert out.startswith(f"train: {folder}: 12 records, ") and (folder / "audio.int16").is_file()
    code, _, err = cli_main("data", "cache", clip_corpus["dir"], "--splits", "test",
                            "--data-dir", tmp_path)
    assert code == 2 and err.startswith("audiojax data: error: ") and "test.tsv" in err
