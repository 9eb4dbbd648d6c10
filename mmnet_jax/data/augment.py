"""Training augmentation on the accelerator, inside the jitted step, as the official code.

The official pipeline (``CASME2_5.py``, ``CASME2_3.py``) normalises each frame first
(ImageNet mean and std) and then augments the normalised 27-channel stack of a sample's
frames with torchvision's ``RandomHorizontalFlip(0.5)``, ``RandomRotation(deg)`` and
``RandomCrop(size, padding=p)``, so one geometry applies to every frame of a sample. This
module computes exactly what those three transforms compute on a float tensor
(``tests/test_augment.py`` checks it against fixtures made with torchvision itself):

1. flip: columns mirrored with probability 0.5;
2. rotation: an angle drawn uniformly in ``[-deg, deg]``; each output pixel reads the
   nearest source pixel (round half to even, as ``grid_sample(mode="nearest")``) of the
   inverse rotation about the frame's centre, inside the same canvas; pixels whose source
   lies outside the frame get the fill;
3. crop: the rotated frame padded by ``p`` on every side with the fill, then a window of
   the frame's size at an offset drawn uniformly in ``[0, 2p]`` on each axis: the padding
   band is always fill, never rotated content.

The fill is 0 in NORMALISED space (torchvision's default fill on the normalised tensor),
i.e. the ImageNet mean colour, not black. Frames are stored as uint8; each output pixel
is one gather from the stored frame, then normalised, then replaced by 0 where it is fill.

Temporal jitter picks the onset and apex frames among the stored neighbours (see
:func:`training_batch` and ``tfds_builders.clip_features``), over the ranges of the
official script named by :attr:`AugmentConfig.jitter`
(:func:`mmnet_jax.vision.frames.official_jitter`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mmnet_jax.vision import frames


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """The training augmentation (official: flip, 3 degrees, padding 15 for 5 classes;
    4 degrees, padding 4 for 3 classes; temporal jitter on, over the ranges of the
    script named by ``jitter``: ``"5class"`` or ``"3class"``, see
    :func:`mmnet_jax.vision.frames.official_jitter`)."""

    flip: bool = True
    rotation_deg: float = 3.0
    crop_padding: int = 15
    temporal_jitter: bool = True
    jitter: str = "5class"

    def __post_init__(self):
        if self.jitter not in frames.JITTER_RECIPES:
            raise ValueError(f"jitter must be one of {frames.JITTER_RECIPES}, got {self.jitter!r}")


@dataclasses.dataclass(frozen=True)
class Geometry:
    """One sample's geometric draw, in torchvision's terms.

    Attributes:
      flip: mirror the columns first (``RandomHorizontalFlip``).
      angle: rotation in degrees, counter-clockwise on screen (``RandomRotation``).
      top, left: the crop window's corner in the padded frame, each in ``[0, 2p]``
        (``RandomCrop.get_params``'s ``i``, ``j``).
      padding: ``p``, pixels of fill added on every side before cropping.
    """

    flip: jax.Array | bool
    angle: jax.Array | float
    top: jax.Array | int
    left: jax.Array | int
    padding: int


def source_pixels(h: int, w: int, g: Geometry) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For each output pixel of an (h, w) frame: the (row, col) of the stored frame it
    reads, and whether it reads one (False: fill). Shapes (h, w) int32, int32, bool.

    The rotation follows torchvision's tensor ``rotate`` (``_get_inverse_affine_matrix``
    with ``-angle``, ``_gen_affine_grid``, ``grid_sample(align_corners=False)``): the
    output pixel at offset (x, y) from the centre reads the point
    ``(cos a * x - sin a * y, sin a * x + cos a * y)`` from the centre, with the same
    float32 steps (scaled to [-1, 1] and back), rounded half to even.
    """
    # Crop: output (r, c) is pixel (r + top - p, c + left - p) of the rotated canvas.
    rows = jnp.arange(h, dtype=jnp.int32)[:, None] + (jnp.asarray(g.top, jnp.int32) - g.padding)
    cols = jnp.arange(w, dtype=jnp.int32)[None, :] + (jnp.asarray(g.left, jnp.int32) - g.padding)
    in_canvas = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    # Rotation: torchvision's inverse matrix [cos r, sin r, 0, -sin r, cos r, 0], r = -angle.
    r = jnp.deg2rad(-jnp.asarray(g.angle, jnp.float32))
    m0, m1, m3, m4 = jnp.cos(r), jnp.sin(r), -jnp.sin(r), jnp.cos(r)
    x = cols.astype(jnp.float32) - jnp.float32((w - 1) / 2)  # pixel centre - image centre
    y = rows.astype(jnp.float32) - jnp.float32((h - 1) / 2)
    half_w, half_h = jnp.float32(0.5 * w), jnp.float32(0.5 * h)
    gx = x * (m0 / half_w) + y * (m1 / half_w)  # grid coordinates in [-1, 1]
    gy = x * (m3 / half_h) + y * (m4 / half_h)
    sx = jnp.round(((gx + 1) * w - 1) / 2).astype(jnp.int32)  # grid_sample, nearest
    sy = jnp.round(((gy + 1) * h - 1) / 2).astype(jnp.int32)
    in_frame = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
    # Flip (applied first, so read mirrored columns).
    sx = jnp.where(jnp.asarray(g.flip), w - 1 - sx, sx)
    return jnp.clip(sy, 0, h - 1), jnp.clip(sx, 0, w - 1), in_canvas & in_frame


def warp_normalized(x: jax.Array, g: Geometry, fill: float = 0.0) -> jax.Array:
    """Flip, rotate and crop (torchvision's semantics) a normalised (..., H, W, C) array;
    every leading index (frames of one sample) gets the same geometry."""
    h, w = x.shape[-3], x.shape[-2]
    r, c, inside = source_pixels(h, w, g)
    return jnp.where(inside[:, :, None], x[..., r, c, :], jnp.asarray(fill, x.dtype))


def draw_geometry(key: jax.Array, cfg: AugmentConfig) -> Geometry:
    """One sample's random geometry under ``cfg`` (identity for the parts switched off)."""
    k_flip, k_rot, k_crop = jax.random.split(key, 3)
    flip = jax.random.bernoulli(k_flip) if cfg.flip else jnp.bool_(False)
    angle = (
        jax.random.uniform(k_rot, (), minval=-cfg.rotation_deg, maxval=cfg.rotation_deg)
        if cfg.rotation_deg > 0
        else jnp.float32(0.0)
    )
    p = int(cfg.crop_padding)
    if p > 0:
        top, left = jax.random.randint(k_crop, (2,), 0, 2 * p + 1)
    else:
        top = left = jnp.int32(0)
    return Geometry(flip=flip, angle=angle, top=top, left=left, padding=p)


def warp_pair(key: jax.Array, pair: jax.Array, cfg: AugmentConfig) -> jax.Array:
    """Both frames of one sample, (2, S, S, 3) uint8 -> (2, S, S, 3) float32 normalised,
    augmented alike (the fill, outside the frame, is 0 in normalised space)."""
    g = draw_geometry(key, cfg)
    r, c, inside = source_pixels(pair.shape[1], pair.shape[2], g)
    # Gather uint8 first (a quarter of the bytes), normalise, then fill: the same numbers
    # as normalising the whole frame first, since normalisation is per pixel.
    x = frames.normalize(pair[:, r, c])
    return jnp.where(inside[None, :, :, None], x, jnp.float32(0.0))


def _draw_index(key: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """Uniform integers in ``[low, high]`` (inclusive), elementwise."""
    return jax.random.randint(key, low.shape, low, high + 1)


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
      onset_frames: (N, K, S, S, 3) uint8; element ``i`` is frame ``onset + i`` (the
        labelled onset at 0).
      apex_frames: (N, K2, S, S, 3) uint8; element 0 is the labelled apex, element
        ``i`` >= 1 frame ``apex - i`` for ``i < K`` and, when the records hold frames
        after the apex (``K2 = 2K - 1``), element ``K - 1 + i`` is frame ``apex + i``.
      jitter: (N,) or (N, 3) int32 ranges per clip: ``(onset, before apex, after apex)``
        (a (N,) array is the same range for the first two and none after the apex).
        The onset is drawn from ``[onset, onset + j0]`` and the apex from
        ``[apex - j1, apex + j2]``, independently and uniformly (official scripts).
      idx: (B,) clip indices.
    Returns:
      onset, apex: (B, S, S, 3) float32, normalised and augmented alike.
    """
    b = idx.shape[0]
    onset_frames, apex_frames = jnp.asarray(onset_frames), jnp.asarray(apex_frames)
    k_on, k_ap, k_geo = jax.random.split(key, 3)
    if cfg.temporal_jitter:
        j = jitter[idx]
        if j.ndim == 1:
            j = jnp.stack([j, j, jnp.zeros_like(j)], axis=1)
        zero = jnp.zeros((b,), jnp.int32)
        i_on = _draw_index(k_on, zero, j[:, 0])
        offset = _draw_index(k_ap, -j[:, 1], j[:, 2])  # apex + offset
        k = onset_frames.shape[1]
        i_ap = jnp.where(offset <= 0, -offset, k - 1 + offset)
    else:
        i_on = i_ap = jnp.zeros((b,), jnp.int32)
    pairs = jnp.stack([onset_frames[idx, i_on], apex_frames[idx, i_ap]], axis=1)  # (B, 2, S, S, 3)
    x = jax.vmap(warp_pair, in_axes=(0, 0, None))(jax.random.split(k_geo, b), pairs, cfg)
    return x[:, 0], x[:, 1]


def eval_batch(
    onset_frames: jax.Array, apex_frames: jax.Array, idx: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Test-time inputs for clips ``idx``: the labelled frames (element 0), normalised."""
    return frames.normalize(onset_frames[idx, 0]), frames.normalize(apex_frames[idx, 0])
