"""A run's settings: its config read once, where the run starts, into typed values.

``RunSettings.from_config(config)`` reads and checks every value a LOSO run uses (each
one blamed on its own field, before any data is read); the run passes the settings on,
and the parts that need the data (the model's classes and image size, the steps per
epoch, the subjects of the clips) resolve through its methods::

    settings = RunSettings.from_config(config)
    model_cfg = settings.model_config(num_classes=5, image_size=224)
    train = settings.train_settings(steps_per_epoch=7)
    replicas = settings.replicas(plan, subject_of_clip)

The data section goes to the data loader as it is (``mmnet_jax.data.records.load`` reads
its own fields); ``run_config`` is the config as given, for ``config.json``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import numpy as np

from mmnet_jax.data import augment
from mmnet_jax.evaluation import results
from mmnet_jax.models import registry
from mmnet_jax.training import folds
from mmnet_jax.training.fold_trainer import TrainSettings, default_conv_impl, default_fold_loop

if typing.TYPE_CHECKING:  # annotations only: any config with ConfigDict-style access works
    import ml_collections


class RunConfigError(ValueError):
    """The config or workdir cannot make a run (a user error: train.py prints one line)."""


_T = typing.TypeVar("_T")


def _coerce(value: Any, kind: Any) -> Any:
    if kind in (int, float, str):
        return kind(value)
    if kind is bool:
        if isinstance(value, str):  # a ConfigDict field may hold "false"
            return value.strip().lower() in ("1", "true", "yes")
        return bool(value)
    if typing.get_origin(kind) is tuple:
        return tuple(value)
    return value


def from_config(cls: type[_T], section: ml_collections.ConfigDict, where: str, **given) -> _T:
    """The dataclass ``cls`` built from a config section whose keys are its fields.

    Each field takes ``given[name]`` if given, else ``section[name]`` coerced to the
    field's type, else the field's default.

    Args:
      cls: a dataclass (``MMNetConfig``, ``TrainSettings``, ``AugmentConfig``).
      section: the ConfigDict (or dict) section, e.g. ``config.train``.
      where: the section's dotted name, for messages (``"config.train"``).
      given: values for fields that do not come from the section.

    Raises:
      RunConfigError: the section has a key that is not a field, a field without a
        default is missing, a value does not convert to its field's type, or the
        dataclass refuses a value (e.g. an unknown choice).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    keys = set(section.keys())
    unknown = sorted(keys - set(fields) - set(given))
    if unknown:
        raise RunConfigError(
            f"{where}.{unknown[0]} is not a field of {cls.__name__}; known: {sorted(fields)}"
        )
    values = {}
    for name, f in fields.items():
        if name in given:
            values[name] = given[name]
        elif name in keys:
            try:
                values[name] = _coerce(section[name], hints[name])
            except (TypeError, ValueError) as e:
                raise RunConfigError(f"{where}.{name}={section[name]!r}: {e}") from None
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RunConfigError(f"{where}.{name} is missing ({cls.__name__} needs it)")
    try:
        return cls(**values)
    except ValueError as e:  # the dataclass's own check of a value (e.g. a choice)
        raise RunConfigError(f"{where}: {e}") from None


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What a LOSO run reads of its config, checked.

    Attributes:
      run_config: the config as given (``config.to_dict()``), for ``config.json``.
      data: the ``config.data`` section, for the data loader.
      model: the ``config.model`` section (``name`` picks the model; resolved against
        the data by :meth:`model_config`).
      train: the training settings (``steps_per_epoch`` is resolved by
        :meth:`train_settings`; the fold loop is resolved for the platform).
      seed, num_seeds: the seeds ``seed .. seed + num_seeds - 1``.
      select, validation_subjects: the epoch rule (``results.SELECT_RULES``) and, under
        ``"validation"``, the validation subjects per fold (0 otherwise).
      epochs, eval_epoch: the epochs trained and the pre-declared one (1..epochs).
      group_size, device_memory_gb, only: the fold groups (0: from device memory), the
        memory to size them for (0: the device's), ``folds.only``.
      flow_size: the flow's size for models that read flow (``config.data.flow_size``,
        default 28, the field's).
      final_model, checkpoint_keep, checkpoint_every, progress_bar, distributed: as named.
    """

    run_config: dict
    data: Any
    model: dict
    train: TrainSettings
    seed: int
    num_seeds: int
    select: str
    validation_subjects: int
    epochs: int
    eval_epoch: int
    group_size: int
    device_memory_gb: float
    only: Any
    flow_size: int
    final_model: bool
    checkpoint_keep: int
    checkpoint_every: int
    progress_bar: bool
    distributed: bool

    @classmethod
    def from_config(
        cls, config: ml_collections.ConfigDict, platform: str | None = None
    ) -> RunSettings:
        """Reads and checks ``config`` (``platform``: where "auto" choices resolve for;
        None: this process's backend).

        Raises:
          RunConfigError: a value outside its range, an unknown key or choice; the
            message names the field.
        """
        epochs, eval_epoch = _epochs(config)
        group_size, memory_gb = _groups(config)
        seed, num_seeds, select, k = _seeds_and_rule(config)
        flow_size = int(config.data.get("flow_size", 28))
        if flow_size < 2:
            raise RunConfigError(f"config.data.flow_size={flow_size}: want 2 or more")
        fold_loop = str(config.folds.loop)
        train = from_config(
            TrainSettings,
            config.train,
            "config.train",
            steps_per_epoch=1,  # resolved by train_settings, from the fold plan
            eval_chunk=int(config.eval.chunk),
            augment=from_config(augment.AugmentConfig, config.augment, "config.augment"),
            fold_loop=default_fold_loop(platform) if fold_loop == "auto" else fold_loop,
        )
        model = config.model.to_dict() if hasattr(config.model, "to_dict") else dict(config.model)
        try:
            registry.get(str(model.get("name", "mmnet")))
        except ValueError as e:
            raise RunConfigError(f"config.model.name: {e}") from None
        return cls(
            run_config=config.to_dict(),
            data=config.data,
            model=model,
            train=train,
            seed=seed,
            num_seeds=num_seeds,
            select=select,
            validation_subjects=k,
            epochs=epochs,
            eval_epoch=eval_epoch,
            group_size=group_size,
            device_memory_gb=memory_gb,
            only=config.folds.only,
            flow_size=flow_size,
            final_model=bool(config.final_model),
            checkpoint_keep=int(config.checkpoint.keep),
            checkpoint_every=int(config.checkpoint.every_epochs),
            progress_bar=bool(config.progress_bar),
            distributed=bool(config.get("distributed", False)),
        )

    @property
    def model_name(self) -> str:
        return str(self.model.get("name", "mmnet"))

    def model_config(self, num_classes: int, image_size: int, platform: str | None = None) -> Any:
        """The model's hyperparameters for data of these classes and size; an ``"auto"``
        conv_impl resolved for ``platform`` (None: this process's backend).

        Raises:
          RunConfigError: a head narrower than the data's classes, or a field the model's
            config does not have.
        """
        m = self.model
        spec = registry.get(self.model_name)
        given = {"num_classes": num_classes, "image_size": image_size, "name": None}
        if "conv_impl" in {f.name for f in dataclasses.fields(spec.config_class)}:
            impl = m.get("conv_impl", "auto")
            given["conv_impl"] = default_conv_impl(platform) if impl == "auto" else str(impl)
        # head_classes (not a config field): a head wider than the data's classes, as the
        # official 3-class script's 5-way head; 0 (or absent): one output per class.
        head = int(m.get("head_classes", 0) or 0)
        if head and head < num_classes:
            raise RunConfigError(
                f"config.model.head_classes={head} is fewer than the data's {num_classes} classes"
            )
        given.update(num_classes=max(head, num_classes), head_classes=None)  # consumed here
        return from_config(spec.config_class, m, "config.model", **given)

    def train_settings(self, steps_per_epoch: int) -> TrainSettings:
        """The training settings for ``steps_per_epoch`` steps per epoch."""
        return dataclasses.replace(self.train, steps_per_epoch=steps_per_epoch)

    def replicas(self, plan: folds.FoldPlan, subject_of_clip: np.ndarray) -> folds.Replicas:
        """The (seed, fold) replicas: every seed on every fold, each with its validation
        subjects under the "validation" rule.

        Raises:
          RunConfigError: too many validation subjects for the data.
        """
        k = self.validation_subjects
        try:
            return folds.make_replicas(plan, subject_of_clip, self.seed, self.num_seeds, k)
        except ValueError as e:
            raise RunConfigError(f"config.eval.validation_subjects={k}: {e}") from None


def _int(section: Any, name: str, where: str) -> int:
    try:
        return int(section[name])
    except (TypeError, ValueError, KeyError) as e:
        raise RunConfigError(
            f"{where}.{name}={section.get(name)!r}: want an integer ({e})"
        ) from None


def _epochs(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """``(train.epochs, the eval epoch)``, each checked (-1 or 0: the last epoch)."""
    epochs = _int(config.train, "epochs", "config.train")
    if epochs < 1:  # before eval.epoch, which is checked against it
        raise RunConfigError(f"config.train.epochs={epochs}: want 1 or more")
    asked = _int(config.eval, "epoch", "config.eval")
    eval_epoch = asked if asked > 0 else epochs
    if not 1 <= eval_epoch <= epochs:
        raise RunConfigError(
            f"config.eval.epoch={asked} is outside 1..{epochs} "
            f"(train.epochs={epochs}; -1 means the last epoch)"
        )
    return epochs, eval_epoch


def _groups(config: ml_collections.ConfigDict) -> tuple[int, float]:
    """``(folds.group_size, folds.device_memory_gb)``, each checked."""
    group_size = _int(config.folds, "group_size", "config.folds")
    if group_size < 0:
        raise RunConfigError(
            f"config.folds.group_size={group_size}: want 0 (as many folds as fit in "
            "device memory) or more"
        )
    memory_gb = float(config.folds.get("device_memory_gb", 0) or 0)
    if memory_gb < 0:
        raise RunConfigError(
            f"config.folds.device_memory_gb={memory_gb}: want 0 (the device's) or more"
        )
    return group_size, memory_gb


def _seeds_and_rule(config: ml_collections.ConfigDict) -> tuple[int, int, str, int]:
    """``(seed, num_seeds, eval.select, validation subjects)``, each checked."""
    select = str(config.eval.get("select", "last"))
    if select not in results.SELECT_RULES:
        raise RunConfigError(
            f"config.eval.select={select!r}: want one of {', '.join(results.SELECT_RULES)}"
        )
    num_seeds, seed = int(config.get("num_seeds", 1)), int(config.seed)
    if num_seeds < 1:
        raise RunConfigError(f"config.num_seeds={num_seeds}: want 1 or more")
    if not -(2**31) <= seed <= seed + num_seeds - 1 < 2**31:
        raise RunConfigError(f"config.seed={seed}: the seeds must fit in int32")
    k = int(config.eval.get("validation_subjects", 2)) if select == "validation" else 0
    if select == "validation" and k < 1:
        raise RunConfigError(f"config.eval.validation_subjects={k}: want 1 or more")
    return seed, num_seeds, select, k
