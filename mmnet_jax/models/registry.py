"""Models by name: what the trainer, predict and export need to know of a model.

A model is a Flax NNX module whose ``__call__`` takes the inputs it declares
(``ModelSpec.inputs``, in that order, each a NHWC float batch ``(B, S, S, 3)``) and returns
logits ``(B, num_classes)``. The inputs (``FRAMES``): ``onset`` and ``apex``, normalised
face frames; ``flow``, the onset-to-apex optical flow as the field's flow images hold it
(three channels, each min-max scaled to 0..255, in the channel order ``cv2.imread`` gives
for those images: docs/flow.md names the channels); its hyperparameters are a frozen
dataclass (``ModelSpec.config_class``) with at least ``num_classes`` and ``image_size``.
``config.model.name`` picks one (default ``"mmnet"``)::

    spec = registry.get("mmnet")
    model = spec.build(spec.config_class(num_classes=5, image_size=224), nnx.Rngs(0))
    logits = model(*[frames[name] for name in spec.inputs])

The project's own models register themselves when first asked for (``BUILTIN``); others
call :func:`register` (the tests register a tiny one).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

# The inputs the data pipeline can give a model, by name.
FRAMES = ("onset", "apex", "flow")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of the registry.

    Attributes:
      name: the registry name (``config.model.name``).
      config_class: its frozen hyperparameter dataclass (``num_classes``, ``image_size``).
      build: ``(config, rngs) -> module``.
      inputs: the frames ``__call__`` takes, in order, each one of ``FRAMES``.
      from_torch: the converter from the official PyTorch state dict,
        ``(state_dict, config) -> module`` (None: no official weights).
      to_torch: the reverse, ``module -> state_dict`` (None: none).
    """

    name: str
    config_class: type
    build: Callable[[Any, Any], Any]
    inputs: tuple[str, ...]
    from_torch: Callable[[dict, Any], Any] | None = None
    to_torch: Callable[[Any], dict] | None = None

    def __post_init__(self):
        unknown = [i for i in self.inputs if i not in FRAMES]
        if not self.inputs or unknown:
            raise ValueError(f"model {self.name!r}: inputs {self.inputs}, each one of {FRAMES}")
        fields = {f.name for f in dataclasses.fields(self.config_class)}
        if not {"num_classes", "image_size"} <= fields:
            raise ValueError(
                f"model {self.name!r}: {self.config_class.__name__} needs num_classes and "
                "image_size fields"
            )

    def pick(self, **frames: Any) -> tuple[Any, ...]:
        """The model's inputs, in its order, from frames given by name."""
        return tuple(frames[name] for name in self.inputs)


# The project's models: name -> the module that registers it.
BUILTIN = {
    "mmnet": "mmnet_jax.models.mmnet",
    "ststnet": "mmnet_jax.models.ststnet",
    "off_apexnet": "mmnet_jax.models.off_apexnet",
    "htnet": "mmnet_jax.models.htnet",
}
_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` (replacing a model of the same name); returns it."""
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> ModelSpec:
    """The model called ``name``.

    Raises:
      ValueError: no model of that name (the message lists the known ones).
    """
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]


def names() -> list[str]:
    return sorted(set(_REGISTRY) | set(BUILTIN))


def of_config(config: Any) -> ModelSpec:
    """The model whose hyperparameter class ``config`` is an instance of."""
    for name in BUILTIN:
        get(name)
    for spec in _REGISTRY.values():
        if type(config) is spec.config_class:
            return spec
    raise ValueError(f"no registered model has the config class {type(config).__name__}")


def of_model(model: Any) -> ModelSpec:
    """The model spec of a built module (through its ``config`` attribute)."""
    return of_config(model.config)


def describe(config: Any) -> dict[str, Any]:
    """``{"model": name, "model_config": {...}}``: how files (model.json, config.json,
    export metadata) name a model and its hyperparameters."""
    return {"model": of_config(config).name, "model_config": dataclasses.asdict(config)}


def config_from(description: dict[str, Any]) -> Any:
    """The hyperparameters a ``describe`` dict names (``model`` absent: ``"mmnet"``, and
    ``mmnet_config`` read as ``model_config``: the files mmnet_jax 0.1.0 wrote). Unknown
    keys are ignored (files of newer versions); lists become tuples."""
    cls = get(description.get("model", "mmnet")).config_class
    d = description.get("model_config", description.get("mmnet_config"))
    if d is None:
        raise ValueError("no model_config: not a description of a model")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        )
    except TypeError as e:  # a field without a default is missing
        raise ValueError(f"model_config of {cls.__name__}: {e}") from None
