"""Sources: manifests, a local TFDS builder (array_record, no TF), TFDS catalog datasets (mocked)."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

import audiojax
from audiojax.data import sources
from audiojax.data.manifest import ManifestError, parse_manifest, read_manifest, write_manifest
from audiojax.data.pipeline import make_loader
from audiojax.data.sources import (CatalogError, ManifestSource, TfdsSource, decode_record,
                                   labels_of, open_source)

# ----------------------------------------------------------------------------------------------
# Manifests


def test_manifest_round_trip(tmp_path, clip_corpus):
    rows = [(str(clip_corpus["dir"] / rel), label, spk) for rel, label, spk, _ in clip_corpus["clips"]]
    rows[1] = rows[1][:2]  # no speaker
    manifest = clip_corpus["dir"] / "copy.tsv"
    assert write_manifest(manifest, rows) == 12
    lines = manifest.read_text().splitlines()
    assert lines[0] == "wav/clip00.wav\tno\tspk0"  # written relative to the manifest's folder
    assert lines[1] == "wav/clip01.wav\tup"
    src = ManifestSource(manifest)
    assert len(src) == 12
    rec = src[1]
    assert rec == {"audio": str(clip_corpus["dir"] / "wav/clip01.wav"), "sample_rate": None,
                   "label": "up", "speaker": "", "id": "wav/clip01.wav", "origin": f"{manifest}:2"}
    for i, (_, label, _, y) in enumerate(clip_corpus["clips"]):
        np.testing.assert_array_equal(decode_record(src[i], 16000), y)
        assert src[i]["label"] == label
    # absolute paths outside the manifest's folder stay absolute
    other = tmp_path / "elsewhere.tsv"
    write_manifest(other, rows[:1])
    assert other.read_text() == f"{rows[0][0]}\tno\tspk0\n"
    np.testing.assert_array_equal(decode_record(ManifestSource(other)[0], 16000), clip_corpus["clips"][0][3])


def test_manifest_blank_lines_and_malformed_lines(tmp_path):
    m = tmp_path / "m.tsv"
    m.write_text("a.wav\tyes\n\n   \r\nb.wav\tno\tbob\r\nc.wav\n\tyes\nd.wav\t\ne.wav\t1\t2\t3\n")
    entries, errors = parse_manifest(m)
    assert [(e.line, e.path, e.label, e.speaker) for e in entries] == [(1, "a.wav", "yes", ""),
                                                                      (4, "b.wav", "no", "bob")]
    assert [str(e) for e in errors] == [
        f"{m}:5: malformed line: expected path<TAB>label[<TAB>speaker], got 1 column (no tab)",
        f"{m}:6: malformed line: empty path",
        f"{m}:7: malformed line: empty label",
        f"{m}:8: malformed line: expected path<TAB>label[<TAB>speaker], got 4 columns",
    ]
    with pytest.raises(ManifestError, match=r"m\.tsv:5: malformed line"):
        read_manifest(m)
    with pytest.raises(ManifestError, match=r"m\.tsv:5: "):
        ManifestSource(m)
    with pytest.raises(ValueError, match="tab"):
        write_manifest(tmp_path / "x.tsv", [("a\tb.wav", "yes")])


def test_labels_from_info_json_or_train_manifest(tmp_path, clip_corpus):
    assert ManifestSource(clip_corpus["manifest"]).labels is None
    assert labels_of(ManifestSource(clip_corpus["manifest"])) == ["no", "up", "yes"]
    write_manifest(tmp_path / "val.tsv", [(str(clip_corpus["dir"] / "wav/clip00.wav"), "no")])
    (tmp_path / "info.json").write_text(json.dumps({"labels": ["yes", "no", "up"]}))
    src = ManifestSource(tmp_path / "val.tsv")
    assert src.labels == ["yes", "no", "up"] and labels_of(src) == ["yes", "no", "up"]


def test_open_source_specs(tmp_path, clip_corpus):
    m = clip_corpus["manifest"]
    assert len(open_source(f"manifest:{m}")) == 12
    assert len(open_source(str(m))) == 12
    assert len(open_source(f"manifest:{m.parent}", split="train")) == 12
    corpus = tmp_path / "commands_small"
    corpus.mkdir()
    write_manifest(corpus / "validation.tsv", [(str(clip_corpus["dir"] / "wav/clip03.wav"), "no", "s")])
    src = open_source("commands/small", "validation", data_dir=tmp_path)
    assert isinstance(src, ManifestSource) and src[0]["id"] == str(clip_corpus["dir"] / "wav/clip03.wav")
    with pytest.raises(FileNotFoundError, match="build the corpus"):
        open_source("sentences", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown data source"):
        open_source("nonsense", "train", data_dir=tmp_path)


# ----------------------------------------------------------------------------------------------
# A local TFDS builder like audiojax_commands: int16 Tensor audio, array_record, no TF needed.

_TINY_LABELS = ["no", "up", "yes"]


class AudiojaxTinyTest(tfds.core.GeneratorBasedBuilder):
    """Writes the clips of a manifest (path given through the builder config's description)."""

    VERSION = tfds.core.Version("1.0.0")
    manifest_path: str = ""

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16),
                "label": tfds.features.ClassLabel(names=_TINY_LABELS),
                "speaker": tfds.features.Text(),
                "id": tfds.features.Text(),
            }),
            metadata=tfds.core.MetadataDict(sample_rate=16000),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for entry in read_manifest(type(self).manifest_path):
            y, _ = audiojax.load(entry.audio_path)
            pcm = np.round(y * 32768.0).clip(-32768, 32767).astype(np.int16)
            yield entry.path, {"audio": pcm, "label": entry.label, "speaker": entry.speaker, "id": entry.path}


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory, clip_corpus):
    data_dir = tmp_path_factory.mktemp("data") / "tfds"
    AudiojaxTinyTest.manifest_path = str(clip_corpus["manifest"])
    builder = AudiojaxTinyTest(data_dir=str(data_dir), file_format="array_record")
    builder.download_and_prepare()
    return data_dir


def test_tfds_source_matches_manifest(tiny_tfds, clip_corpus):
    src = TfdsSource("audiojax_tiny_test", "train", tiny_tfds)
    man = ManifestSource(clip_corpus["manifest"])
    assert len(src) == len(man) == 12
    assert src.labels == _TINY_LABELS and src.sample_rate == 16000
    by_id = {man[i]["id"]: man[i] for i in range(len(man))}
    for i in range(len(src)):
        rec = src[i]
        assert rec["origin"] == f"tfds:audiojax_tiny_test/train[{i}]"
        assert rec["audio"].dtype == np.int16 and rec["sample_rate"] == 16000
        ref = by_id[rec["id"]]
        assert (rec["label"], rec["speaker"]) == (ref["label"], ref["speaker"])
        # same audio through either source: 16-bit samples both ways, so exactly equal
        np.testing.assert_array_equal(decode_record(rec, 16000), decode_record(ref, 16000))
    # spec form, from DATA_DIR/tfds
    assert len(open_source("tfds:audiojax_tiny_test", "train", data_dir=tiny_tfds.parent)) == 12


def test_tfds_source_through_pipeline_with_workers(tiny_tfds):
    """The TFDS source reopens itself in grain's worker processes (spawned, no builder class)."""
    src = TfdsSource("audiojax_tiny_test", "train", tiny_tfds)
    lookup = {n: i for i, n in enumerate(src.labels)}
    batches = {w: list(make_loader(src, sample_rate=16000, batch_size=5, train=False, max_length=8000,
                                   label_to_id=lookup, worker_count=w, shard_index=0, shard_count=1))
               for w in (0, 2)}
    for w, bs in batches.items():
        ids = np.concatenate([b["id"][b["mask"]] for b in bs])
        assert sorted(ids) == sorted(src[i]["id"] for i in range(12)), w
    ref = {i: (a, l) for b in batches[0] for i, a, l, m in zip(b["id"], b["audio"], b["label"], b["mask"]) if m}
    for b in batches[2]:
        for i, a, l, m in zip(b["id"], b["audio"], b["label"], b["mask"]):
            if m:
                np.testing.assert_array_equal(a, ref[i][0])
                assert l == ref[i][1]


# ----------------------------------------------------------------------------------------------
# TFDS catalog datasets, offline with tfds.testing.mock_data.
#
# Every audio dataset of the TFDS catalog declares `tfds.features.Audio`, whose constructor calls
# TensorFlow (`tf.dtypes.as_dtype`), so without TF even a mocked builder cannot be constructed.
# With TF absent (the default install), the tests below stand in for that one call with numpy;
# mock_data then serves random examples through `tfds.data_source` exactly as for a prepared
# array_record dataset, and our code runs unchanged.


def _tensorflow_installed() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def audio_feature_without_tf(monkeypatch):
    if _tensorflow_installed():
        return
    from tensorflow_datasets.core.features import audio_feature

    fake_tf = types.SimpleNamespace(dtypes=types.SimpleNamespace(as_dtype=np.dtype), string=object)
    monkeypatch.setattr(audio_feature, "tf", fake_tf)


def _mock(num_examples=10):
    return tfds.testing.mock_data(num_examples=num_examples, policy=tfds.testing.MockPolicy.USE_CODE)


def test_catalog_speech_commands_flows_through_pipeline(audio_feature_without_tf):
    with _mock(10):
        src = open_source("tfds:speech_commands", "validation")
        assert isinstance(src, TfdsSource) and len(src) == 10 and src.sample_rate == 16000
        assert src.labels[:3] == ["down", "go", "left"] and len(src.labels) == 12
        rec = src[3]
        assert rec["label"] in src.labels and rec["origin"] == "tfds:speech_commands/validation[3]"
        assert rec["id"] == "speech_commands/validation[3]" and rec["audio"].dtype == np.int16
        lookup = {n: i for i, n in enumerate(src.labels)}
        batches = list(make_loader(src, sample_rate=16000, batch_size=4, train=False, max_length=16000,
                                   label_to_id=lookup, shard_index=0, shard_count=1))
    assert len(batches) == 3
    mask = np.concatenate([b["mask"] for b in batches])
    assert mask.sum() == 10
    lengths = np.concatenate([b["length"] for b in batches])[mask]
    expected = [min(len(src[i]["audio"]), 16000) for i in range(10)]
    np.testing.assert_array_equal(lengths, expected)
    first = batches[0]
    n = int(first["length"][0])
    np.testing.assert_allclose(first["audio"][0, :n], src[0]["audio"][:n] / 32768.0, rtol=1e-6)
    assert first["label"][0] == lookup[src[0]["label"]]


@pytest.mark.parametrize("name,fields", [
    ("librispeech", ("speech", "text", "speaker_id", "id")),
    ("crema_d", ("audio", "label", "speaker_id", None)),
    ("nsynth", ("audio", "instrument/family", None, "id")),
])
def test_catalog_field_tables(audio_feature_without_tf, name, fields):
    if name == "nsynth" and not _tensorflow_installed():
        pytest.skip("nsynth's builder uses tf.string in _info: needs TF")
    with _mock(3):
        src = TfdsSource(name, "train")
        got = tuple(src.fields.get(k) for k in ("audio", "label", "speaker", "id"))
        assert got == fields
        rec = src[1]
        assert isinstance(rec["label"], str) and rec["label"]
        assert rec["audio"].ndim == 1 and rec["sample_rate"] == src.sample_rate
        if fields[2]:
            assert rec["speaker"] != ""
        y = decode_record(rec, 16000)
        assert y.dtype == np.float32 and np.all(np.isfinite(y))


def test_catalog_needs_tensorflow_message():
    if _tensorflow_installed():
        pytest.skip("TensorFlow is installed")
    with _mock(3), pytest.raises(CatalogError, match=r"pip install 'audiojax\[catalog\]'"):
        TfdsSource("speech_commands", "train")


def test_tensorflow_is_hidden_from_gpus(monkeypatch):
    calls = []
    fake = types.ModuleType("tensorflow")
    fake.config = types.SimpleNamespace(set_visible_devices=lambda devices, kind: calls.append((devices, kind)))
    monkeypatch.setitem(sys.modules, "tensorflow", fake)
    assert sources._hide_gpus_from_tensorflow() is True
    assert calls == [([], "GPU")]
