"""The record layout every micro-expression builder writes: one record per clip.

Each record holds what LOSO training needs and nothing that ties it to a local path:

- ``id``: ``"<subject>/<clip>"`` (also the example key: stable, unique).
- ``subject``, ``clip``, ``emotion`` (raw sheet text), ``action_units`` (raw text),
  ``source`` (the dataset the clip comes from: ``casme2``, ``samm``, ...).
- ``label``: the builder config's ``ClassLabel``.
- ``onset``, ``apex``, ``offset``: frame numbers as in the sheet (``apex`` estimated when
  ``apex_estimated`` is true: the middle of onset..offset).
- ``onset_frames``: ``frames_per_side`` face frames, RGB uint8, ``image_size`` square.
  Element ``i`` is frame ``onset + min(i, jitter)``.
- ``apex_frames``: likewise, element ``i`` is frame ``apex - min(i, jitter)``.
- ``jitter``: how many neighbours the official temporal jitter may draw from on each
  side: ``min(frames_per_side - 1, int(0.15 * (apex - onset) / 4))``. Element 0 of each
  sequence is the labelled frame; training draws an index in ``[0, jitter]``.
- ``onset_frame_numbers``, ``apex_frame_numbers``: the frame number of each stored frame.

The release builders (``provenance=True``) add how each clip was prepared:

- ``face_alignment``: JSON text, the ONE transform applied to every stored frame of the
  clip: ``{"mode": "aligned", "method", "box", "roll_degrees", "left_eye", "right_eye",
  "crop_size", "matrix", "frame"}`` (the face located in onset frame ``frame`` by
  :func:`mmnet_jax.faces.locate`, eyes levelled by ``matrix``, source pixels -> a square
  crop of ``crop_size`` px, then resized to ``image_size``), ``{"mode": "box", "method":
  "haar", "box", "frame"}`` (the plain Haar box) or ``{"mode": "full frame", "reason"}``
  (no crop: switched off, or no face found).
- ``apex_method``: how ``apex`` was chosen: ``"annotated"`` (the release's apex),
  ``"middle"`` (the middle of onset..offset: no usable annotation) or a spotting method
  of :mod:`mmnet_jax.spot` (``"detrended"``, ``"onset"``).

Frames are stored PNG-encoded (lossless: re-encoding as JPEG adds noise that does not
cancel between onset and apex, and the motion signal is a few grey levels).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import tensorflow_datasets as tfds

DEFAULT_IMAGE_SIZE = 224
# The official jitter draws at most int(0.15 * (apex - onset) / 4) frames away: 3 for a
# CASME II clip of 80 frames from onset to apex. Five frames per side cover almost all.
DEFAULT_FRAMES_PER_SIDE = 5


def jitter_range(onset: int, apex: int, frames_per_side: int) -> int:
    """Neighbours the official temporal jitter samples from, capped by what is stored."""
    return int(max(0, min(frames_per_side - 1, int(0.15 * (apex - onset) / 4))))


def onset_frame_numbers(onset: int, apex: int, frames_per_side: int) -> list[int]:
    j = jitter_range(onset, apex, frames_per_side)
    return [onset + min(i, j) for i in range(frames_per_side)]


def apex_frame_numbers(onset: int, apex: int, frames_per_side: int) -> list[int]:
    j = jitter_range(onset, apex, frames_per_side)
    return [apex - min(i, j) for i in range(frames_per_side)]


def clip_features(
    class_names: list[str],
    image_size: int = DEFAULT_IMAGE_SIZE,
    frames_per_side: int = DEFAULT_FRAMES_PER_SIDE,
    provenance: bool = False,
) -> tfds.features.FeaturesDict:
    """The ``FeaturesDict`` of one clip record (see the module docstring); ``provenance``
    adds ``face_alignment`` and ``apex_method`` (the release builders)."""
    image = tfds.features.Image(shape=(image_size, image_size, 3), encoding_format="png")
    frames = tfds.features.Sequence(image, length=frames_per_side)
    numbers = tfds.features.Sequence(np.int32, length=frames_per_side)
    extra = {"face_alignment": tfds.features.Text(), "apex_method": tfds.features.Text()}
    return tfds.features.FeaturesDict(
        {
            **(extra if provenance else {}),
            "id": tfds.features.Text(),
            "subject": tfds.features.Text(),
            "clip": tfds.features.Text(),
            "source": tfds.features.Text(),
            "emotion": tfds.features.Text(),
            "action_units": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=list(class_names)),
            "onset": np.int32,
            "apex": np.int32,
            "offset": np.int32,
            "apex_estimated": np.bool_,
            "jitter": np.int32,
            "onset_frames": frames,
            "apex_frames": frames,
            "onset_frame_numbers": numbers,
            "apex_frame_numbers": numbers,
        }
    )


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image (TFDS cannot encode arrays without TensorFlow)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB uint8 image, got {rgb.dtype} {rgb.shape}")
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


@dataclasses.dataclass(frozen=True)
class ClipRecord:
    """One clip, ready to be written (frames already face-sized RGB uint8)."""

    subject: str
    clip: str
    source: str
    emotion: str
    action_units: str
    label: str
    onset: int
    apex: int
    offset: int
    apex_estimated: bool
    onset_frames: list[np.ndarray]
    apex_frames: list[np.ndarray]
    onset_numbers: list[int]
    apex_numbers: list[int]
    # Written only when set (the release builders' provenance features).
    face_alignment: str | None = None
    apex_method: str | None = None

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.clip}"

    def to_example(self, frames_per_side: int) -> tuple[str, dict]:
        """The ``(key, example)`` pair a builder's ``_generate_examples`` yields."""
        if len(self.onset_frames) != frames_per_side or len(self.apex_frames) != frames_per_side:
            raise ValueError(f"{self.key}: expected {frames_per_side} frames per side")
        example = {
            "id": self.key,
            "subject": self.subject,
            "clip": self.clip,
            "source": self.source,
            "emotion": self.emotion,
            "action_units": self.action_units,
            "label": self.label,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "apex_estimated": self.apex_estimated,
            "jitter": jitter_range(self.onset, self.apex, frames_per_side),
            "onset_frames": [encode_png(f) for f in self.onset_frames],
            "apex_frames": [encode_png(f) for f in self.apex_frames],
            "onset_frame_numbers": list(self.onset_numbers),
            "apex_frame_numbers": list(self.apex_numbers),
        }
        if self.face_alignment is not None:
            example["face_alignment"] = self.face_alignment
        if self.apex_method is not None:
            example["apex_method"] = self.apex_method
        return self.key, example
