"""Builder configs: a task over one release (its classes, the map from sheet emotions to
them) and the data options (image size, frames per side, face crop) that derive variants
with their own names and data folders; strict mode from the environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow_datasets as tfds

from tfds_builders import clip_features as cf
from tfds_builders.me_common.cells import normalize_emotion

STRICT_ENV = "MMNET_TFDS_STRICT"


@dataclasses.dataclass(eq=False)
class MeConfig(tfds.core.BuilderConfig):
    """A task over one release: its classes and how sheet emotions map onto them.

    Attributes:
      class_names: the ``ClassLabel`` names, in label order.
      class_map: ``(emotion, class name)`` pairs; emotions are matched lower-cased and
        stripped. A key ``"<source>:<emotion>"`` applies to one source only (composites).
      image_size: side of the square RGB frames stored (default 224).
      frames_per_side: frames stored per side (onset side and apex side).
      face_crop: crop each clip to the Haar face box of its onset frame.
    """

    class_names: tuple[str, ...] = ()
    class_map: tuple[tuple[str, str], ...] = ()
    image_size: int = cf.DEFAULT_IMAGE_SIZE
    frames_per_side: int = cf.DEFAULT_FRAMES_PER_SIDE
    face_crop: bool = False

    def __str__(self) -> str:
        # TFDS logs a derived config with %s ("Using custom data configuration"): one short
        # line rather than the dataclass repr with every class-map pair.
        crop = "face crop" if self.face_crop else "full frame"
        return f"{self.name} ({self.image_size} px, {self.frames_per_side} frames/side, {crop})"

    def label_of(self, source: str, emotion: str) -> str | None:
        """The class of a sheet emotion, or None when the task leaves it out."""
        key = normalize_emotion(emotion)
        mapping = dict(self.class_map)
        return mapping.get(f"{source}:{key}", mapping.get(key))


def make_config(
    name: str,
    class_map: Mapping[str, str],
    class_names: Sequence[str],
    description: str,
    face_crop: bool = False,
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
    )


def derived_config(
    base: MeConfig,
    image_size: int | None = None,
    frames_per_side: int | None = None,
    face_crop: bool | None = None,
) -> MeConfig:
    """``base`` with other data options, under a name of its own (its own data folder).

    ``5class`` at 32 px -> ``5class_32px``; 3 frames per side -> ``..._3f``; face crop
    switched on or off against the predefined default -> ``..._crop`` / ``..._nocrop``.
    """
    changes: dict[str, Any] = {}
    parts = []
    if image_size is not None and image_size != base.image_size:
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        changes["image_size"] = int(image_size)
        parts.append(f"{int(image_size)}px")
    if frames_per_side is not None and frames_per_side != base.frames_per_side:
        if frames_per_side < 1:
            raise ValueError(f"frames_per_side must be at least 1, got {frames_per_side}")
        changes["frames_per_side"] = int(frames_per_side)
        parts.append(f"{int(frames_per_side)}f")
    if face_crop is not None and bool(face_crop) != base.face_crop:
        changes["face_crop"] = bool(face_crop)
        parts.append("crop" if face_crop else "nocrop")
    if not changes:
        return base
    return dataclasses.replace(base, name="_".join([base.name, *parts]), **changes)


def env_strict() -> bool:
    """Strict mode from the environment (``MMNET_TFDS_STRICT=1``)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")
