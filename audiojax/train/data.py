"""From ``config.data`` to sources, labels and loaders; local corpora are built on first use."""

from __future__ import annotations

from pathlib import Path

import jax
import ml_collections
from jax.experimental.multihost_utils import sync_global_devices

from audiojax.data import corpus_dir, default_data_dir
from audiojax.data.pipeline import Loader, make_loader
from audiojax.data.sources import LOCAL_CORPORA, labels_of, open_source
from audiojax.tasks import task_class


def data_dir_of(config: ml_collections.ConfigDict) -> Path:
    return Path(config.data.data_dir) if config.data.get("data_dir") else default_data_dir()


def ensure_corpus(config: ml_collections.ConfigDict) -> None:
    """Builds ``config.data.source`` (``commands/tiny`` ...) if it is a local corpus not built yet."""
    name, _, size = config.data.source.partition("/")
    if name not in LOCAL_CORPORA:
        return
    from audiojax.data import corpora

    folder = corpus_dir(data_dir_of(config), name, size or "full")
    seed = config.data.build_seed
    info = corpora.load_info(folder)
    if info is None:
        if jax.process_index() == 0:
            print(f"building the {name} corpus ({size or 'full'}) in {data_dir_of(config)} (first use)")
            print(corpora.build(name, data_dir=data_dir_of(config), size=size or "full", seed=seed))
        sync_global_devices("audiojax corpus built")  # other processes wait for process 0
    elif info["seed"] != seed:
        raise ValueError(f"config.data.build_seed={seed}, but {folder} was built with seed "
                         f"{info['seed']}; rebuild it (audiojax data build {name} --size "
                         f"{size or 'full'} --seed {seed}) or use build_seed={info['seed']}")


def open_split(config: ml_collections.ConfigDict, split: str):
    """The source of ``split``; with ``data.on_bad='skip'``, malformed manifest lines are left
    out and listed in ``source.malformed`` (reported by the trainer), else they raise. With
    ``data.train_voices < 1`` the training split keeps that fraction of its voice groups
    (:func:`audiojax.data.corpora.voice_subset`): how accuracy grows with distinct voices."""
    source = open_source(config.data.source, split, data_dir_of(config),
                         sample_rate=config.data.sample_rate,
                         skip_malformed=config.data.on_bad == "skip")
    fraction = config.data.get("train_voices", 1.0)
    if split == "train" and fraction < 1.0:
        name, _, size = config.data.source.partition("/")
        if name not in LOCAL_CORPORA:
            raise ValueError(f"data.train_voices={fraction}: only for a local corpus (its "
                             f"clips.jsonl names the voice groups), not {config.data.source!r}")
        from audiojax.data.corpora import voice_subset

        folder = corpus_dir(data_dir_of(config), name, size or "full")
        source = source.with_speakers(
            voice_subset(folder, fraction, config.data.get("train_voices_seed", 0)))
    return source


def labels_for(config: ml_collections.ConfigDict) -> list[str]:
    """The class names of the run's corpus, in id order (its info.json, else sorted train labels),
    or the task's own (``fixed_labels``: a recognizer's vocabulary, not every transcript)."""
    fixed = getattr(task_class(config.task), "fixed_labels", None)
    if fixed is not None:
        return fixed(config)
    return labels_of(open_split(config, "train"))


def loader_for(config: ml_collections.ConfigDict, source, task, *, train: bool,
               batch_size: int) -> Loader:
    """The grain loader of ``source`` with the run's rate and crop length; each record's label
    becomes ``task.label_to_id(label)`` (a dict of class ids, or a tokenizer for transcripts)."""
    rate = config.data.sample_rate
    return make_loader(
        source, sample_rate=rate, batch_size=batch_size, train=train,
        max_length=int(round(config.data.max_seconds * rate)),
        bucket_lengths=[int(round(s * rate)) for s in config.data.get("bucket_seconds", ())],
        seed=config.seed, worker_count=config.data.num_workers if train else 0,
        label_to_id=task.label_to_id, on_bad=config.data.on_bad)
