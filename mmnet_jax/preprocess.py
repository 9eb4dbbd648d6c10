"""Frame preprocessing shared by training, prediction and export.

Frames are face crops, RGB, square. The model takes them scaled to [0, 1] and normalised
with the ImageNet mean and std, NHWC float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def normalize(frames: jax.Array) -> jax.Array:
    """uint8 (..., H, W, 3) in [0, 255] -> float32 normalised frames."""
    x = frames.astype(jnp.float32) / 255.0
    return (x - jnp.asarray(MEAN, jnp.float32)) / jnp.asarray(STD, jnp.float32)


def normalize_np(frames: np.ndarray) -> np.ndarray:
    """NumPy twin of ``normalize`` for host-side use."""
    x = frames.astype(np.float32) / 255.0
    return (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)


def constants(image_size: int) -> dict:
    """What a user of an exported model needs to prepare its inputs."""
    return {
        "image_size": image_size,
        "channels": "RGB",
        "layout": "NHWC",
        "scale": 1.0 / 255.0,
        "mean": list(MEAN),
        "std": list(STD),
        "inputs": "onset and apex face frames of one clip, resized to image_size",
    }
