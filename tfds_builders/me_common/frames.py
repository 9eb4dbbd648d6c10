"""Loading a checked clip's frames into a record: decode and resize through
:mod:`mmnet_jax.frames` (grayscale -> RGB), optional Haar face crop (one box per clip, from
the onset frame), resize to the config's square ``image_size``."""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

from mmnet_jax import frames as frames_lib
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
            "(opencv-python-headless 4.x ships it, 5.x does not)"
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
    if box is None:
        return rgb
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def load_record(
    plan: ClipPlan, config: MeConfig, index: FolderIndex, face_crop: bool | None = None
) -> cf.ClipRecord:
    """Reads, crops (``face_crop``, default the config's) and resizes a checked clip.

    Raises:
      OSError: naming the frame that cannot be decoded.
    """
    frames = index.frames(plan.folder)
    onset_numbers = cf.onset_frame_numbers(plan.onset, plan.apex, config.frames_per_side)
    apex_numbers = cf.apex_frame_numbers(plan.onset, plan.apex, config.frames_per_side)
    cache: dict[int, np.ndarray] = {}
    for n in onset_numbers + apex_numbers:
        if n not in cache:
            try:
                cache[n] = frames_lib.read_rgb(frames[n])
            except frames_lib.FrameError as e:
                raise OSError(str(e)) from None
    box = None
    if config.face_crop if face_crop is None else face_crop:
        try:
            box = detect_face(cache[plan.onset])
        except FileNotFoundError as e:
            plan.notes.append(f"face crop unavailable ({e}): full frame")
        else:
            if box is None:
                plan.notes.append(
                    f"no face found in onset frame {frames[plan.onset].name}: full frame"
                )
    size = config.image_size
    sized = {n: frames_lib.resize_square(crop(img, box), size) for n, img in cache.items()}
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
    )
