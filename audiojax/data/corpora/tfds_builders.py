"""TFDS builders for the local corpora, readable without TensorFlow (array_record).

Importing this module registers ``audiojax_commands`` and ``audiojax_sentences`` with configs
``tiny``, ``small``, ``full`` and ``large``. They read the WAV corpus that
:func:`audiojax.data.corpora.build` wrote: the corpus folder is taken from the download
config's ``manual_dir`` when given, else ``corpus_dir(DATA_DIR, name, size)`` where the TFDS
data dir is ``DATA_DIR/tfds``. Read with::

    import audiojax.data.corpora.tfds_builders  # registers the builders
    ds = tfds.data_source("audiojax_commands/tiny", data_dir=DATA_DIR / "tfds")

Features: ``audio`` int16 ``Tensor(shape=(None,))`` at 16 kHz, ``label`` (``ClassLabel`` of the
35 words / ``Text`` transcript), ``speaker`` and ``id`` (``Text``; ``id`` is the WAV path
relative to the corpus folder, without ``.wav``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import tensorflow_datasets as tfds
from tensorflow_datasets.core import shuffle

from audiojax.data import CORPUS_SPLITS, corpus_dir
from audiojax.data.corpora.commands import WORDS

SIZES = ("tiny", "small", "full", "large")
IN_MEMORY_BYTES = 16 << 30  # largest split TFDS keeps in memory while writing
MARKER = "audiojax_corpus.json"  # written next to dataset_info.json: which WAV build it holds


class _LocalCorpus(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version("1.3.0")
    RELEASE_NOTES = {"1.0.0": "First version.", "1.1.0": "Audio stored as raw int16 bytes.",
                     "1.2.0": "A test_clean split: the test clips without room, noise or channel.",
                     "1.3.0": "Splits from the checked-in voice table; several recordings of each "
                              "training clip; dry training clips."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=s, description=f"{s} size") for s in SIZES]
    CORPUS = ""

    def _label_feature(self):
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=f"audiojax synthetic '{self.CORPUS}' corpus (offline TTS voices, "
                        "simulated rooms and noise), speaker-disjoint splits.",
            features=tfds.features.FeaturesDict({
                # Raw bytes: as int64 varints a clip takes ~3x the space, and TFDS spills
                # splits over 1 GB to disk through TensorFlow, which is not installed.
                "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16,
                                              encoding=tfds.features.Encoding.BYTES),
                "label": self._label_feature(),
                "speaker": tfds.features.Text(),
                "id": tfds.features.Text(),
            }),
            supervised_keys=("audio", "label"),
            homepage="https://github.com/audiojax",
        )

    def corpus_root(self, dl_manager=None) -> Path:
        manual = None
        if dl_manager is not None:
            try:
                manual = dl_manager.manual_dir
            except Exception:  # noqa: BLE001 - tfds asserts when it does not exist
                manual = None
        if manual is not None and (Path(manual) / "info.json").exists():
            return Path(manual)
        root = corpus_dir(Path(self.data_dir_root).parent, self.CORPUS, self.builder_config.name)
        if not (root / "info.json").exists():
            raise FileNotFoundError(
                f"no built '{self.CORPUS}' corpus at {root}: run "
                f"`audiojax data build {self.CORPUS} --size {self.builder_config.name}` first")
        return root

    def _split_generators(self, dl_manager):
        root = self.corpus_root(dl_manager)
        return {split: self._generate_examples(root, split) for split in CORPUS_SPLITS}

    def _generate_examples(self, root: Path, split: str):
        for line in (root / f"{split}.tsv").read_text().splitlines():
            if not line.strip():
                continue
            rel, label, speaker = line.split("\t")[:3]
            audio, sr = sf.read(str(root / rel), dtype="int16")
            if sr != 16000 or audio.ndim != 1:
                raise ValueError(f"{root / rel}: expected 16 kHz mono, got {sr} Hz {audio.shape}")
            key = rel[:-4] if rel.endswith(".wav") else rel
            yield key, {"audio": audio, "label": label, "speaker": speaker, "id": key}


class AudiojaxCommands(_LocalCorpus):
    """Keyword spotting: the 35 Speech Commands v2 words, 1 s clips."""

    CORPUS = "commands"

    def _label_feature(self):
        return tfds.features.ClassLabel(names=list(WORDS))


class AudiojaxSentences(_LocalCorpus):
    """Speech recognition: short English sentences, transcripts in a-z, apostrophe, space."""

    CORPUS = "sentences"

    def _label_feature(self):
        return tfds.features.Text()


BUILDERS = {"commands": AudiojaxCommands, "sentences": AudiojaxSentences}


def prepare(name: str, size: str, data_dir: str | Path, corpus_root: Path, fingerprint: str,
            progress: bool = True) -> Path:
    """Builds (or reuses) the TFDS copy of a WAV corpus; returns the dataset's folder."""
    tfds_dir = Path(data_dir) / "tfds"
    builder = BUILDERS[name](config=size, data_dir=str(tfds_dir), file_format="array_record")
    version_dir = Path(builder.data_dir)
    marker = version_dir / MARKER
    if marker.exists():
        try:
            if json.loads(marker.read_text()).get("fingerprint") == fingerprint:
                return version_dir
        except (OSError, ValueError):
            pass
    if version_dir.exists():  # stale copy of another build
        import shutil
        shutil.rmtree(version_dir)
        builder = BUILDERS[name](config=size, data_dir=str(tfds_dir), file_format="array_record")
    if not progress:
        tfds.display_progress_bar(False)
    # TFDS spills a split larger than its in-memory buffer (1 GB) to disk through tf.io.gfile,
    # and TensorFlow is not installed: the buffer is raised for this build (sentences/large's
    # training split is 2.4 GB; the machine has the memory).
    spill_at = shuffle.MAX_MEM_BUFFER_SIZE
    shuffle.MAX_MEM_BUFFER_SIZE = max(spill_at, IN_MEMORY_BYTES)
    try:
        builder.download_and_prepare(
            file_format="array_record",
            download_config=tfds.download.DownloadConfig(manual_dir=str(corpus_root)))
    finally:
        shuffle.MAX_MEM_BUFFER_SIZE = spill_at
        if not progress:
            tfds.display_progress_bar(True)
    marker.write_text(json.dumps({"fingerprint": fingerprint, "corpus": str(corpus_root)}))
    return version_dir
