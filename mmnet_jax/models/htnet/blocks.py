"""HTNet's input: four blocks cut from the flow image around face parts, assembled.

The official code (``main_HTNet.py``) finds five landmarks with MTCNN on the apex frame
resized to 28 px (MTCNN's order: image-left eye, image-right eye, nose, image-left and
image-right mouth corner; a fixed set when no face is found), clamps every coordinate to
7..21, truncates to integers, cuts a 14x14 block of the 28 px flow image around each
landmark but the nose, and assembles them as ``[[eye_l, eye_r], [mouth_l, mouth_r]]``
into one 28x28 image. Its crop is ``flow[x-7:x+7, y-7:y+7]``: rows around the landmark's
x and columns around its y, which mirrors each block's position about the diagonal
(``official_indexing``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# MTCNN's five landmarks -> the four blocks: eyes and mouth corners (the nose is unused).
LANDMARK_BLOCKS = (0, 1, 3, 4)


def from_landmarks(landmarks: jax.Array) -> jax.Array:
    """The block centres (..., 4, 2) of MTCNN-ordered five landmarks (..., 5, 2)."""
    return jnp.asarray(landmarks)[..., LANDMARK_BLOCKS, :]


def block_origins(centres: jax.Array, image_size: int, official_indexing: bool = True):
    """The (row, column) of each block's top-left pixel, int32 (..., 4, 2).

    Each centre (x, y) is clamped to ``[b/2, S - b/2]`` (b = S // 2: 7..21 at 28 px) and
    truncated, as the official code does, so every block lies inside the image.
    """
    half = image_size // 4
    c = jnp.floor(jnp.clip(jnp.asarray(centres), half, image_size - half)).astype(jnp.int32)
    rows, cols = (c[..., 0], c[..., 1]) if official_indexing else (c[..., 1], c[..., 0])
    return jnp.stack([rows - half, cols - half], axis=-1)


def assemble(flow: jax.Array, centres: jax.Array, official_indexing: bool = True) -> jax.Array:
    """The assembled input (B, S, S, C) of flow images (B, S, S, C) and block centres
    (B, 4, 2) or (4, 2) (x, y pixels, in block order)."""
    b, s, _, c = flow.shape
    block = s // 2
    origins = block_origins(centres, s, official_indexing)
    origins = jnp.broadcast_to(origins, (b, 4, 2))

    def one(image, corner):
        zero = jnp.zeros((), corner.dtype)  # the channel offset, of the corners' dtype
        parts = [
            jax.lax.dynamic_slice(image, (corner[i, 0], corner[i, 1], zero), (block, block, c))
            for i in range(4)
        ]
        top = jnp.concatenate(parts[:2], axis=1)
        bottom = jnp.concatenate(parts[2:], axis=1)
        return jnp.concatenate([top, bottom], axis=0)

    return jax.vmap(one)(flow, origins)
