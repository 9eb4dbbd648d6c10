"""Frames, once for the whole project: file lookup by number, decoding, resizing, the
model's normalisation, and the official temporal jitter's ranges (which frames near the
onset and apex a training sample may use). The dataset builders, training, prediction,
export and explain all use these functions, so a frame is read the same way everywhere.

Frames are face crops, RGB uint8, square, NHWC. The model takes them scaled to [0, 1]
and normalised with the ImageNet mean and std, float32.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence

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
    return np.ascontiguousarray(_decode(path, cv2.IMREAD_COLOR)[..., ::-1])


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """An image file as grayscale uint8 (H, W), decoded by OpenCV (colour images are
    converted to their luma).

    Raises:
      FileNotFoundError: no such file.
      FrameError: the file is not an image OpenCV can decode.
    """
    return _decode(path, cv2.IMREAD_GRAYSCALE)


def _decode(path: str | os.PathLike, flags: int) -> np.ndarray:
    path = epath.Path(path)
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise FrameError(
            f"cannot decode image file {path} (not an image, or a format OpenCV lacks)"
        )
    return image


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


# ---------------------------------------------------------------------------------------
# Frames that users give the commands: any mode, any size, with a note for each change.

Warn = Callable[[str], None]

# What the decoder changes, by Pillow image mode (read from the file header only).
_MODE_NOTES = {
    "L": "grayscale image, converted to RGB",
    "1": "1-bit image, converted to RGB",
    "P": "palette image, converted to RGB",
    "LA": "grayscale image with alpha, converted to RGB (alpha dropped)",
    "PA": "palette image with alpha, converted to RGB (alpha dropped)",
    "RGBA": "RGBA image, alpha channel dropped",
    "RGBa": "RGBA image, alpha channel dropped",
    "CMYK": "CMYK image, converted to RGB",
}


def file_mode(path: str | os.PathLike) -> str | None:
    """The Pillow mode of an image file (``RGB``, ``L``, ``RGBA``, ``I;16``...), read from
    its header without decoding pixels; None when Pillow cannot tell."""
    try:
        from PIL import Image  # noqa: PLC0415 - only the header; builders do not need it

        with epath.Path(path).open("rb") as f, Image.open(f) as image:
            return image.mode
    except Exception:  # noqa: BLE001 - a best-effort description; decoding reports errors
        return None


def array_mode(image: np.ndarray) -> str:
    """A Pillow-style mode name for an in-memory frame (``L``, ``RGB``, ``RGBA``,
    ``I;16`` for uint16, ``F`` for floats), so files and arrays compare alike."""
    channels = 1 if image.ndim == 2 else image.shape[-1]
    if image.dtype == np.uint16:
        return "I;16"
    if np.issubdtype(image.dtype, np.floating):
        return "F"
    return {1: "L", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")


def mode_note(mode: str | None) -> str | None:
    """What converting an image of ``mode`` to 8-bit RGB changes, or None (RGB)."""
    if mode is None or mode == "RGB":
        return None
    if mode in _MODE_NOTES:
        return _MODE_NOTES[mode]
    if mode.startswith("I;16") or mode in ("I", "F"):
        return f"{mode} image (more than 8 bits), converted to 8-bit RGB"
    return f"{mode} image, converted to RGB"


def as_rgb_uint8(image: np.ndarray, name: str, warn: Warn | None = None) -> np.ndarray:
    """An in-memory frame as RGB uint8 (H, W, 3).

    Accepts (H, W), (H, W, 1), (H, W, 3) RGB and (H, W, 4) RGBA; uint8, or float in
    [0, 1] (scaled by 255), or uint16 (scaled by 1/257). Each conversion is passed to
    ``warn``.

    Raises:
      FrameError: another rank or channel count (the message names the frame).
    """
    warn = warn or _quiet
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise FrameError(
            f"{name}: shape {image.shape} is not a frame (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = np.round(image.astype(np.float32) / 257.0)
            warn(f"{name}: 16-bit frame, converted to 8-bit")
        elif np.issubdtype(image.dtype, np.floating):
            image = image.astype(np.float32) * 255.0
            warn(f"{name}: float frame, read as values in [0, 1] and scaled to 0..255")
        else:
            warn(f"{name}: {image.dtype} frame, clipped to 0..255")
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.shape[-1] == 1:
        warn(f"{name}: grayscale frame, converted to RGB")
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] == 4:
        warn(f"{name}: RGBA frame, alpha channel dropped")
        image = image[..., :3]
    return np.ascontiguousarray(image)


@dataclasses.dataclass(frozen=True)
class Loaded:
    """Frames as the user gave them and as the model takes them.

    ``originals``: RGB uint8 (H, W, 3) each, at their own size; ``model_input``: uint8
    (N, S, S, 3), resized to the model's size; ``modes``: each source's mode before the
    conversion to RGB (see :func:`file_mode`, :func:`array_mode`).
    """

    originals: list[np.ndarray]
    model_input: np.ndarray
    modes: list[str | None]


def load_frames(
    images: Sequence[str | os.PathLike | np.ndarray] | np.ndarray,
    size: int,
    what: str = "frame",
    warn: Warn | None = None,
) -> Loaded:
    """Frames (paths, arrays, or one (N, H, W, C) array) read as training reads them:
    decoded to RGB uint8 (:func:`read_rgb`, :func:`as_rgb_uint8`), then resized with
    :func:`resize_square`. Every conversion and resize is passed to ``warn``.

    Raises:
      FileNotFoundError, FrameError: a file is missing or is not an image.
    """
    warn = warn or _quiet
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    originals, sized, modes = [], [], []
    for i, image in enumerate(images):
        if isinstance(image, (str, os.PathLike)):
            name = str(image)
            rgb = read_rgb(image)
            mode = file_mode(image)
            if note := mode_note(mode):
                warn(f"{name}: {note}")
        else:
            name = f"{what} {i}"
            mode = array_mode(np.asarray(image))
            rgb = as_rgb_uint8(image, name, warn)
        h, w = rgb.shape[:2]
        if (h, w) != (size, size):
            squash = "" if h == w else " (not square: stretched)"
            warn(f"{name}: {w}x{h} frame resized to the model's {size}x{size}{squash}")
        originals.append(rgb)
        sized.append(resize_square(rgb, size))
        modes.append(mode)
    batch = np.stack(sized) if sized else np.zeros((0, size, size, 3), np.uint8)
    return Loaded(originals, batch, modes)


def _quiet(message: str) -> None:
    del message


# The official scripts' temporal-jitter ranges, by script (see official_jitter).
JITTER_RECIPES = ("5class", "3class")


def official_jitter(onset: int, apex: int, offset: int, recipe: str) -> tuple[int, int, int]:
    """How far the official temporal jitter may move each frame of a clip:
    ``(onset forward, apex backward, apex forward)``, in frames.

    ``"5class"`` (``CASME2_5.py``): onset from ``[onset, onset + int(0.15 (apex - onset)
    / 4)]``, apex from ``[apex - int(0.15 (apex - onset) / 4), apex]``. ``"3class"``
    (``CASME2_3.py``): onset from ``[onset, onset + int(0.2 (apex - onset) / 4)]``, apex
    from ``[apex - int(0.15 (apex - onset) / 4), apex + int(0.15 (offset - apex) / 4)]``.
    The same Python float expressions as the scripts, so the same integers; never
    negative (a clip whose apex is not inside [onset, offset] gets 0 on that side).
    """
    if recipe not in JITTER_RECIPES:
        raise ValueError(f"jitter must be one of {JITTER_RECIPES}, got {recipe!r}")
    rise, fall = max(0, apex - onset), max(0, offset - apex)
    before = int(0.15 * rise / 4)
    if recipe == "5class":
        return before, before, 0
    return int(0.2 * rise / 4), before, int(0.15 * fall / 4)
