"""HTNet hyperparameters (the official values as defaults) and its default block centres."""

from __future__ import annotations

import dataclasses

# Where the face parts lie in this project's 28 px face crops: (x, y) pixels, the
# coordinates ``mmnet_jax.vision.faces.alignment(face, size=28).points`` gives (the crop
# is the detector's box grown by 15 % a side, eyes levelled). Measured with the dlib
# 5-point model (eye centres, base of the nose; it has no mouth corners) on the two
# public-domain photographs of tests/test_faces.py (grace_hopper, astronaut), averaged;
# tests/test_htnet_blocks.py measures them again.
TEMPLATE_EYES = ((9.04, 9.47), (19.01, 9.47))  # image-left, image-right
TEMPLATE_NOSE = (14.19, 16.68)
# The mouth corners, from the eye and nose geometry: their height lies MOUTH_DROP times
# the eye-to-nose drop below the nose base, their half-distance is MOUTH_HALF_WIDTH
# times the eye distance, about the eyes' midpoint (both ratios measured with dlib's
# 68-point model on the same photographs, averaged: 0.40 and 0.19, 0.41 and 0.52).
MOUTH_DROP = 0.30
MOUTH_HALF_WIDTH = 0.47


def template_centres(
    eyes: tuple = TEMPLATE_EYES,
    nose: tuple = TEMPLATE_NOSE,
    drop: float = MOUTH_DROP,
    half_width: float = MOUTH_HALF_WIDTH,
) -> tuple[tuple[float, float], ...]:
    """The four block centres (x, y), in HTNet's block order: image-left eye, image-right
    eye, image-left mouth corner, image-right mouth corner."""
    (lx, ly), (rx, ry) = eyes
    eye_y, mid_x, dist = (ly + ry) / 2, (lx + rx) / 2, rx - lx
    mouth_y = nose[1] + drop * (nose[1] - eye_y)
    ml = (mid_x - half_width * dist, mouth_y)
    mr = (mid_x + half_width * dist, mouth_y)
    return tuple((round(x, 2), round(y, 2)) for x, y in ((lx, ly), (rx, ry), ml, mr))


@dataclasses.dataclass(frozen=True)
class HTNetConfig:
    """Architecture of one HTNet (Wang et al., Neurocomputing 2024;
    wangzhifengharrison/HTNet ``Model.py``, built as ``main_HTNet.py`` builds it).

    Attributes:
      num_classes: width of the classification head (3).
      image_size: side of the ``flow`` input and of the assembled image (28): four
        blocks of ``image_size // 2`` (14) px.
      patch_size: side of the patches the assembled image is cut into (7: a 4x4 grid).
      dim: channels of the first hierarchy (256; doubled at each aggregation).
      heads: attention heads of the first hierarchy (3; doubled likewise). A head has
        ``dim // heads`` channels (85 of 256: the official code's attention is 255 wide).
      num_hierarchies: levels of the hierarchy (3).
      block_repeats: transformer blocks per level, first level first ((2, 2, 10)).
      mlp_mult: MLP width over the level's channels (4).
      dropout_rate: dropout inside attention and MLP (0.0 officially; >0 adds dropout
        where the official modules have it).
      block_centres: the four block centres (x, y) in the ``flow`` image, in the
        official block order (image-left eye, image-right eye, image-left mouth corner,
        image-right mouth corner): where the blocks are cut when no per-sample centres
        are given. Default: this project's face-crop template (``template_centres``).
      official_block_indexing: cut each block as the official code does, rows around
        the centre's x and columns around its y (``flow[x-7:x+7, y-7:y+7]``: the blocks
        come out mirrored about the diagonal); False: rows around y, columns around x.
      dtype, conv_impl: as :class:`mmnet_jax.models.MMNetConfig`'s.
    """

    num_classes: int = 3
    image_size: int = 28
    patch_size: int = 7
    dim: int = 256
    heads: int = 3
    num_hierarchies: int = 3
    block_repeats: tuple[int, ...] = (2, 2, 10)
    mlp_mult: int = 4
    dropout_rate: float = 0.0
    block_centres: tuple[tuple[float, float], ...] = template_centres()
    official_block_indexing: bool = True
    dtype: str = "float32"
    conv_impl: str = "xla"

    def __post_init__(self):
        # Lists (from JSON) become tuples: the config must stay hashable.
        centres = tuple(tuple(float(v) for v in p) for p in self.block_centres)
        object.__setattr__(self, "block_centres", centres)
        object.__setattr__(self, "block_repeats", tuple(int(r) for r in self.block_repeats))
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {self.image_size}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by patch_size {self.patch_size}"
            )
        if self.fmap_size % self.top_blocks:
            raise ValueError(
                f"the {self.fmap_size}x{self.fmap_size} patch grid does not split into "
                f"{self.top_blocks}x{self.top_blocks} blocks (num_hierarchies "
                f"{self.num_hierarchies})"
            )
        if len(self.block_repeats) != self.num_hierarchies:
            raise ValueError(
                f"block_repeats {self.block_repeats} needs one entry per hierarchy "
                f"({self.num_hierarchies})"
            )
        if len(centres) != 4 or any(len(p) != 2 for p in centres):
            raise ValueError(f"block_centres must be four (x, y) points, got {centres}")

    @property
    def fmap_size(self) -> int:
        """Side of the patch grid (4 at 28 px, patch 7)."""
        return self.image_size // self.patch_size

    @property
    def top_blocks(self) -> int:
        """Blocks per side at the first level (2 ** (num_hierarchies - 1))."""
        return 2 ** (self.num_hierarchies - 1)

    @property
    def seq_len(self) -> int:
        """Tokens per block, the same at every level (1 officially)."""
        return (self.fmap_size // self.top_blocks) ** 2

    @property
    def level_dims(self) -> tuple[int, ...]:
        return tuple(self.dim * 2**i for i in range(self.num_hierarchies))

    @property
    def level_heads(self) -> tuple[int, ...]:
        return tuple(self.heads * 2**i for i in range(self.num_hierarchies))
