"""Builder configs: a task over one release (its classes, the map from sheet emotions to
them) and the data options (image size, frames per side, face crop and alignment, how a
missing apex is chosen) that derive variants with their own names and data folders;
strict mode from the environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tensorflow_datasets as tfds

from mmnet_jax.vision import spot
from tfds_builders import clip_features as cf
from tfds_builders.me_common.cells import normalize_emotion

STRICT_ENV = "MMNET_TFDS_STRICT"
MIN_FLOW_SIZE = 2  # the strain's derivatives need two pixels a side


@dataclasses.dataclass(eq=False)
class MeConfig(tfds.core.BuilderConfig):
    """A task over one release: its classes and how sheet emotions map onto them.

    Attributes:
      class_names: the ``ClassLabel`` names, in label order.
      class_map: ``(emotion, class name)`` pairs; emotions are matched lower-cased and
        stripped. A key ``"<source>:<emotion>"`` applies to one source only (composites).
      image_size: side of the square RGB frames stored (default 224).
      frames_per_side: frames stored per side (onset side and apex side).
      face_crop: crop each clip to the face of its onset frame (False: frames as
        released, no crop and no alignment).
      face_align: with ``face_crop``, locate the face of the onset frame with
        :func:`mmnet_jax.vision.faces.locate` (landmarks), level its eyes and crop a square,
        with ONE transform for every frame of the clip; False: the plain Haar face box
        of the onset frame (the 1.0.0 crop). Needs ``face_crop``.
      apex_method: how the apex of a clip whose release has NO apex annotation (SMIC) is
        chosen: ``"middle"`` (the middle frame of onset..offset) or a spotting method of
        :mod:`mmnet_jax.vision.spot` (``"detrended"``, ``"onset"``) over [onset, offset].
      flow_size: 0 (the default): no flow; S: records also hold ``flow``, the onset-to-apex
        optical flow (S, S, 3) float32 channels (u, v, strain) of
        :func:`mmnet_jax.vision.flow.features`, computed on the labelled onset and apex
        frames after the clip's face crop, at the crop's full size, then resized to S.
    """

    class_names: tuple[str, ...] = ()
    class_map: tuple[tuple[str, str], ...] = ()
    image_size: int = cf.DEFAULT_IMAGE_SIZE
    frames_per_side: int = cf.DEFAULT_FRAMES_PER_SIDE
    face_crop: bool = False
    face_align: bool = False
    apex_method: str = "middle"
    flow_size: int = 0

    def __post_init__(self):
        check_options(self.face_crop, self.face_align, self.apex_method)

    @property
    def crop_mode(self) -> str:
        """``"aligned"``, ``"box"`` (Haar box) or ``"full frame"``."""
        if not self.face_crop:
            return "full frame"
        return "aligned" if self.face_align else "box"

    def __str__(self) -> str:
        # TFDS logs a derived config with %s ("Using custom data configuration"): one short
        # line rather than the dataclass repr with every class-map pair.
        crop = {"aligned": "aligned face", "box": "face box", "full frame": "full frame"}
        method = self.apex_method
        apex = "" if method == "middle" else f", missing apex spotted ({method})"
        flow = f", flow {self.flow_size} px" if self.flow_size else ""
        return (
            f"{self.name} ({self.image_size} px, {self.frames_per_side} frames/side, "
            f"{crop[self.crop_mode]}{apex}{flow})"
        )

    def label_of(self, source: str, emotion: str) -> str | None:
        """The class of a sheet emotion, or None when the task leaves it out."""
        key = normalize_emotion(emotion)
        mapping = dict(self.class_map)
        return mapping.get(f"{source}:{key}", mapping.get(key))


APEX_METHODS = spot.METHODS  # "detrended", "onset", "middle"


def check_options(face_crop: bool, face_align: bool, apex_method: str) -> None:
    """Raises ValueError for ``face_align`` without ``face_crop`` or an unknown apex method."""
    if face_align and not face_crop:
        raise ValueError("face_align needs face_crop (alignment crops the face)")
    if apex_method not in APEX_METHODS:
        raise ValueError(
            f"unknown apex_method {apex_method!r}; known: {', '.join(sorted(APEX_METHODS))}"
        )


def make_config(
    name: str,
    class_map: Mapping[str, str],
    class_names: Sequence[str],
    description: str,
    face_crop: bool = False,
    face_align: bool = False,
    apex_method: str = "middle",
) -> MeConfig:
    """A predefined config; checks that the map only targets declared classes."""
    unknown = sorted(set(class_map.values()) - set(class_names))
    if unknown:
        raise ValueError(f"{name}: class map targets undeclared classes {unknown}")
    return MeConfig(
        name=name,
        description=description,
        class_names=tuple(class_names),
        class_map=tuple((normalize_emotion(k), v) for k, v in class_map.items()),
        face_crop=face_crop,
        face_align=face_align,
        apex_method=apex_method,
    )


def derived_config(
    base: MeConfig,
    image_size: int | None = None,
    frames_per_side: int | None = None,
    face_crop: bool | None = None,
    face_align: bool | None = None,
    apex_method: str | None = None,
    flow_size: int | None = None,
) -> MeConfig:
    """``base`` with other data options, under a name of its own (its own data folder).

    ``5class`` at 32 px -> ``5class_32px``; 3 frames per side -> ``..._3f``; face crop
    switched on or off against the predefined default -> ``..._crop`` / ``..._nocrop``;
    face alignment switched (while cropping) -> ``..._align`` / ``..._noalign``; another
    apex method for clips without an apex -> ``..._<method>apex``; records with the
    onset-to-apex flow at S px -> ``..._flow<S>`` (``flow_size`` 0 or None: no flow).

    ``face_align=True`` turns ``face_crop`` on unless it is given False (a ValueError);
    ``face_crop=False`` turns alignment off (frames as released).

    Raises:
      ValueError: a bad size, count, apex method, or face_align=True with face_crop=False.
    """
    changes: dict[str, Any] = {}
    parts: list[str] = []
    size_change(base, image_size, changes, parts)
    if frames_per_side is not None and frames_per_side != base.frames_per_side:
        if frames_per_side < 1:
            raise ValueError(f"frames_per_side must be at least 1, got {frames_per_side}")
        changes["frames_per_side"] = int(frames_per_side)
        parts.append(f"{int(frames_per_side)}f")
    face_changes(base, face_crop, face_align, changes, parts)
    if apex_method is not None and apex_method != base.apex_method:
        check_options(False, False, apex_method)
        changes["apex_method"] = apex_method
        parts.append(f"{apex_method}apex")
    if flow_size and flow_size != base.flow_size:
        if flow_size < MIN_FLOW_SIZE:
            raise ValueError(f"flow_size must be at least {MIN_FLOW_SIZE}, got {flow_size}")
        changes["flow_size"] = int(flow_size)
        parts.append(f"flow{int(flow_size)}")
    if not changes:
        return base
    return dataclasses.replace(base, name="_".join([base.name, *parts]), **changes)


def size_change(base: Any, image_size: int | None, changes: dict, parts: list[str]) -> None:
    """Adds an ``image_size`` other than ``base``'s to ``changes`` and its name part
    (``32px``) to ``parts``.

    Raises:
      ValueError: a size under 8.
    """
    if image_size is not None and image_size != base.image_size:
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        changes["image_size"] = int(image_size)
        parts.append(f"{int(image_size)}px")


def face_changes(
    base: Any, face_crop: bool | None, face_align: bool | None, changes: dict, parts: list[str]
) -> None:
    """Adds face crop and alignment other than ``base``'s to ``changes`` and their name
    parts (``crop`` / ``nocrop``, ``align`` / ``noalign``) to ``parts``:
    ``face_align=True`` turns the crop on unless ``face_crop`` is False, and no crop
    means no alignment.

    Raises:
      ValueError: face_align=True with face_crop=False.
    """
    crop = base.face_crop if face_crop is None else bool(face_crop)
    if face_align and face_crop is None:
        crop = True
    align = (base.face_align if face_align is None else bool(face_align)) and crop
    if face_align and not crop:
        raise ValueError("face_align needs face_crop (alignment crops the face)")
    if crop != base.face_crop:
        changes["face_crop"] = crop
        parts.append("crop" if crop else "nocrop")
    if align != base.face_align:
        changes["face_align"] = align
        # Without a crop there is nothing to align: "nocrop" says it all.
        if crop:
            parts.append("align" if align else "noalign")


def config_with_options(
    builder: Any, config: Any, derive: Callable[..., Any], options: Sequence[Any]
) -> Any:
    """The config a builder is made with: ``config`` (a config, its name, or None for the
    builder's first) derived with ``options`` (``derive(base, *options)``) when any of
    them is given; else ``config`` unchanged.

    Raises:
      ValueError: an unknown config name (the known ones listed).
    """
    if all(o is None for o in options):
        return config
    base = config
    if base is None:
        base = builder.BUILDER_CONFIGS[0]
    elif isinstance(base, str):
        base = builder.builder_configs.get(base.split(":")[0])
        if base is None:
            raise ValueError(
                f"{builder.name}: unknown config {config!r}; "
                f"known: {', '.join(builder.builder_configs)}"
            )
    return derive(base, *options)


def env_strict() -> bool:
    """Strict mode from the environment (``MMNET_TFDS_STRICT=1``)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")
