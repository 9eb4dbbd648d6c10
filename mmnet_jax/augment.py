"""Training augmentation on the accelerator, inside the jitted step.

The official recipe, per sample, applied identically to both frames of a clip:
horizontal flip (p = 0.5), rotation drawn uniformly within +-``rotation_deg`` (nearest
neighbour, torchvision's default), and a random crop back to the frame size after zero
padding by ``crop_padding`` pixels. The three compose into one coordinate map, so each
output pixel is a single gather from the stored uint8 frame; pixels that come from
outside the frame are 0 (black), as with padding a uint8 image. Temporal jitter picks the
onset and apex frames independently among the stored neighbours (see
``tfds_builders.clip_features``). Normalisation follows.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mmnet_jax import frames


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    rotation_deg: float = 3.0
    crop_padding: int = 15
    temporal_jitter: bool = True


def _source_coords(
    key: jax.Array, size: int, cfg: AugmentConfig
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Integer source (row, col) for every output pixel, and an in-frame mask."""
    k_flip, k_rot, k_crop = jax.random.split(key, 3)
    c = (size - 1) / 2.0
    rows, cols = jnp.meshgrid(jnp.arange(size), jnp.arange(size), indexing="ij")
    # Crop: the output pixel (r, c) reads the rotated, padded frame at (r + dy, c + dx).
    if cfg.crop_padding > 0:
        dy, dx = jax.random.randint(k_crop, (2,), -cfg.crop_padding, cfg.crop_padding + 1)
    else:
        dy = dx = jnp.int32(0)
    y = rows.astype(jnp.float32) + dy - c
    x = cols.astype(jnp.float32) + dx - c
    # Rotation about the centre: read the flipped frame at the inversely rotated point.
    if cfg.rotation_deg > 0:
        theta = jnp.deg2rad(
            jax.random.uniform(k_rot, (), minval=-1.0, maxval=1.0) * cfg.rotation_deg
        )
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        y, x = cos * y - sin * x, sin * y + cos * x
    src_r = jnp.round(y + c).astype(jnp.int32)
    src_c = jnp.round(x + c).astype(jnp.int32)
    if cfg.flip:
        flip = jax.random.bernoulli(k_flip)
        src_c = jnp.where(flip, size - 1 - src_c, src_c)
    inside = (src_r >= 0) & (src_r < size) & (src_c >= 0) & (src_c < size)
    return jnp.clip(src_r, 0, size - 1), jnp.clip(src_c, 0, size - 1), inside


def warp_pair(key: jax.Array, pair: jax.Array, cfg: AugmentConfig) -> jax.Array:
    """Flip, rotate and crop both frames of one sample alike: (2, S, S, 3) uint8 -> same."""
    r, c, inside = _source_coords(key, pair.shape[1], cfg)
    return jnp.where(inside[None, :, :, None], pair[:, r, c], jnp.zeros((), pair.dtype))


def training_batch(
    key: jax.Array,
    onset_frames: jax.Array,
    apex_frames: jax.Array,
    jitter: jax.Array,
    idx: jax.Array,
    cfg: AugmentConfig,
) -> tuple[jax.Array, jax.Array]:
    """Augmented, normalised training inputs for the clips ``idx``.

    Args:
      key: one PRNG key for the batch.
      onset_frames, apex_frames: (N, K, S, S, 3) uint8, all clips (on the device).
      jitter: (N,) usable temporal neighbours per clip.
      idx: (B,) clip indices.
    Returns:
      onset, apex: (B, S, S, 3) float32, normalised.
    """
    b = idx.shape[0]
    k_on, k_ap, k_geo = jax.random.split(key, 3)
    if cfg.temporal_jitter:
        # Onset from [onset, onset + j], apex from [apex - j, apex], independently.
        i_on = jax.random.randint(k_on, (b,), 0, jitter[idx] + 1)
        i_ap = jax.random.randint(k_ap, (b,), 0, jitter[idx] + 1)
    else:
        i_on = i_ap = jnp.zeros((b,), jnp.int32)
    pairs = jnp.stack([onset_frames[idx, i_on], apex_frames[idx, i_ap]], axis=1)  # (B, 2, S, S, 3)
    warped = jax.vmap(warp_pair, in_axes=(0, 0, None))(jax.random.split(k_geo, b), pairs, cfg)
    x = frames.normalize(warped)
    return x[:, 0], x[:, 1]


def eval_batch(
    onset_frames: jax.Array, apex_frames: jax.Array, idx: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Test-time inputs for clips ``idx``: the labelled frames (element 0), normalised."""
    return frames.normalize(onset_frames[idx, 0]), frames.normalize(apex_frames[idx, 0])
