"""Random-access sources of labelled clips behind one interface.

A source has ``len(source)`` and ``source[i]``, which returns a *record*::

    {"audio": path str, or np.ndarray int16/float ((samples,) or (samples, channels)),
     "sample_rate": int, or None when audio is a path (the file says),
     "label": str (class name, or transcript for speech recognition),
     "speaker": str ("" when unknown),
     "id": str (unique within the source),
     "origin": "train.tsv:12" or "tfds:speech_commands/train[17]"}

plus any extra signals the source declares in ``signals`` (``{name: Signal}``: a clean target
waveform, the sources of a mixture, a frame-level event roll), each under its name in the
record: a path or array like ``audio`` for a waveform, an array ``(frames, ...)`` for a signal
at a frame rate. Besides ``len`` and indexing, a source has ``labels`` (the class names in id
order, or None when the source does not know them), ``sample_rate`` (the native rate when
known, else None), ``signals`` and a stable ``repr`` (grain checks it when an iterator state is
restored). Sources are picklable: grain's worker processes get a copy.

* :class:`ManifestSource`: any TSV in the article's format (see :mod:`audiojax.data.manifest`).
* :class:`TfdsSource`: ``tfds.data_source`` over the local builders (``audiojax_commands``,
  ``audiojax_sentences``) or over TFDS catalog datasets prepared as array_record. Catalog audio
  datasets use ``tfds.features.Audio``, which needs TensorFlow: it is imported only on that path,
  with GPUs hidden from it at once (``pip install 'audiojax[catalog]'``).
* :func:`open_source` turns a spec string (``manifest:PATH``, ``PATH.tsv``, ``tfds:NAME``,
  ``commands``, ``sentences/small``, ``python:pkg.module:factory``) into one of them.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol, Sequence

import numpy as np

from audiojax import audio as audio_lib
from audiojax.data import corpus_dir, default_data_dir, local_spec, source_parts
from audiojax.data.corpora import CORPORA
from audiojax.data.manifest import CLIP_COLUMNS, Column, ManifestError, parse_manifest

__all__ = [
    "BadExampleError",
    "CatalogError",
    "ConcatSource",
    "FileListSource",
    "ManifestError",
    "ManifestSource",
    "Signal",
    "Source",
    "TfdsSource",
    "decode_record",
    "labels_of",
    "open_source",
]

LOCAL_CORPORA = tuple(CORPORA)   # the corpora `audiojax data build` makes
CATALOG_EXTRA_HINT = "pip install 'audiojax[catalog]'"


@dataclasses.dataclass(frozen=True)
class Signal:
    """An extra per-example signal of a source: ``hop_length`` 1 for a waveform at the audio's
    rate (a path or an array, decoded and resampled like ``audio``), else the samples per frame
    of an array ``(frames, ...)`` at that frame rate (frame ``i`` covers samples
    ``[i * hop_length, (i + 1) * hop_length)`` of the audio) whose frames have ``frame_shape``
    (``(num_classes,)`` for an event roll)."""

    hop_length: int = 1
    frame_shape: tuple[int, ...] = ()

    @property
    def waveform(self) -> bool:
        return self.hop_length == 1


class Source(Protocol):
    labels: list[str] | None
    sample_rate: int | None
    signals: Mapping[str, Signal]

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> dict[str, Any]: ...


class BadExampleError(ValueError):
    """An example that cannot be used: ``ORIGIN: ID: PROBLEM`` (the data check's wording)."""

    def __init__(self, origin: str, example_id: str, problem: str):
        self.origin, self.example_id, self.problem = origin, example_id, problem
        super().__init__(f"{origin}: {example_id}: {problem}")

    def __reduce__(self):  # survives the trip from a grain worker process
        return (BadExampleError, (self.origin, self.example_id, self.problem))


class CatalogError(RuntimeError):
    """A TFDS dataset that cannot be opened here, with what to do about it."""


# ----------------------------------------------------------------------------------------------
# Manifests


class ManifestSource:
    """Clips listed in a manifest (``path<TAB>label[<TAB>speaker]``, or the ``columns`` a task
    declares: every audio column but ``audio`` is an extra waveform signal of the record).

    Args:
      path: the manifest. Malformed lines raise :class:`ManifestError` (``file:line``) here,
        before any training starts...
      labels: class names in id order. Default: ``labels`` of an ``info.json`` next to the
        manifest (the local corpora write one), else None (see :func:`labels_of`).
      skip_malformed: ... unless True: then they are left out and listed in ``self.malformed``
        (the messages), for the caller to report.
      columns: the manifest's columns (default: the article's clip manifest).
    """

    def __init__(self, path: str | os.PathLike, labels: Sequence[str] | None = None,
                 skip_malformed: bool = False, columns: Sequence[Column] = CLIP_COLUMNS):
        self.path = str(path)
        entries, errors = parse_manifest(path, columns)
        if errors and not skip_malformed:
            raise errors[0]
        self.malformed = [str(e) for e in errors]
        self.signals = {c.name: Signal() for c in columns if c.kind == "audio" and c.name != "audio"}
        self._audio = [e.audio_path for e in entries]
        self._label = [e.label for e in entries]
        self._speaker = [e.speaker for e in entries]
        self._id = [e.path for e in entries]
        self._line = [e.line for e in entries]
        self._signals = [{name: e.paths[name] for name in self.signals} for e in entries]
        self.labels = list(labels) if labels is not None else info_labels(Path(path).parent)
        self.sample_rate = None

    def __len__(self) -> int:
        return len(self._audio)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "audio": self._audio[index],
            "sample_rate": None,
            "label": self._label[index],
            "speaker": self._speaker[index],
            "id": self._id[index],
            "origin": f"{self.path}:{self._line[index]}",
            **self._signals[index],
        }

    def unique_labels(self) -> list[str]:
        """Sorted distinct labels of this manifest."""
        return sorted(set(self._label))

    def with_speakers(self, speakers: Iterable[str]) -> "ManifestSource":
        """The clips of these speakers only (in manifest order, lines kept for messages)."""
        speakers = set(speakers)
        keep = [i for i, s in enumerate(self._speaker) if s in speakers]
        if not keep:
            raise ValueError(f"{self.path}: no clips of the speakers asked for ({sorted(speakers)[:5]}...)")
        out = copy.copy(self)
        for name in ("_audio", "_label", "_speaker", "_id", "_line", "_signals"):
            setattr(out, name, [getattr(self, name)[i] for i in keep])
        return out

    def __repr__(self) -> str:
        return f"ManifestSource({str(Path(self.path).resolve())!r}, n={len(self)})"


class FilesSource:
    """Audio files as a source without labels (inference on files): ``origin`` names what
    listed them in the errors about them."""

    labels = None
    sample_rate = None
    signals: Mapping[str, Signal] = {}

    def __init__(self, files: Sequence[str], origin: str):
        self.files, self.origin = list(files), origin

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        return {"audio": path, "sample_rate": None, "label": "", "speaker": "", "id": path,
                "origin": self.origin}


def info_labels(folder: Path) -> list[str] | None:
    info = folder / "info.json"
    if not info.is_file():
        return None
    try:
        labels = json.loads(info.read_text()).get("labels")
    except (ValueError, AttributeError):
        return None
    return [str(x) for x in labels] if labels else None


def labels_of(source: Source, train_source: Source | None = None) -> list[str]:
    """Class names for a label mapping: ``source.labels`` when known, else the sorted distinct
    labels of ``train_source`` (or of ``source``)."""
    if getattr(source, "labels", None):
        return list(source.labels)
    ref = train_source if train_source is not None else source
    if hasattr(ref, "unique_labels"):
        return ref.unique_labels()
    return sorted({ref[i]["label"] for i in range(len(ref))})


# ----------------------------------------------------------------------------------------------
# TFDS

# Which feature holds what, per catalog dataset (keys: audio, label, speaker, id); missing keys
# fall back to _DEFAULT_FIELDS when that feature exists. ClassLabel ints become their names.
CATALOG_FIELDS: dict[str, dict[str, str]] = {
    "speech_commands": {"audio": "audio", "label": "label"},
    "spoken_digit": {"audio": "audio", "label": "label", "id": "audio/filename"},
    "nsynth": {"audio": "audio", "label": "instrument/family", "id": "id"},
    "gtzan_music_speech": {"audio": "audio", "label": "label", "id": "audio/filename"},
    "gtzan": {"audio": "audio", "label": "label", "id": "audio/filename"},
    "crema_d": {"audio": "audio", "label": "label", "speaker": "speaker_id"},
    "savee": {"audio": "audio", "label": "label", "speaker": "speaker_id"},
    "librispeech": {"audio": "speech", "label": "text", "speaker": "speaker_id", "id": "id"},
    "ljspeech": {"audio": "speech", "label": "text", "id": "id"},
    "vctk": {"audio": "speech", "label": "text", "speaker": "speaker"},
    "yes_no": {"audio": "audio", "label": "label"},
}
_DEFAULT_FIELDS = {"audio": "audio", "label": "label", "speaker": "speaker", "id": "id"}
LOCAL_SAMPLE_RATE = 16000  # the local corpora's builders (audiojax_*) store 16 kHz int16


def _hide_gpus_from_tensorflow() -> bool:
    """Imports TensorFlow if installed and hides every GPU from it (JAX keeps the accelerator
    memory). Returns whether TensorFlow is available."""
    try:
        import tensorflow as tf  # noqa: PLC0415 (optional, heavy)
    except ImportError:
        return False
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass  # TF already initialised its devices; nothing more can be done here
    return True


def _register_local_builders() -> None:
    try:
        importlib.import_module("audiojax.data.corpora.tfds_builders")
    except Exception as e:  # noqa: BLE001 - read-only builders still open from dataset_info.json
        logging.getLogger(__name__).warning("local TFDS builders not registered: %s", e)


def _get_feature(example: Mapping[str, Any], key: str):
    node: Any = example
    for part in key.split("/"):
        if isinstance(node, Mapping) and key in node:  # flat keys such as "audio/filename"
            return node[key]
        node = node[part]
    return node


def _has_feature(features, key: str) -> bool:
    try:
        _get_feature(features, key)
        return True
    except (KeyError, TypeError):
        return False


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        value = value.item()
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return str(value)


class TfdsSource:
    """A split of a TFDS dataset read through ``tfds.data_source`` (array_record, no TF needed
    for the local builders).

    Args:
      name: ``audiojax_commands/small``, ``speech_commands``, ``nsynth/gansynth_subset``, ...
      split: TFDS split (``train``, ``validation``, ``test``, slices like ``train[:10%]``).
      data_dir: TFDS data dir (None: TFDS's default, ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
      sample_rate: the audio's rate when the dataset does not say (neither an ``Audio`` feature's
        ``sample_rate`` nor ``sample_rate`` in the builder's metadata); the local ``audiojax_*``
        builders default to 16 kHz.
      fields: override of the feature names (keys ``audio``, ``label``, ``speaker``, ``id``).
    """

    signals: Mapping[str, Signal] = {}

    def __init__(
        self,
        name: str,
        split: str,
        data_dir: str | os.PathLike | None = None,
        *,
        sample_rate: int | None = None,
        fields: Mapping[str, str] | None = None,
    ):
        import tensorflow_datasets as tfds  # noqa: PLC0415

        self.name, self.split = name, split
        self.data_dir = str(data_dir) if data_dir is not None else None
        self._args = (name, split, self.data_dir, sample_rate, dict(fields) if fields else None)
        base = name.split("/")[0].split(":")[0]
        if base.startswith("audiojax_"):
            _register_local_builders()
        else:
            _hide_gpus_from_tensorflow()
        try:
            self._ds = tfds.data_source(name, split=split, data_dir=self.data_dir, download=False)
        except ModuleNotFoundError as e:
            if "tensorflow" in str(e):
                raise CatalogError(
                    f"tfds:{name}: its audio feature needs TensorFlow, which is not installed: "
                    f"{CATALOG_EXTRA_HINT}") from None
            raise
        except tfds.core.DatasetNotFoundError as e:
            raise CatalogError(
                f"tfds:{name}: not prepared in {self.data_dir or 'the TFDS data dir'}; prepare it "
                f"with `tfds build {name} --file_format=array_record` (needs internet and "
                f"{CATALOG_EXTRA_HINT}) or pass the data dir that holds it ({e})") from None
        except (ValueError, NotImplementedError) as e:
            if "array_record" in str(e).lower() or "file_format" in str(e).lower():
                raise CatalogError(
                    f"tfds:{name}: random access needs the array_record format; rebuild it with "
                    f"`tfds build {name} --file_format=array_record` ({e})") from None
            raise
        info = self._ds.dataset_info
        features = info.features
        table = CATALOG_FIELDS.get(base, {})
        self.fields = {}
        for key in ("audio", "label", "speaker", "id"):
            chosen = (fields or {}).get(key) or table.get(key) or _DEFAULT_FIELDS[key]
            if _has_feature(features, chosen):
                self.fields[key] = chosen
        if "audio" not in self.fields:
            raise CatalogError(f"tfds:{name}: no audio feature found (features: {list(features.keys())}); "
                               f"pass fields={{'audio': NAME}}")
        audio_feature = _get_feature(features, self.fields["audio"])
        self.sample_rate = (getattr(audio_feature, "sample_rate", None)
                            or (info.metadata or {}).get("sample_rate") or sample_rate
                            or (LOCAL_SAMPLE_RATE if base.startswith("audiojax_") else None))
        if self.sample_rate is None:
            raise CatalogError(f"tfds:{name}: the dataset does not state its sample rate; pass sample_rate=")
        self.sample_rate = int(self.sample_rate)
        label_feature = _get_feature(features, self.fields["label"]) if "label" in self.fields else None
        names = getattr(label_feature, "names", None)
        self.labels = list(names) if names else None
        self._label_names = self.labels

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        ex = self._ds[index]
        origin = f"tfds:{self.name}/{self.split}[{index}]"
        return {
            "audio": np.asarray(_get_feature(ex, self.fields["audio"])),
            "sample_rate": self.sample_rate,
            "label": self._label(ex),
            "speaker": _text(_get_feature(ex, self.fields["speaker"])) if "speaker" in self.fields else "",
            "id": _text(_get_feature(ex, self.fields["id"])) if "id" in self.fields else origin[5:],
            "origin": origin,
        }

    def _label(self, example: Mapping[str, Any]) -> str:
        if "label" not in self.fields:
            return ""
        raw = _get_feature(example, self.fields["label"])
        if self._label_names is not None and not isinstance(raw, (str, bytes)):
            return self._label_names[int(raw)]
        return _text(raw)

    def unique_labels(self) -> list[str]:
        """Sorted distinct labels of the split (one pass over its examples)."""
        return sorted({self._label(self._ds[i]) for i in range(len(self._ds))})

    def __reduce__(self):  # reopen in worker processes (hides GPUs from TF there too)
        name, split, data_dir, sample_rate, fields = self._args
        return (_reopen_tfds, (name, split, data_dir, sample_rate, fields))

    def __repr__(self) -> str:
        return f"TfdsSource({self.name!r}, {self.split!r}, data_dir={self.data_dir!r}, n={len(self)})"


def _reopen_tfds(name, split, data_dir, sample_rate, fields):
    return TfdsSource(name, split, data_dir, sample_rate=sample_rate, fields=fields)


# ----------------------------------------------------------------------------------------------
# Specs


class ConcatSource:
    """The records of several sources one after another (``config.data.source = "a+b"``):
    training on two corpora at once, such as keywords and the "nothing" classes of streams.

    ``labels``: the first source's, then the others' labels it lacks, in their order (so a
    model trained on the first alone keeps its class ids); the signals must be the same."""

    def __init__(self, sources: Sequence[Source]):
        self.sources = list(sources)
        signals = [dict(getattr(s, "signals", {})) for s in self.sources]
        if any(x != signals[0] for x in signals[1:]):
            raise ValueError(f"joined sources {' + '.join(map(repr, self.sources))} carry "
                             f"different signals: {' / '.join(', '.join(x) or 'none' for x in signals)}")
        self.signals = signals[0]
        self._ends = np.cumsum([len(s) for s in self.sources])
        self.sample_rate = None
        self.malformed = [m for s in self.sources for m in getattr(s, "malformed", [])]
        self.labels = None
        if all(getattr(s, "labels", None) for s in self.sources):
            self.labels = []
            for s in self.sources:
                self.labels += [x for x in s.labels if x not in self.labels]

    def __len__(self) -> int:
        return int(self._ends[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self._ends, index, side="right"))
        return self.sources[k][index - (int(self._ends[k - 1]) if k else 0)]

    def unique_labels(self) -> list[str]:
        return sorted({x for s in self.sources for x in labels_of(s)})

    def with_speakers(self, speakers: Iterable[str]) -> "ConcatSource":
        """The first source's clips of these speakers (``data.train_voices`` draws them from
        the first corpus), the others whole."""
        return ConcatSource([self.sources[0].with_speakers(speakers), *self.sources[1:]])

    def __repr__(self) -> str:
        return f"ConcatSource([{', '.join(map(repr, self.sources))}])"


class FileListSource:
    """Audio files given on a command line, as an unlabelled source (label ``""``)."""

    labels = None
    sample_rate = None
    signals: Mapping[str, Signal] = {}

    def __init__(self, files: list[str]):
        self.files = [str(f) for f in files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        path = self.files[index]
        return {"audio": path, "sample_rate": None, "label": "", "speaker": "", "id": path,
                "origin": path}

    def __repr__(self) -> str:
        return f"FileListSource({len(self.files)} files)"


def open_source(
    spec: str | os.PathLike,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    tfds_data_dir: str | os.PathLike | None = None,
    sample_rate: int | None = None,
    skip_malformed: bool = False,
    columns: Sequence[Column] = CLIP_COLUMNS,
) -> Source:
    """Opens a source from a spec string; manifests are read with ``columns``.

    Specs:
      * ``manifest:PATH`` or any path ending in ``.tsv``: that manifest, for the train split
        only; ``{split}`` in the path is replaced by the split (``my/{split}.tsv``);
        ``manifest:DIR`` or an existing directory: ``DIR/SPLIT.tsv``.
      * ``commands``, ``sentences``, ``commands/small``: the local corpus's manifest
        ``corpus_dir(data_dir, NAME, SIZE)/SPLIT.tsv``; ``separate/small/wav16k/max``: the
        manifest of a version in the corpus's folder, ``.../wav16k/max/SPLIT.tsv``.
      * ``tfds:audiojax_commands/small`` (local builders, read from ``data_dir/tfds``) or
        ``tfds:NAME[/CONFIG]`` for a catalog dataset (read from ``tfds_data_dir``, default TFDS's).
      * ``python:pkg.module:factory``: ``factory(split)`` returns the source (any object with
        the :class:`Source` interface: in-memory data, a researcher's own format).
      * ``A+B``: the records of both (:class:`ConcatSource`), e.g. ``commands/small+streams/small``.

    ``data_dir`` defaults to :func:`audiojax.data.default_data_dir`; ``skip_malformed`` goes to
    :class:`ManifestSource`.
    """
    spec = str(spec)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if len(source_parts(spec)) > 1:
        return ConcatSource([open_source(part, split, data_dir, tfds_data_dir=tfds_data_dir,
                                         sample_rate=sample_rate, skip_malformed=skip_malformed,
                                         columns=columns) for part in source_parts(spec)])
    if spec.startswith("python:"):
        from audiojax.config import import_object  # noqa: PLC0415

        return import_object(spec[len("python:"):], "config.data.source")(split)
    from audiojax.data.events import EVENT_COLUMNS  # noqa: PLC0415 (it imports this module)

    if tuple(columns) == EVENT_COLUMNS:
        return _open_events(spec, split, data_dir, sample_rate)
    if spec.startswith("tfds:"):
        name = spec[len("tfds:"):]
        if name.split("/")[0].startswith("audiojax_"):
            tfds_dir = tfds_data_dir if tfds_data_dir is not None else data_dir / "tfds"
        else:
            tfds_dir = tfds_data_dir
        return TfdsSource(name, split, tfds_dir, sample_rate=sample_rate)
    if spec.startswith("manifest:") or spec.endswith(".tsv"):
        path = Path(spec.removeprefix("manifest:").replace("{split}", split))
        if path.is_dir():
            return ManifestSource(path / f"{split}.tsv", skip_malformed=skip_malformed, columns=columns)
        if "{split}" not in spec and split != "train":
            # One file cannot be every split: evaluating on the training data would pass silently.
            raise ValueError(
                f"data source {spec!r} is one manifest, but split {split!r} was asked for; give a "
                f"folder with train/validation/test.tsv or a pattern such as 'my/{{split}}.tsv'")
        return ManifestSource(path, skip_malformed=skip_malformed, columns=columns)
    corpus, size, version = local_spec(spec)
    if corpus in LOCAL_CORPORA:
        path = corpus_dir(data_dir, corpus, size) / version / f"{split}.tsv"
        if not path.is_file():
            raise FileNotFoundError(
                f"{spec}: no manifest at {path}; build the corpus first (audiojax data build {corpus})")
        return ManifestSource(path, skip_malformed=skip_malformed, columns=columns)
    if Path(spec).is_dir():
        return ManifestSource(Path(spec) / f"{split}.tsv", skip_malformed=skip_malformed,
                              columns=columns)
    raise ValueError(f"unknown data source {spec!r}: expected manifest:PATH, PATH.tsv, "
                     f"tfds:NAME[/CONFIG], or a local corpus ({', '.join(LOCAL_CORPORA)}[/SIZE[/VERSION]])")


def _open_events(spec: str, split: str, data_dir: Path, sample_rate: int | None):
    """:func:`open_source` for tasks whose data are events files: ``events_SPLIT.tsv`` of a
    local corpus or folder, or an events file (``{split}`` replaced)."""
    from audiojax.data.events import EventsSource  # noqa: PLC0415

    corpus, size, version = local_spec(spec)
    if spec.startswith("manifest:") or spec.endswith(".tsv"):
        path = Path(spec.removeprefix("manifest:").replace("{split}", split))
        if not path.is_dir() and "{split}" not in spec and split != "train":
            raise ValueError(f"data source {spec!r} is one events file, but split {split!r} was "
                             f"asked for; give a folder with events_SPLIT.tsv or a pattern such "
                             f"as 'my/events_{{split}}.tsv'")
        path = path / f"events_{split}.tsv" if path.is_dir() else path
    elif corpus in LOCAL_CORPORA:
        path = corpus_dir(data_dir, corpus, size) / version / f"events_{split}.tsv"
    elif Path(spec).is_dir():
        path = Path(spec) / f"events_{split}.tsv"
    else:
        raise ValueError(f"unknown data source {spec!r} for events: expected an events file, a "
                         f"folder of events_SPLIT.tsv or a local corpus ({', '.join(LOCAL_CORPORA)})")
    if not path.is_file():
        raise FileNotFoundError(f"{spec}: no events file at {path}"
                                + (f"; build the corpus first (audiojax data build {corpus})"
                                   if corpus in LOCAL_CORPORA else ""))
    return EventsSource(path, sample_rate=sample_rate or LOCAL_SAMPLE_RATE)


# ----------------------------------------------------------------------------------------------
# Decoding


def decode_record(record: Mapping[str, Any], sample_rate: int, key: str = "audio") -> np.ndarray:
    """The record's audio (or its waveform signal ``key``) as mono float32 ``(samples,)`` at
    ``sample_rate``.

    Raises:
      BadExampleError: ``ORIGIN: ID: PROBLEM`` for a missing/corrupt/truncated/empty file,
        NaN/Inf samples, or an array without a sample rate (a signal's problem starts with its
        name).
    """
    audio = record[key]
    try:
        if isinstance(audio, (str, os.PathLike)):
            y, _ = audio_lib.load(audio, sr=sample_rate, mono=True)
            return y
        y = np.asarray(audio)
        if y.dtype == np.int16:
            y = y.astype(np.float32) / 32768.0
        elif np.issubdtype(y.dtype, np.integer):  # TFDS Audio stores int64 holding int16 values
            y = y.astype(np.float32) / 32768.0
        else:
            y = y.astype(np.float32, copy=False)
        if y.ndim == 2:  # TFDS layout (samples, channels)
            y = y.mean(axis=1)
        if y.ndim != 1:
            raise audio_lib.AudioError(record["id"], f"audio array must be (samples,) or (samples, channels), got {y.shape}")
        if y.size == 0:
            raise audio_lib.AudioError(record["id"], "empty audio (0 samples)")
        if not np.all(np.isfinite(y)):
            raise audio_lib.AudioError(record["id"], f"{int(np.sum(~np.isfinite(y)))} non-finite (NaN/Inf) samples")
        sr = record.get("sample_rate")
        if sr is None:
            raise audio_lib.AudioError(record["id"], "audio array without a sample rate")
        if int(sr) != sample_rate:
            y = audio_lib.resample(y, int(sr), sample_rate)
        return np.ascontiguousarray(y, np.float32)
    except audio_lib.AudioError as e:
        where = str(audio) if isinstance(audio, (str, os.PathLike)) else "(array)"
        problem = e.problem if key == "audio" else f"{key} {where}: {e.problem}"
        raise BadExampleError(record["origin"], record["id"], problem) from None
