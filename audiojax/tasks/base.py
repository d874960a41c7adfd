"""The Task protocol: what differs between tasks, and all the trainer and evaluators know.

A task turns batches into a loss and into metrics. Batches are dicts of arrays with a leading
batch axis, as the loader gives them (:mod:`audiojax.data.pipeline`): ``audio (B, samples)``
float32, ``length (B,)`` int32 (true samples), ``mask (B,)`` bool (False: padding rows and
skipped bad examples, which count for nothing), ``label`` as :attr:`Task.label_to_id` makes it,
and any extra signal a source provides (``clean (B, samples)``, ``roll (B, frames, C)``).

Subclass :class:`Task`: the abstract methods are required, the others have defaults. A task
lives in its own package ``audiojax/tasks/NAME/`` (``config.task = "NAME"``) or anywhere
(``config.task = "pkg.module:MyTask"``); see :mod:`audiojax.tasks`.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from audiojax.data.manifest import CLIP_COLUMNS, Column
from audiojax.data.splits import open_split
from audiojax.data.sources import labels_of
from audiojax.models import build_model, fields_of, model_class

Collected = Any  # what a task's ``combine`` accumulates over evaluation batches


class Task(abc.ABC):
    """One task (classification, speech recognition, generation, ...).

    Class attributes:
      columns: the manifest columns its data has (:class:`~audiojax.data.manifest.Column`);
        ``data check --task`` and evaluation read manifests with them.
      provides: model fields the task gives from its labels (``num_classes``, ...); they are
        not config keys.
      offers: model fields the task gives to the models that declare them (passed to
        :meth:`build_model` as ``offered``); not config keys either.
      inference_keys: config keys (or sections) that ``audiojax evaluate`` and the task's
        commands may override (``--config.KEY=VALUE`` or the task's options).
      loss_takes_step: whether :meth:`loss` takes the training step as ``step=`` (an int32
        scalar: schedules inside a loss, such as a margin's warm-up).

    Attributes:
      config: the run's config; labels: its ``labels.json``; model: the linen module;
      label_to_id: how the loader turns a record's label into arrays: a dict of class ids, a
        picklable callable (a tokenizer), or None (no label in batches).
    """

    columns: ClassVar[tuple[Column, ...]] = CLIP_COLUMNS
    provides: ClassVar[tuple[str, ...]] = ()
    offers: ClassVar[tuple[str, ...]] = ()
    inference_keys: ClassVar[tuple[str, ...]] = ("batch_size", "data.on_bad")
    loss_takes_step: ClassVar[bool] = False
    label_to_id: Any = None
    model: Any

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        self.config = config
        self.labels = list(labels)

    # -- config and labels -------------------------------------------------------------------
    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        """The top-level config keys this task reads, with their defaults (merged into
        :func:`audiojax.train.defaults.base_config`)."""
        return ml_collections.ConfigDict()

    @classmethod
    def labels_for(cls, config: ml_collections.ConfigDict) -> list[str]:
        """The run's labels (``labels.json``), read before training: by default the class
        names of the training split (its corpus's ``info.json``, else its sorted labels)."""
        return labels_of(open_split(config, "train", cls.columns))

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        """Refuses settings the task cannot honour (raise ValueError naming the key)."""

    @classmethod
    def inference_config(cls, config: ml_collections.ConfigDict, workdir: Path) -> None:
        """Completes a run's config for inference, after its overrides (unlocked ``config``)."""

    # -- required ----------------------------------------------------------------------------
    @abc.abstractmethod
    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """Shapes and dtypes of a batch of ``batch_size`` (what :meth:`init` takes): the trainer
        initializes from it with zeros under ``jit`` and restores checkpoints by
        ``jax.eval_shape``, without reading data."""

    @abc.abstractmethod
    def init(self, rng: jax.Array, batch: dict) -> dict:
        """The model's variables (``{"params", "batch_stats"?}``) for a batch like ``batch``."""

    @abc.abstractmethod
    def loss(self, params, batch_stats, batch: dict, rng: jax.Array, axis_name: str | None):
        """``(loss scalar, (new batch_stats, {metric: scalar}))`` of a training batch; under
        pmap (``axis_name``) per-device values whose ``pmean`` is the global one."""

    @abc.abstractmethod
    def eval_step(self, variables: dict, batch: dict, axis_name: str | None) -> dict:
        """Per-batch outputs for :meth:`combine`: sums over the global batch (``psum`` under
        pmap) and/or per-example rows (``all_gather`` under pmap) with their ``mask``."""

    @abc.abstractmethod
    def summarize(self, collected: Collected) -> dict:
        """Metrics (JSON: numbers, lists, dicts) from what :meth:`combine` collected; needs
        ``loss`` and ``count`` (examples). A ``plot_data`` entry (any objects, e.g. waveforms)
        goes to :meth:`write_plots` only, never into a metrics file."""

    # -- optional ----------------------------------------------------------------------------
    def combine(self, collected: Collected | None, out: dict) -> Collected:
        """Adds a batch's :meth:`eval_step` output to what was collected so far (None at the
        start). Default: sums. Tasks whose metrics are not sums (CER, EER, mAP) keep rows."""
        out = jax.device_get(out)
        return out if collected is None else jax.tree.map(np.add, collected, out)

    def finish(self, collected: Collected, source, ids: list[str]) -> Collected:
        """What was collected (on the host), completed from the source: ``ids`` are those of
        the evaluated rows in order (None when they are not all on this process). Default: as
        collected."""
        return collected

    def per_group(self, collected: Collected, groups: list[str]) -> dict | None:
        """``{group: metrics}`` with ``groups`` naming each evaluated row's group in order
        (a speaker, a recording condition); None: the task has no per-row metrics."""
        return None

    def check_source(self, source, where: str) -> None:
        """Refuses a source it cannot score (e.g. labels the model lacks), naming ``where``."""

    def ensemble_step(self, members: list["Task"]):
        """An :meth:`eval_step` ``(variables, batch, axis_name)`` scoring ``members`` (this task
        first, then tasks of runs of the same task and labels) as one model, ``variables`` a
        tuple of theirs (``audiojax evaluate --ensemble``). Default: refused, by task."""
        raise ValueError(f"--ensemble: a {self.config.task} run has no ensembles (only tasks "
                         f"whose outputs average, as classification's probabilities, have)")

    def evaluator_kind(self, data: str) -> str:
        """The evaluator kind (:data:`audiojax.evaluators.KINDS`) that scores ``data`` (a split
        or a manifest) for ``audiojax evaluate --split/--manifest``."""
        return "clips"

    def headline(self, metrics: dict) -> str:
        return f"loss {metrics['loss']:.4f}"

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """Plots beside the metrics file ``output``; returns the files written."""
        return []

    def batch_units(self, batch: dict) -> dict[str, float]:
        """What a host batch holds, for throughput (``NAME_per_second`` in the logs): by
        default seconds of audio within true lengths."""
        valid = np.asarray(batch["mask"])
        seconds = float(np.sum(np.asarray(batch["length"])[valid])) / self.config.data.sample_rate
        return {"audio_seconds": seconds}

    # -- helpers for subclasses --------------------------------------------------------------
    def build_model(self, offered: dict | None = None, **provided) -> Any:
        """``config.model`` built with the fields the task ``provided``, the compute dtype
        (an error for a model without a ``dtype`` field unless float32), the fields
        ``offered`` to models that declare them and, under pmap, the device axis for
        BatchNorm statistics (given to models that declare ``axis_name``)."""
        if self.config.compute_dtype != "float32":
            if "dtype" not in fields_of(model_class(self.config.model.name)):
                raise ValueError(f"config.compute_dtype={self.config.compute_dtype}: model "
                                 f"{self.config.model.name!r} computes in float32 only (it has "
                                 f"no dtype field)")
            provided["dtype"] = jnp.dtype(self.config.compute_dtype)
        return build_model(self.config.model, provided,
                           offered={**(offered or {}),
                                    "axis_name": "data" if self.config.parallel == "pmap" else None})

    def audio_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        """The loader's clip batch: ``audio (B, max_seconds * sample_rate)``, ``length``, ``mask``."""
        samples = int(round(self.config.data.max_seconds * self.config.data.sample_rate))
        return {"audio": jax.ShapeDtypeStruct((batch_size, samples), jnp.float32),
                "length": jax.ShapeDtypeStruct((batch_size,), jnp.int32),
                "mask": jax.ShapeDtypeStruct((batch_size,), jnp.bool_)}


def groups_rows(task: Task) -> bool:
    """Whether ``task`` has per-row metrics (:meth:`Task.per_group` overridden)."""
    return type(task).per_group is not Task.per_group


def gather_outputs(sums: dict, rows: dict, axis_name: str | None) -> dict:
    """An eval step's outputs: ``sums`` over the batch (``psum`` under pmap) and per-example
    ``rows`` (``all_gather`` under pmap: the whole global batch's, in order)."""
    if axis_name is not None:
        sums = jax.lax.psum(sums, axis_name)
        rows = jax.lax.all_gather(rows, axis_name, tiled=True)
    return {**sums, **rows}


def combine_hits(collected: dict | None, out: dict) -> dict:
    """:meth:`Task.combine` for outputs of sums plus per-example ``hits`` and ``mask``: adds the
    sums, keeps the hits of ``mask`` rows, in order."""
    out = jax.device_get(out)
    hits = np.asarray(out.pop("hits")).reshape(-1)[np.asarray(out.pop("mask")).reshape(-1)]
    if collected is None:
        return {**out, "hits": [hits]}
    return {**{k: collected[k] + out[k] for k in out}, "hits": collected["hits"] + [hits]}


def accuracy_per_group(collected: dict, groups: list[str]) -> dict:
    """:meth:`Task.per_group` of :func:`combine_hits`'s collection: ``{group: {"accuracy",
    "count"}}``."""
    hits = np.concatenate(collected["hits"])
    return per_group_rows(groups, lambda idx: {"accuracy": float(hits[idx].mean())})


def per_group_rows(groups: list[str], score) -> dict:
    """``{group: score(indices of its rows) + count}``, groups sorted: the shared body of
    :meth:`Task.per_group` for tasks that keep per-row outputs."""
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    return {g: {**score(idx), "count": len(idx)} for g, idx in sorted(members.items())}


def bootstrap_interval(values: np.ndarray, resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of per-example ``values (n,)`` (hits for
    an accuracy, 0/1 or fractional): ``resamples`` draws of n examples with replacement, seeded,
    and the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of their means."""
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
