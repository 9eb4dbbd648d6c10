"""Configs of the long-video builders: how the frames of a whole video are stored (size,
grey or colour, face crop and alignment, how often the face is located), and the
variants they derive, each with its own name and data folder."""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow_datasets as tfds

from tfds_builders import video_features as vf
from tfds_builders.me_common.config import face_changes, size_change


@dataclasses.dataclass(eq=False)
class VideoConfig(tfds.core.BuilderConfig):
    """How the frames of a long video are stored.

    Attributes:
      image_size: side of the square stored frames (default 128).
      grayscale: store one grey channel (default); False stores RGB.
      face_crop: crop every frame to the face (False: whole frames, resized).
      face_align: with ``face_crop``, level the eyes (the roll of the located face);
        False: the located face's square box, unrotated.
      face_every: 0 (default): ONE transform for the whole video, from the first probed
        frame that shows a face; N > 0: the face is located every N frames and the crop
        is interpolated between those frames (head motion is followed; the crop then
        moves a little of its own).
    """

    image_size: int = vf.DEFAULT_IMAGE_SIZE
    grayscale: bool = True
    face_crop: bool = True
    face_align: bool = True
    face_every: int = 0

    def __post_init__(self):
        if self.face_align and not self.face_crop:
            raise ValueError("face_align needs face_crop (alignment crops the face)")

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def crop_mode(self) -> str:
        """``"aligned"``, ``"box"`` or ``"full frame"``."""
        if not self.face_crop:
            return "full frame"
        return "aligned" if self.face_align else "box"

    def options(self) -> dict[str, Any]:
        """The options that change the stored frames (part of the cache key)."""
        return {
            "image_size": self.image_size,
            "grayscale": self.grayscale,
            "face_crop": self.face_crop,
            "face_align": self.face_align,
            "face_every": self.face_every,
        }

    def __str__(self) -> str:
        colour = "grey" if self.grayscale else "RGB"
        crop = {"aligned": "aligned face", "box": "face box", "full frame": "full frame"}
        every = f", face located every {self.face_every} frames" if self.face_every else ""
        return f"{self.name} ({self.image_size} px {colour}, {crop[self.crop_mode]}{every})"


def derived_video_config(
    base: VideoConfig,
    image_size: int | None = None,
    grayscale: bool | None = None,
    face_crop: bool | None = None,
    face_align: bool | None = None,
    face_every: int | None = None,
) -> VideoConfig:
    """``base`` with other options, under a name of its own (its own data folder):
    ``default_64px``, ``_rgb`` / ``_gray``, ``_nocrop`` / ``_crop``, ``_noalign`` /
    ``_align``, ``_face<N>`` (the face located every N frames).

    ``face_align=True`` turns ``face_crop`` on unless it is given False (a ValueError);
    ``face_crop=False`` turns alignment off.

    Raises:
      ValueError: a bad size or interval, or face_align=True with face_crop=False.
    """
    changes: dict[str, Any] = {}
    parts: list[str] = []
    size_change(base, image_size, changes, parts)
    if grayscale is not None and bool(grayscale) != base.grayscale:
        changes["grayscale"] = bool(grayscale)
        parts.append("gray" if grayscale else "rgb")
    face_changes(base, face_crop, face_align, changes, parts)
    if face_every is not None and int(face_every) != base.face_every:
        if face_every < 0:
            raise ValueError(f"face_every must be 0 or more, got {face_every}")
        changes["face_every"] = int(face_every)
        parts.append(f"face{int(face_every)}")
    if not changes:
        return base
    return dataclasses.replace(base, name="_".join([base.name, *parts]), **changes)
