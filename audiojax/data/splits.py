"""From a run's ``config.data`` to the sources and loaders of its splits; local corpora are
built on first use (:func:`prepare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import ml_collections

from audiojax.data import corpus_dir, decoded, default_data_dir, local_spec, source_parts
from audiojax.data.events import EVENT_COLUMNS, EventsSource
from audiojax.data.manifest import CLIP_COLUMNS, Column
from audiojax.data.pipeline import Loader, LabelMap, make_loader
from audiojax.data.sources import LOCAL_CORPORA, ManifestSource, open_source


def data_dir_of(config: ml_collections.ConfigDict) -> Path:
    return Path(config.data.data_dir) if config.data.data_dir else default_data_dir()


def local_corpus(config: ml_collections.ConfigDict) -> Path | None:
    """The folder of ``config.data.source`` when it is a local corpus (``commands/tiny``,
    ``separate/small/wav16k/max``: the corpus's folder, not its version's), else None; of
    joined sources (``commands+streams``), the first's."""
    return source_corpus(config, source_parts(config.data.source)[0])


def source_corpus(config: ml_collections.ConfigDict, spec: str) -> Path | None:
    """The folder of one source spec (a part of ``config.data.source``) that is a local
    corpus, else None."""
    name, size, _ = local_spec(spec)
    if name not in LOCAL_CORPORA:
        return None
    return corpus_dir(data_dir_of(config), name, size)


def prepare(config: ml_collections.ConfigDict) -> None:
    """Builds each local corpus of ``config.data.source`` not built yet (process 0; the
    others wait for it); refuses a built one of another seed."""
    for spec in source_parts(config.data.source):
        folder = source_corpus(config, spec)
        if folder is not None:
            _prepare_corpus(config, spec, folder)


def _prepare_corpus(config: ml_collections.ConfigDict, spec: str, folder: Path) -> None:
    import jax  # noqa: PLC0415 (not needed to open sources)
    from jax.experimental.multihost_utils import sync_global_devices  # noqa: PLC0415

    from audiojax.data import corpora  # noqa: PLC0415

    name, size, _ = local_spec(spec)
    seed = config.data.build_seed
    info = corpora.load_info(folder)
    if info is None:
        if jax.process_index() == 0:
            print(f"building the {name} corpus ({size}) in {data_dir_of(config)} (first use)")
            print(corpora.build(name, data_dir=data_dir_of(config), size=size, seed=seed))
        sync_global_devices("audiojax corpus built")  # other processes wait for process 0
    elif info["seed"] != seed:
        raise ValueError(f"config.data.build_seed={seed}, but {folder} was built with seed "
                         f"{info['seed']}; rebuild it (audiojax data build {name} --size "
                         f"{size} --seed {seed}) or use build_seed={info['seed']}")


def is_split(data: str) -> bool:
    """Whether an evaluator's ``data`` names a split of the run's corpus (not a manifest path)."""
    return "/" not in data and not data.endswith(".tsv")


def open_split(config: ml_collections.ConfigDict, split: str,
               columns: Sequence[Column] = CLIP_COLUMNS):
    """The source of ``split`` (``train`` reads the source's ``data.train_split``); with
    ``data.on_bad='skip'``, malformed manifest lines are left out and listed in
    ``source.malformed`` (reported by the trainer), else they raise. With
    ``data.train_voices < 1`` the training split keeps that fraction of its voice groups
    (:func:`audiojax.data.corpora.voice_subset`): how accuracy grows with distinct voices."""
    name = config.data.train_split if split == "train" else split
    source = open_source(config.data.source, name, data_dir_of(config),
                         sample_rate=config.data.sample_rate,
                         skip_malformed=config.data.on_bad == "skip", columns=columns)
    fraction = config.data.train_voices
    if split == "train" and fraction < 1.0:
        folder = local_corpus(config)
        if folder is None:
            raise ValueError(f"data.train_voices={fraction}: only for a local corpus (its "
                             f"clips.jsonl names the voice groups), not {config.data.source!r}")
        from audiojax.data.corpora import voice_subset  # noqa: PLC0415

        source = source.with_speakers(voice_subset(folder, fraction, config.data.train_voices_seed))
    return source


def open_data(config: ml_collections.ConfigDict, data: str,
              columns: Sequence[Column] = CLIP_COLUMNS, labels: Sequence[str] | None = None):
    """An evaluator's data: a split of the run's corpus (``validation``) or a manifest path
    (for tasks whose data are events files, an events file, its classes in the order of
    ``labels``, the run's)."""
    if is_split(data):
        return open_split(config, data, columns)
    if tuple(columns) == EVENT_COLUMNS:
        return EventsSource(data, labels, sample_rate=config.data.sample_rate)
    return ManifestSource(data, skip_malformed=config.data.on_bad == "skip", columns=columns)


def clip_folder(config: ml_collections.ConfigDict, source) -> Path | str:
    """What a source's clip ids are relative to: a manifest's folder, or the run's local corpus
    (for its TFDS copy); :func:`audiojax.data.corpora.conditions_of` finds ``clips.jsonl``
    above them."""
    if isinstance(source, ManifestSource):
        return Path(source.path).parent
    return local_corpus(config) or ""


def loader_for(config: ml_collections.ConfigDict, source, label_to_id: LabelMap, *, train: bool,
               batch_size: int) -> Loader:
    """The grain loader of ``source`` with the run's rate and crop length (training:
    ``data.train_seconds`` when set); each record's label becomes ``label_to_id(label)`` (a
    dict of class ids, or a tokenizer for transcripts)."""
    rate = config.data.sample_rate
    seconds = config.data.train_seconds if train and config.data.train_seconds else config.data.max_seconds
    max_length = int(round(seconds * rate))
    buckets = [int(round(s * rate)) for s in config.data.bucket_seconds]
    center = config.data.center == "energy"
    cache = None
    if config.data.cache != "none":  # decoded once: audiojax.data.decoded
        import jax  # noqa: PLC0415 (not needed to open sources)

        folder = decoded.ensure(source, sample_rate=rate, data_dir=data_dir_of(config),
                                on_bad=config.data.on_bad, quiet=jax.process_index() != 0)
        if config.data.cache == "device" and train:
            cache = _device_cache(config, source, folder, max_length, buckets)
        source = decoded.DecodedSource(source, folder)
    loader = make_loader(
        source, sample_rate=rate, batch_size=batch_size, train=train, max_length=max_length,
        bucket_lengths=buckets, seed=config.seed,
        # The same workers whatever the cache: grain's batches (and its saved state) depend
        # on how many workers form them.
        worker_count=config.data.num_workers if train else 0,
        label_to_id=label_to_id, on_bad=config.data.on_bad, center=center,
        device_index=cache.index(rate if center else None) if cache else None)
    loader.device_cache = cache
    return loader


def _device_cache(config, source, folder: Path, max_length: int, buckets: Sequence[int]):
    """The training split's :class:`DeviceCache`, or None (and why, printed) when it stays
    on the host: over ``data.cache_bytes``, length buckets, or frame-rate signals."""
    from audiojax.data.device_cache import DeviceCache  # noqa: PLC0415 (imports jax)

    opened = decoded.Decoded(folder)
    keys = decoded.waveform_keys(source)
    frame_signals = [n for n, s in getattr(source, "signals", {}).items() if not s.waveform]
    if any(0 < b < max_length for b in buckets):
        why = "length buckets (data.bucket_seconds) need batches of several lengths"
    elif frame_signals:
        why = f"its frame-rate signals ({', '.join(frame_signals)}) are cut on the host"
    else:
        why = DeviceCache.unfit(opened, keys, int(config.data.cache_bytes))
    if why:
        print(f"data.cache=device: the training split stays on the host ({why}); the loader "
              f"reads its decoded records")
        return None
    cache = DeviceCache(opened, keys, max_length)
    print(f"data.cache=device: the training split's {len(opened.starts)} records "
          f"({cache.nbytes / 1e9:.2f} GB) go to every device")
    return cache
