"""Loading a checked clip's frames into a record: decode and resize through
:mod:`mmnet_jax.vision.frames` (grayscale -> RGB); optional face crop, ONE transform per clip made
from its onset frame: aligned (:mod:`mmnet_jax.vision.faces`: eyes levelled, square crop) or the
plain Haar box; apex spotting (:mod:`mmnet_jax.vision.spot`) for clips without an apex
annotation; resize to the config's square ``image_size``."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Mapping

import cv2
import numpy as np

from mmnet_jax.vision import faces, flow, spot
from mmnet_jax.vision import frames as frames_lib
from tfds_builders import clip_features as cf
from tfds_builders.me_common.checks import ClipPlan
from tfds_builders.me_common.config import MeConfig
from tfds_builders.me_common.files import FolderIndex


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier | None:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder:
        return None
    path = os.path.join(folder, "haarcascade_frontalface_default.xml")
    if not os.path.exists(path):
        return None
    cascade = cv2.CascadeClassifier(path)
    return None if cascade.empty() else cascade


def detect_face(rgb: np.ndarray, margin: float = 0.1) -> tuple[int, int, int, int] | None:
    """The largest Haar-cascade face of an RGB frame as a square ``(x0, y0, x1, y1)`` box
    grown by ``margin`` of its side on each side (clipped to the frame), or None.

    Raises:
      FileNotFoundError: when this OpenCV ships no Haar cascade (opencv 5.x wheels).
    """
    cascade = _face_cascade()
    if cascade is None:
        raise FileNotFoundError(
            "no haarcascade_frontalface_default.xml in cv2.data.haarcascades "
            "(the opencv 4.x wheels ship it, 5.x does not)"
        )
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    h, w = gray.shape
    min_side = max(24, min(h, w) // 6)
    if min(h, w) < min_side:
        return None
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side,) * 2)
    if len(faces) == 0:
        return None
    x, y, fw, fh = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
    side = int(round(max(fw, fh) * (1 + 2 * margin)))
    cx, cy = x + fw / 2, y + fh / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    return max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)


def crop(rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """``rgb[y0:y1, x0:x1]`` of ``box`` (the frame itself when ``box`` is None)."""
    if box is None:
        return rgb
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


class NoFaceError(ValueError):
    """No face in a clip's onset frame while alignment is on and a face is required
    (strict builds): the message names the frame."""


class FlowFailed(ValueError):
    """The onset-to-apex flow of a clip cannot be computed (flow builds): the message
    names the frames and why (e.g. frames of different sizes)."""


def _face_transform(
    onset_rgb: np.ndarray, onset_name: str, onset: int, align: bool
) -> tuple[Callable[[np.ndarray], np.ndarray] | None, dict]:
    """The one transform of a clip, from its onset frame: ``(transform or None, the
    record's face_alignment dict)``; None with ``mode`` ``"full frame"`` and a
    ``reason`` when no face is found (or no detector is installed)."""
    no_face = {"mode": "full frame", "reason": f"no face found in onset frame {onset_name}"}
    if align:
        try:
            face = faces.locate(onset_rgb)
        except faces.BackendUnavailable as e:
            return None, {"mode": "full frame", "reason": f"face alignment unavailable ({e})"}
        if face is None:
            return None, no_face
        alignment = faces.alignment(face)
        info = {"mode": "aligned", **face.describe(), "crop_size": alignment.size}
        info["matrix"] = alignment.describe()["matrix"]
        return alignment.apply, {**info, "frame": onset}
    try:
        box = detect_face(onset_rgb)
    except FileNotFoundError as e:
        return None, {"mode": "full frame", "reason": f"face crop unavailable ({e})"}
    if box is None:
        return None, no_face
    info = {"mode": "box", "method": "haar", "box": list(box), "frame": onset}
    return functools.partial(crop, box=box), info


def _spot(
    plan: ClipPlan,
    config: MeConfig,
    span: list[int],
    read: Callable[[int], np.ndarray],
    transform: Callable[[np.ndarray], np.ndarray] | None,
    available: Mapping[int, object],
) -> None:
    """Spot the apex of a clip without an apex annotation in [onset, offset] with
    ``config.apex_method`` (:func:`mmnet_jax.vision.spot.spot_apex`), on the face: the clip's
    own transform, or else the face located in the onset frame for spotting only (full
    frames when none is found). Sets ``plan.apex`` and ``plan.apex_method``, or keeps
    the middle frame with a note (no motion found, or a frame the record needs missing)."""
    where = "the face crop"
    if transform is None:
        try:
            face = faces.locate(read(plan.onset))
        except faces.BackendUnavailable:
            face = None
        if face is None:
            where = "full frames (no face found in the onset frame)"
        else:
            transform = faces.alignment(face).apply
    clip = [transform(read(n)) if transform else read(n) for n in span]
    found = spot.spot_apex(clip, 0, len(clip) - 1, config.apex_method)
    apex = span[found.apex]
    onset_numbers, apex_numbers = cf.frame_numbers(
        plan.onset, apex, plan.offset, config.frames_per_side, on_disk=available
    )
    needed = onset_numbers + apex_numbers
    if apex == plan.onset:
        plan.notes.append(f"apex spotting found no motion: middle frame {plan.apex} kept")
        return
    if any(n not in available for n in needed):
        plan.notes.append(
            f"spotted apex {apex} lacks frames on disk: middle frame {plan.apex} kept"
        )
        return
    plan.notes.append(
        f"apex spotted ({config.apex_method}) on {where}: frame {apex} (middle frame {plan.apex})"
    )
    plan.apex = apex
    plan.apex_method = config.apex_method


def load_record(
    plan: ClipPlan,
    config: MeConfig,
    index: FolderIndex,
    face_crop: bool | None = None,
    require_face: bool = False,
    flow_seconds: list[float] | None = None,
) -> cf.ClipRecord:
    """Reads, crops or aligns, and resizes a checked clip; spots its apex when the release
    has none and ``config.apex_method`` is not ``"middle"``; with ``config.flow_size``,
    computes the onset-to-apex flow (:func:`clip_flow`), appending the seconds it took
    to ``flow_seconds`` when given.

    ``face_crop`` (default the config's) switches the crop for this clip's source;
    alignment is ``config.face_align`` while cropping. One transform, made from the onset
    frame, is applied to every stored frame. A face not found leaves the frames uncropped
    with a note in ``plan.notes`` (the build report's notes), or raises
    :class:`NoFaceError` when ``require_face`` and alignment is on.

    Raises:
      OSError: naming the frame that cannot be decoded.
      NoFaceError: see above.
      FlowFailed: the flow of the clip cannot be computed (the message says why).
      mmnet_jax.vision.flow.FlowUnavailable: OpenCV without its contrib module.
    """
    frames = index.frames(plan.folder)
    crop_on = config.face_crop if face_crop is None else face_crop
    align_on = crop_on and config.face_align
    cache: dict[int, np.ndarray] = {}

    def read(n: int) -> np.ndarray:
        if n not in cache:
            try:
                cache[n] = frames_lib.read_rgb(frames[n])
            except frames_lib.FrameError as e:
                raise OSError(str(e)) from None
        return cache[n]

    transform, face_info = None, {"mode": "full frame", "reason": "face_crop off"}
    if crop_on:
        onset_name = frames[plan.onset].name
        transform, face_info = _face_transform(read(plan.onset), onset_name, plan.onset, align_on)
        if transform is None:
            if align_on and require_face:
                raise NoFaceError(face_info["reason"])
            plan.notes.append(f"{face_info['reason']}: full frame")
    if not plan.clip.apex_annotated and config.apex_method != "middle":
        span = [n for n in sorted(frames) if plan.onset <= n <= plan.offset]
        _spot(plan, config, span, read, transform, frames)
    onset_numbers, apex_numbers = cf.frame_numbers(
        plan.onset, plan.apex, plan.offset, config.frames_per_side, on_disk=frames
    )
    capped = cf.jitter_note(
        plan.onset, plan.apex, plan.offset, config.frames_per_side, on_disk=frames
    )
    if capped:
        plan.notes.append(capped)
    size = config.image_size
    sized = {}
    for n in onset_numbers + apex_numbers:
        if n not in sized:
            image = read(n)
            sized[n] = frames_lib.resize_square(transform(image) if transform else image, size)
    flow_features = None
    if config.flow_size:
        start = time.perf_counter()
        flow_features = clip_flow(
            read(plan.onset), read(plan.apex), transform, config.flow_size,
            f"{frames[plan.onset].name} -> {frames[plan.apex].name}",
        )  # fmt: skip
        if flow_seconds is not None:
            flow_seconds.append(time.perf_counter() - start)
    clip = plan.clip
    return cf.ClipRecord(
        subject=clip.subject,
        clip=clip.clip,
        source=clip.source,
        emotion=clip.emotion,
        action_units=clip.action_units,
        label=plan.label,
        onset=plan.onset,
        apex=plan.apex,
        offset=plan.offset,
        apex_estimated=plan.apex_estimated,
        onset_frames=[sized[n] for n in onset_numbers],
        apex_frames=[sized[n] for n in apex_numbers],
        onset_numbers=onset_numbers,
        apex_numbers=apex_numbers,
        face_alignment=json.dumps(face_info, sort_keys=True),
        apex_method=plan.apex_method,
        flow=flow_features,
    )


def clip_flow(
    onset: np.ndarray,
    apex: np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray] | None,
    size: int,
    name: str,
) -> np.ndarray:
    """The ``flow`` feature of a clip: :func:`mmnet_jax.vision.flow.features` of its onset
    and apex frames after the clip's face transform (at the crop's full size: no resize
    before the flow), resized to ``size``.

    Raises:
      FlowFailed: naming ``name`` (the frames) and why.
    """
    if transform is not None:
        onset, apex = transform(onset), transform(apex)
    try:
        return flow.features(onset, apex, size)
    except flow.FlowError as e:
        raise FlowFailed(f"no flow for {name}: {e}") from None
