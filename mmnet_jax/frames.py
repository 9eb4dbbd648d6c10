"""Frames, once for the whole project: file lookup by number, decoding, resizing, and the
model's normalisation. The dataset builders, training, prediction, export and explain all
use these functions, so a frame is read the same way everywhere.

Frames are face crops, RGB uint8, square, NHWC. The model takes them scaled to [0, 1]
and normalised with the ImageNet mean and std, float32.
"""

from __future__ import annotations

import os
import re

import cv2
import numpy as np
from etils import epath

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

# The last digit group of a file stem: reg_img46 -> 46, 006_05562 -> 5562, img046 -> 46;
# a stem ending in "46.0" (some releases) reads as 46.
_LAST_NUMBER = re.compile(r"(\d+)(?:\.0+)?\D*$")


class FrameError(ValueError):
    """A frame file that cannot be decoded as an image (the message names the file)."""


def frame_number(name: str | os.PathLike) -> int | None:
    """The frame number of a frame file: the last digit group of its stem, or None."""
    match = _LAST_NUMBER.search(epath.Path(name).stem)
    return int(match.group(1)) if match else None


def suffix_rank(path: str | os.PathLike) -> int:
    """Order of preference among image suffixes (when two files share a frame number)."""
    suffix = epath.Path(path).suffix.lower()
    return IMAGE_SUFFIXES.index(suffix) if suffix in IMAGE_SUFFIXES else len(IMAGE_SUFFIXES)


def is_image(path: str | os.PathLike) -> bool:
    return epath.Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3), decoded by OpenCV (grayscale, palette,
    alpha and 16-bit images are converted to 8-bit RGB).

    Raises:
      FileNotFoundError: no such file.
      FrameError: the file is not an image OpenCV can decode.
    """
    path = epath.Path(path)
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FrameError(
            f"cannot decode image file {path} (not an image, or a format OpenCV lacks)"
        )
    return np.ascontiguousarray(image[..., ::-1])


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` as the official pipeline does: a plain resize to a
    square (no aspect-preserving padding), area filter down, bilinear up."""
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def normalize(frames):
    """uint8 (..., H, W, 3) frames in [0, 255] -> float32 normalised frames.

    Works on NumPy arrays (returns NumPy) and on JAX arrays or tracers (returns JAX), with
    the same float32 arithmetic: ``(x / 255 - mean) / std``.
    """
    if isinstance(frames, np.ndarray):
        xp = np
    else:
        import jax.numpy as xp  # noqa: PLC0415 - NumPy callers need no JAX
    x = xp.asarray(frames).astype(xp.float32) / xp.float32(255.0)
    return (x - xp.asarray(MEAN, xp.float32)) / xp.asarray(STD, xp.float32)


def constants(image_size: int) -> dict:
    """What a user of a saved or exported model needs to prepare its inputs."""
    return {
        "image_size": image_size,
        "channels": "RGB",
        "layout": "NHWC",
        "scale": 1.0 / 255.0,
        "mean": list(MEAN),
        "std": list(STD),
        "inputs": "onset and apex face frames of one clip, resized to image_size",
    }
