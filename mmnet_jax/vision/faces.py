"""Face location and clip alignment, with nothing downloaded at run time.

Two backends:

- ``"dlib"`` (the ``faces`` extra: ``pip install -e ".[faces]"``): dlib's HOG face
  detector (built into dlib) and the 5-point landmark model that the
  ``face_recognition_models`` package ships (eye corners and the base of the nose; CC0).
  ``landmarks=68`` selects the 68-point model the same package ships (the iBUG 300-W
  layout many micro-expression papers used; its training data excludes commercial use).
- ``"haar"`` (the fallback, always there): OpenCV's frontal-face Haar cascade and its eye
  cascade (``cv2.data.haarcascades``, shipped by the OpenCV 4.x wheels such as
  opencv-contrib-python-headless). Landmarks are the two eye centres; when the eye
  cascade does not find one eye on each side of the face box, the face is returned with
  eye positions guessed from the box and roll 0 (``Face.method`` says ``haar-box``).

``backend="auto"`` (the default) uses dlib when the extra is installed, else Haar. The
docs/faces.md ("Faces") compares them on real photographs.

Coordinates are pixels, ``x`` to the right and ``y`` down. ``roll_degrees`` is the angle of
the line from the image-left eye to the image-right eye, ``atan2(dy, dx)``: positive when
the image-right eye is lower (the face turned clockwise as seen on screen).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import os
from collections.abc import Sequence

import cv2
import numpy as np

BACKENDS = ("auto", "dlib", "haar")
DEFAULT_MARGIN = 0.15


class FaceNotFound(ValueError):
    """No face in the reference frame of a clip (the message names the frame)."""


class BackendUnavailable(RuntimeError):
    """The requested backend is not installed (the message says what to install)."""


@dataclasses.dataclass(frozen=True)
class Face:
    """One face in an image.

    Attributes:
      box: ``(x0, y0, x1, y1)`` the detector's box, pixels (x1, y1 exclusive).
      landmarks: float64 (K, 2) ``(x, y)`` pixels (K = 5 or 68 for dlib, 2 for Haar: the
        eye centres, image-left first).
      left_eye, right_eye: the image-left and image-right eye centres ``(x, y)``.
      roll_degrees: angle of the line from ``left_eye`` to ``right_eye`` (see the module
        docstring for the sign).
      method: ``dlib-5``, ``dlib-68``, ``haar`` or ``haar-box`` (eyes not found).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    roll_degrees: float
    method: str

    def describe(self) -> dict:
        """JSON-ready summary: method, box, roll_degrees, eye centres."""
        return {
            "method": self.method,
            "box": [int(v) for v in self.box],
            "roll_degrees": round(float(self.roll_degrees), 3),
            "left_eye": [round(float(v), 2) for v in self.left_eye],
            "right_eye": [round(float(v), 2) for v in self.right_eye],
        }


def _roll(left: np.ndarray, right: np.ndarray) -> float:
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        return np.ascontiguousarray(image[..., 0])
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")


# ---------------------------------------------------------------------------------------
# dlib


def dlib_available() -> bool:
    """Whether the ``faces`` extra (dlib and face_recognition_models) is installed."""
    try:
        _dlib_models(5)
    except BackendUnavailable:
        return False
    return True


_MODEL_FILES = {
    5: "shape_predictor_5_face_landmarks.dat",
    68: "shape_predictor_68_face_landmarks.dat",
}


@functools.cache
def _dlib_models(points: int):
    if points not in _MODEL_FILES:
        raise ValueError(f"landmarks must be 5 or 68, got {points}")
    # The package's __init__ needs pkg_resources (gone from recent setuptools): find its
    # model files without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    try:
        import dlib  # noqa: PLC0415 - optional extra
    except ImportError:
        spec = None
    if spec is None or not spec.origin:
        raise BackendUnavailable(
            "the dlib face backend needs the faces extra (dlib-bin and "
            'face-recognition-models): pip install "mmnet_jax[faces]"'
        )
    path = os.path.join(os.path.dirname(spec.origin), "models", _MODEL_FILES[points])
    if not os.path.exists(path):
        raise BackendUnavailable(f"face_recognition_models lacks {path}: reinstall it")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(path)


def _locate_dlib(gray: np.ndarray, points: int) -> Face | None:
    detector, predictor = _dlib_models(points)
    # One upsampling finds faces down to about 40 px wide (dlib's own example setting).
    rects = detector(gray, 1)
    if not rects:
        return None
    rect = max(rects, key=lambda r: r.area())
    shape = predictor(gray, rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
    if points == 68:  # 36-41: the image-left eye, 42-47: the image-right eye
        left, right = pts[36:42].mean(0), pts[42:48].mean(0)
    else:  # 0-1: the image-right eye's corners, 2-3: the image-left eye's, 4: nose
        left, right = pts[2:4].mean(0), pts[0:2].mean(0)
    h, w = gray.shape
    box = (
        max(0, rect.left()),
        max(0, rect.top()),
        min(w, rect.right() + 1),
        min(h, rect.bottom() + 1),
    )
    return Face(box, pts, tuple(left), tuple(right), _roll(left, right), f"dlib-{points}")


def dlib_box(gray: np.ndarray, upsample: int = 0) -> tuple[int, int, int, int] | None:
    """The largest face dlib's HOG detector finds in a grayscale image, as ``(x0, y0, x1,
    y1)`` clipped to the image, or None (no landmarks: the fast path for video).
    ``upsample=0`` finds faces from about 80 px wide; each upsampling halves that and
    quadruples the time.

    Raises:
      BackendUnavailable: the faces extra is not installed.
    """
    detector, _ = _dlib_models(5)
    rects = detector(np.ascontiguousarray(gray), upsample)
    if not rects:
        return None
    rect = max(rects, key=lambda r: r.area())
    h, w = gray.shape
    box = (max(0, rect.left()), max(0, rect.top()), min(w, rect.right() + 1),
           min(h, rect.bottom() + 1))  # fmt: skip
    return box if box[0] < box[2] and box[1] < box[3] else None


# ---------------------------------------------------------------------------------------
# Haar


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None) or ""
    path = os.path.join(folder, name)
    cascade = cv2.CascadeClassifier(path) if os.path.exists(path) else None
    if cascade is None or cascade.empty():
        raise BackendUnavailable(
            f"no {name} in cv2.data.haarcascades (the opencv 4.x wheels ship it, "
            "5.x does not); install the faces extra for the dlib backend"
        )
    return cascade


def haar_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest Haar-cascade face of a grayscale image as ``(x0, y0, x1, y1)``, or None."""
    h, w = gray.shape
    min_side = max(24, min(h, w) // 6)
    if min(h, w) < min_side:
        return None
    faces = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(min_side,) * 2
    )
    if len(faces) == 0:
        return None
    x, y, fw, fh = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
    return x, y, x + fw, y + fh


def _locate_haar(gray: np.ndarray) -> Face | None:
    box = haar_box(gray)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    fw, fh = x1 - x0, y1 - y0
    # Eyes sit in the upper half of the Haar box, at about 30 % and 70 % of its width.
    expected = [
        np.array([x0 + 0.3 * fw, y0 + 0.38 * fh]),
        np.array([x0 + 0.7 * fw, y0 + 0.38 * fh]),
    ]
    roi = gray[y0 : y0 + int(0.6 * fh), x0:x1]
    eyes = [None, None]
    # Tried in turn until one finds an eye on each side of the box. On the photographs of
    # tests/test_faces.py the plain eye cascade on the unequalised box found both eyes
    # most often; equalising first lost one eye of a rotated face.
    for name, image in (
        ("haarcascade_eye.xml", roi),
        ("haarcascade_eye_tree_eyeglasses.xml", roi),
        ("haarcascade_eye.xml", cv2.equalizeHist(roi)),
    ):
        found = _cascade(name).detectMultiScale(
            image, scaleFactor=1.05, minNeighbors=3, minSize=(max(1, fw // 10),) * 2,
            maxSize=(max(2, fw // 3),) * 2,
        )  # fmt: skip
        centres = [np.array([x0 + ex + ew / 2, y0 + ey + eh / 2]) for ex, ey, ew, eh in found]
        # One detection per side of the box, the one nearest where an eye is expected
        # (the eye cascade often fires twice on one eye, at two scales).
        for side, guess in enumerate(expected):
            mine = [c for c in centres if (c[0] < x0 + fw / 2) == (side == 0)]
            eyes[side] = min(mine, key=lambda c: np.linalg.norm(c - guess)) if mine else None
        if eyes[0] is not None and eyes[1] is not None:
            break
    if eyes[0] is None or eyes[1] is None:
        left, right = expected
        method = "haar-box"
    else:
        left, right = eyes
        method = "haar"
    roll = _roll(left, right) if method == "haar" else 0.0
    return Face(box, np.stack([left, right]), tuple(left), tuple(right), roll, method)


# ---------------------------------------------------------------------------------------


def resolve_backend(backend: str = "auto") -> str:
    """``"dlib"`` or ``"haar"``: ``auto`` is dlib when the faces extra is installed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown face backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "dlib" if dlib_available() else "haar"
    return backend


def detect_box(gray: np.ndarray, backend: str = "auto") -> tuple[int, int, int, int] | None:
    """The largest face's box ``(x0, y0, x1, y1)`` in a grayscale image, or None: the
    detector alone, no landmarks (what a video tracker runs every few frames).

    ``dlib``: :func:`dlib_box` without upsampling (faces from about 80 px); ``haar``:
    :func:`haar_box`; ``auto``: dlib when the faces extra is installed, and the Haar
    cascade when dlib finds nothing (so a face either finds is found).
    """
    name = resolve_backend(backend)
    if name == "dlib":
        box = dlib_box(gray)
        if box is not None or backend == "dlib":
            return box
    return haar_box(gray)


def locate(image: np.ndarray, backend: str = "auto", landmarks: int = 5) -> Face | None:
    """The largest face of an image, or None.

    Args:
      image: RGB uint8 (H, W, 3) (gray (H, W) and RGBA are accepted).
      backend: ``"auto"``, ``"dlib"`` or ``"haar"`` (see the module docstring).
      landmarks: 5 or 68, the dlib landmark model (ignored by Haar).

    Raises:
      BackendUnavailable: the backend asked for is not installed.
    """
    gray = _gray(image)
    if resolve_backend(backend) == "dlib":
        return _locate_dlib(gray, landmarks)
    return _locate_haar(gray)


# ---------------------------------------------------------------------------------------
# Alignment: one transform for the whole clip.


@dataclasses.dataclass(frozen=True)
class Alignment:
    """An affine map from a source frame to a square, eye-level face crop.

    Attributes:
      matrix: float64 (2, 3), source pixel ``(x, y, 1)`` -> crop pixel.
      size: the crop's side in pixels.
      face: the reference face it was made from.
    """

    matrix: np.ndarray
    size: int
    face: Face

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The crop of one frame: (size, size[, C]) of the frame's dtype (bilinear;
        pixels from outside the frame repeat its edge)."""
        return cv2.warpAffine(
            np.ascontiguousarray(image), self.matrix, (self.size, self.size),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip

    def points(self, xy: np.ndarray) -> np.ndarray:
        """Source ``(x, y)`` points (N, 2) in crop pixels."""
        xy = np.asarray(xy, np.float64)
        return xy @ self.matrix[:, :2].T + self.matrix[:, 2]

    def describe(self) -> dict:
        """JSON-ready: the reference face, the crop size and the matrix."""
        return {
            "face": self.face.describe(),
            "crop_size": self.size,
            "matrix": [[round(float(v), 5) for v in row] for row in self.matrix],
        }


def alignment(face: Face, size: int | None = None, margin: float = DEFAULT_MARGIN) -> Alignment:
    """The transform that levels the eyes of ``face`` and crops a square around it.

    The square is the detector's box grown by ``margin`` of its side on each side, turned
    with the face about the eyes' midpoint so the eyes come out level. ``size`` is the
    crop's side in pixels (default: the square's own side, so no scaling).
    """
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    out = int(round(side)) if size is None else int(size)
    if out < 1:
        raise ValueError(f"crop size must be positive, got {out}")
    mid = (np.asarray(face.left_eye) + np.asarray(face.right_eye)) / 2
    # Rotating by +roll (counter-clockwise on screen) about the eyes' midpoint levels them;
    # the box centre turns with the face.
    rot = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), float(face.roll_degrees), 1.0)
    centre = rot @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    scale = out / side
    # crop = scale * (rot(p) - (centre - side / 2))
    matrix = scale * rot
    matrix[:, 2] -= scale * (centre - side / 2)
    return Alignment(matrix, out, face)


def align_clip(
    frames: Sequence[np.ndarray],
    reference: int = 0,
    size: int | None = None,
    margin: float = DEFAULT_MARGIN,
    backend: str = "auto",
    landmarks: int = 5,
) -> tuple[list[np.ndarray], Alignment]:
    """Level and crop every frame of a clip with the transform of one reference frame.

    The face is located in ``frames[reference]`` (the onset) only, and the same
    :class:`Alignment` is applied to every frame, so alignment adds no motion of its own:
    frames that were equal stay equal, and the motion between two frames is the motion in
    the source, turned and scaled.

    Returns:
      The crops (size, size, C) in order, and the alignment.

    Raises:
      FaceNotFound: no face in the reference frame.
      BackendUnavailable: the backend asked for is not installed.
    """
    if not 0 <= reference < len(frames):
        raise ValueError(f"reference {reference} is not a frame index (clip of {len(frames)})")
    face = locate(frames[reference], backend, landmarks)
    if face is None:
        raise FaceNotFound(f"no face found in frame {reference}")
    align = alignment(face, size, margin)
    return [align.apply(f) for f in frames], align
