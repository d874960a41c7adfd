"""Flax linen models, found by name (``config.model.name``) or by dotted path.

A model is a linen module whose dataclass fields are its hyperparameters. It gets exactly the
fields it declares: the config's ``model`` section (every JSON-able field, with its default,
so a run's ``config.json`` names them all), plus what the task provides (``num_classes``,
``vocab_size``, ...) and the trainer offers (``dtype``, ``axis_name``). A config key the model
does not declare is an error naming it.

    config.model.name = "logmel_cnn"                 # built in: REGISTRY below
    config.model.name = "mypkg.models:TinyNet"       # a researcher's own, no edit of audiojax
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn

from audiojax.config import import_object
from audiojax.models.bc_resnet import BCResNet
from audiojax.models.classifiers import LogMelCNN, WaveformCNN
from audiojax.models.crnn import CRNN
from audiojax.models.gru_classifier import GRUClassifier
from audiojax.models.samplernn import SampleRNN
from audiojax.models.separation import ConvTasNet, MaskEstimator
from audiojax.models.seq2seq import Recognizer
from audiojax.models.speaker import ECAPATDNN, SpeakerGRU, XVector
from audiojax.models.streaming_kws import StreamingKWS
from audiojax.models.wavenet import WaveNet

REGISTRY: dict[str, type[nn.Module]] = {
    "waveform_cnn": WaveformCNN,
    "logmel_cnn": LogMelCNN,
    "crnn": CRNN,
    "bc_resnet": BCResNet,
    "streaming_kws": StreamingKWS,
    "wavenet": WaveNet,
    "samplernn": SampleRNN,
    "gru_classifier": GRUClassifier,
    "recognizer": Recognizer,
    "xvector": XVector,
    "ecapa_tdnn": ECAPATDNN,
    "speaker_gru": SpeakerGRU,
    "mask_estimator": MaskEstimator,
    "conv_tasnet": ConvTasNet,
}

# Fields the trainer fills in; never config keys.
TRAINER_FIELDS = ("dtype", "axis_name")
_FLAX_FIELDS = ("parent", "name")


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name``, or the one a dotted path ``pkg.mod:Class`` names."""
    if ":" in name:
        cls = import_object(name, "config.model.name")
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise ValueError(f"config.model.name: {name!r} is not a flax.linen Module class")
        return cls
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"config.model.name: unknown {name!r}; known: {sorted(REGISTRY)} "
                         f"or a dotted path 'package.module:Class'") from None


def fields_of(cls: type[nn.Module]) -> dict[str, dataclasses.Field]:
    """The hyperparameter fields of a linen module class (flax's own ``parent``/``name`` left out)."""
    return {f.name: f for f in dataclasses.fields(cls) if f.name not in _FLAX_FIELDS}


def _json_default(field: dataclasses.Field) -> tuple[bool, Any]:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return False, None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True, value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return True, tuple(value)
    return False, None


def config_fields(name: str, provided: tuple[str, ...] = ()) -> dict[str, Any]:
    """The config keys of model ``name``: its fields with JSON-able defaults, less those the
    task provides (``provided``) and the trainer offers (:data:`TRAINER_FIELDS`)."""
    out = {}
    for field_name, field in fields_of(model_class(name)).items():
        if field_name in provided or field_name in TRAINER_FIELDS:
            continue
        ok, value = _json_default(field)
        if ok:
            out[field_name] = value
    return out


def build_model(spec: Mapping[str, Any], provided: Mapping[str, Any] | None = None,
                offered: Mapping[str, Any] | None = None) -> nn.Module:
    """The model ``spec["name"]`` built from ``spec``'s other keys (``config.model``).

    Args:
      spec: ``name`` and hyperparameters; each must be a field of the model.
      provided: fields the task gives (e.g. ``num_classes``); each must be declared by the model
        and must not be set in ``spec``.
      offered: fields given only if the model declares them (``axis_name`` for BatchNorm under
        pmap); None values are not offered.
    """
    spec = dict(spec)
    name = spec.pop("name")
    cls = model_class(name)
    fields = fields_of(cls)
    unknown = sorted(set(spec) - set(fields))
    if unknown:
        raise ValueError(f"config.model.{unknown[0]}: not a field of model {name!r} (fields: "
                         f"{', '.join(sorted(set(fields) - set(TRAINER_FIELDS)))})")
    kwargs = dict(spec)
    for key, value in (provided or {}).items():
        if key in spec:
            raise ValueError(f"config.model.{key}: set by the task, not the config")
        if key not in fields:
            raise ValueError(f"model {name!r} declares no field {key!r}, which the task must give "
                             f"it (fields: {', '.join(sorted(fields))})")
        kwargs[key] = value
    for key, value in (offered or {}).items():
        if value is not None and key in fields:
            kwargs[key] = value
    missing = [f for f, field in fields.items() if f not in kwargs
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"model {name!r}: field(s) {', '.join(missing)} have no value "
                         f"(neither the config nor the task gives them)")
    return cls(**kwargs)


def get_model(name: str, **kwargs) -> nn.Module:
    """The model ``name`` built with ``kwargs`` (its fields): for tests and notebooks."""
    return build_model({"name": name, **kwargs})
