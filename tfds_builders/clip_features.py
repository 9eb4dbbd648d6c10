"""The record layout every micro-expression builder writes: one record per clip.

Each record holds what LOSO training needs and nothing that ties it to a local path:

- ``id``: ``"<subject>/<clip>"`` (also the example key: stable, unique).
- ``subject``, ``clip``, ``emotion`` (raw sheet text), ``action_units`` (raw text),
  ``source`` (the dataset the clip comes from: ``casme2``, ``samm``, ...).
- ``label``: the builder config's ``ClassLabel``.
- ``onset``, ``apex``, ``offset``: frame numbers as in the sheet (``apex`` estimated when
  ``apex_estimated`` is true: the middle of onset..offset).
- ``onset_frames``: ``frames_per_side`` (K) face frames, RGB uint8, ``image_size``
  square. Element ``i`` is frame ``onset + min(i, n_onset)``.
- ``apex_frames``: ``2K - 1`` frames. Element ``i < K`` is frame ``apex - min(i,
  n_before)`` (element 0 the labelled apex); element ``K - 1 + i`` (``i >= 1``) is frame
  ``apex + min(i, n_after)``, after the apex.
- ``n_onset, n_before, n_after`` (:func:`stored_neighbours`): the widest range any
  official script's temporal jitter draws from on that side
  (:func:`mmnet_jax.vision.frames.official_jitter`: 3-class ``int(0.2 (apex - onset) / 4)``
  after the onset; ``int(0.15 (apex - onset) / 4)`` before the apex; 3-class
  ``int(0.15 (offset - apex) / 4)`` after it), each capped at ``K - 1``; frames after the
  apex stop at the first one missing on disk. Training caps the script's range by what
  is stored (``mmnet_jax.data.records``).
- ``jitter``: the 5-class range, ``min(K - 1, int(0.15 (apex - onset) / 4))`` (kept
  for readers of 1.x records).
- ``onset_frame_numbers``, ``apex_frame_numbers``: the frame number of each stored frame.

The release builders (``provenance=True``) add how each clip was prepared:

- ``face_alignment``: JSON text, the ONE transform applied to every stored frame of the
  clip: ``{"mode": "aligned", "method", "box", "roll_degrees", "left_eye", "right_eye",
  "crop_size", "matrix", "frame"}`` (the face located in onset frame ``frame`` by
  :func:`mmnet_jax.vision.faces.locate`, eyes levelled by ``matrix``, source pixels -> a square
  crop of ``crop_size`` px, then resized to ``image_size``), ``{"mode": "box", "method":
  "haar", "box", "frame"}`` (the plain Haar box) or ``{"mode": "full frame", "reason"}``
  (no crop: switched off, or no face found).
- ``apex_method``: how ``apex`` was chosen: ``"annotated"`` (the release's apex),
  ``"middle"`` (the middle of onset..offset: no usable annotation) or a spotting method
  of :mod:`mmnet_jax.vision.spot` (``"detrended"``, ``"onset"``).

Records of a flow build (builder option ``flow_size`` S, ``mmnet prepare --flow S``)
add:

- ``flow``: float32 (S, S, 3), channels (u, v, strain): the TV-L1 optical flow from the
  labelled onset to the labelled apex frame and its optical strain
  (:func:`mmnet_jax.vision.flow.features`), computed on the clip's face crops at the
  crop's full size, then resized to S with u, v scaled to pixels at size S; raw, not
  normalised. The dataset's ``metadata.json`` records the TV-L1 parameters.

Frames are stored PNG-encoded (lossless: re-encoding as JPEG adds noise that does not
cancel between onset and apex, and the motion signal is a few grey levels).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container

import cv2
import numpy as np
import tensorflow_datasets as tfds

from mmnet_jax.vision import frames

DEFAULT_IMAGE_SIZE = 224
# Neighbours stored per side (K - 1 = 4): the official jitter moves a frame at most
# int(0.2 (apex - onset) / 4) frames (3-class onset), 4 for up to 99 frames from onset to
# apex. On the released sheets: CASME II (2019-07-01) at most 88 frames onset to apex and
# 102 apex to offset, SAMM at most 96 and 81, so no range is capped; CAS(ME)^3 part A
# (30 fps) at most 10 onset to apex, but some offsets lie hundreds of frames after the
# apex, so 15 of 686 clips have a 3-class after-apex range over 4. A capped clip draws
# from the stored frames and is noted in the build report.
DEFAULT_FRAMES_PER_SIDE = 5
# The release note of the builder versions that first store this layout.
AFTER_APEX_RELEASE_NOTE = (
    "Records hold frames after the apex (apex_frames and apex_frame_numbers: 2K - 1, "
    "element K - 1 + i is apex + i) and the onset side covers the 3-class jitter's range "
    "(int(0.2 (apex - onset) / 4)), for the official 3-class temporal jitter; a range "
    "wider than the stored frames is noted in the build report."
)


def widest_jitter(onset: int, apex: int, offset: int) -> tuple[int, int, int]:
    """``(after onset, before apex, after apex)``: the widest range of any official jitter
    recipe on each side (:func:`mmnet_jax.vision.frames.official_jitter`)."""
    ranges = [frames.official_jitter(onset, apex, offset, r) for r in frames.JITTER_RECIPES]
    return tuple(max(side) for side in zip(*ranges, strict=True))


def stored_neighbours(
    onset: int,
    apex: int,
    offset: int,
    frames_per_side: int,
    on_disk: Container[int] | None = None,
) -> tuple[int, int, int]:
    """``(after onset, before apex, after apex)``: :func:`widest_jitter`, capped at
    ``frames_per_side - 1``.

    ``on_disk``: the frame numbers present; frames after the apex are optional and stop
    at the first one missing (the caller checks the others).
    """
    n_onset, n_before, n_after = (
        min(frames_per_side - 1, w) for w in widest_jitter(onset, apex, offset)
    )
    if on_disk is not None:
        n_after = next((a for a in range(n_after) if apex + a + 1 not in on_disk), n_after)
    return n_onset, n_before, n_after


def jitter_range(onset: int, apex: int, frames_per_side: int) -> int:
    """The 5-class range (the record's ``jitter``), capped by what is stored."""
    return min(frames_per_side - 1, frames.official_jitter(onset, apex, apex, "5class")[0])


def frame_numbers(
    onset: int,
    apex: int,
    offset: int,
    frames_per_side: int,
    on_disk: Container[int] | None = None,
) -> tuple[list[int], list[int]]:
    """The frame numbers a record stores: ``(onset side (K), apex side (2K - 1))`` (see
    :func:`stored_neighbours` for ``on_disk``)."""
    k = frames_per_side
    n_onset, n_before, n_after = stored_neighbours(onset, apex, offset, k, on_disk)
    onset_numbers = [onset + min(i, n_onset) for i in range(k)]
    apex_numbers = [apex - min(i, n_before) for i in range(k)]
    apex_numbers += [apex + min(i, n_after) for i in range(1, k)]
    return onset_numbers, apex_numbers


def jitter_note(
    onset: int,
    apex: int,
    offset: int,
    frames_per_side: int,
    on_disk: Container[int] | None = None,
) -> str | None:
    """A build-report note when an official jitter range is wider than what a record
    stores (None when every range fits): training draws from the stored frames only."""
    stored = stored_neighbours(onset, apex, offset, frames_per_side, on_disk)
    widest = widest_jitter(onset, apex, offset)
    sides = ("after the onset", "before the apex", "after the apex")
    short = [
        f"{side} {w} (stored {s})"
        for side, w, s in zip(sides, widest, stored, strict=True)
        if w > s
    ]
    if not short:
        return None
    hint = ""
    if max(widest) > frames_per_side - 1:
        hint = f"; --frames_per_side {max(widest) + 1} stores them all"
    return f"temporal jitter capped to the stored frames: {', '.join(short)}{hint}"


def clip_features(
    class_names: list[str],
    image_size: int = DEFAULT_IMAGE_SIZE,
    frames_per_side: int = DEFAULT_FRAMES_PER_SIDE,
    provenance: bool = False,
    flow_size: int = 0,
) -> tfds.features.FeaturesDict:
    """The ``FeaturesDict`` of one clip record (see the module docstring); ``provenance``
    adds ``face_alignment`` and ``apex_method`` (the release builders), ``flow_size`` S
    (> 0) the ``flow`` feature (:func:`flow_feature`)."""
    image = tfds.features.Image(shape=(image_size, image_size, 3), encoding_format="png")
    onset_frames = tfds.features.Sequence(image, length=frames_per_side)
    apex_frames = tfds.features.Sequence(image, length=2 * frames_per_side - 1)
    onset_numbers = tfds.features.Sequence(np.int32, length=frames_per_side)
    apex_numbers = tfds.features.Sequence(np.int32, length=2 * frames_per_side - 1)
    extra = {"face_alignment": tfds.features.Text(), "apex_method": tfds.features.Text()}
    flow = {"flow": flow_feature(flow_size)} if flow_size else {}
    return tfds.features.FeaturesDict(
        {
            **(extra if provenance else {}),
            **flow,
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
            "onset_frames": onset_frames,
            "apex_frames": apex_frames,
            "onset_frame_numbers": onset_numbers,
            "apex_frame_numbers": apex_numbers,
        }
    )


FLOW_RAW = (
    "optical flow from the onset to the apex frame: channels u, v (pixels at this size, x "
    "right, y down) and optical strain (dimensionless); raw, not normalised"
)


def flow_feature(size: int, desc: str = FLOW_RAW, value_range: str = "") -> tfds.features.Tensor:
    """The ``flow`` feature: float32 (size, size, 3), channels (u, v, strain)."""
    doc = tfds.features.Documentation(desc=desc, value_range=value_range)
    return tfds.features.Tensor(shape=(size, size, 3), dtype=np.float32, doc=doc)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H, W, 3) or grey (H, W, 1) uint8 image (TFDS cannot encode
    arrays without TensorFlow)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"expected an RGB or grey uint8 image, got {image.dtype} {image.shape}")
    bgr = image if image.shape[-1] == 1 else image[..., ::-1]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
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
    # (S, S, 3) float32 (u, v, strain), written only when set (flow builds).
    flow: np.ndarray | None = None

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.clip}"

    def to_example(self, frames_per_side: int) -> tuple[str, dict]:
        """The ``(key, example)`` pair a builder's ``_generate_examples`` yields."""
        if len(self.onset_frames) != frames_per_side or len(self.apex_frames) != (
            2 * frames_per_side - 1
        ):
            raise ValueError(
                f"{self.key}: expected {frames_per_side} onset-side and "
                f"{2 * frames_per_side - 1} apex-side frames, got {len(self.onset_frames)} "
                f"and {len(self.apex_frames)}"
            )
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
        if self.flow is not None:
            example["flow"] = np.asarray(self.flow, np.float32)
        return self.key, example
