"""MMNet hyperparameters, kept apart from the run config."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class MMNetConfig:
    """Architecture of one MMNet.

    Attributes:
      num_classes: width of the classification head.
      image_size: side of the square input frames. The PC module works on an
        ``image_size // 16`` grid (14 at 224 px) and the head reads
        ``(image_size // 16) ** 2 * 512`` features. Must be a multiple of 16.
      stem_width: channels of the first stem conv (180 in the official code).
      widths: channels of the four CA stages.
      strides: strides of the four CA stages.
      pc_depth: transformer blocks in the PC module.
      pc_mlp_ratio: MLP hidden width over ``pc_embed_dim``.
      pc_num_heads: attention heads in the PC module.
      pc_embed_dim: token width of the PC module; must equal ``widths[-1]``
        (the PC output is added to the main branch).
      drop_path_rate: stochastic depth of the last PC block (linear from 0).
      pc_resize_antialias: anti-alias the bilinear resize of the onset frame to the
        PC grid (newer torchvision default) or not (the paper-era code).
      dtype: compute dtype (``"float32"`` or ``"bfloat16"``; ``"float64"`` under
        ``jax.enable_x64`` for exactness tests); parameters stay float32 and
        BatchNorm statistics, softmax and logits are computed in at least float32.
      conv_impl: how convolutions differentiate: ``"xla"`` (XLA's own; best on
        GPU/TPU) or ``"matmul_grad"`` (weight gradients as matrix products; faster
        on CPU). The function computed is the same.
    """

    num_classes: int = 5
    image_size: int = 224
    stem_width: int = 180
    widths: tuple[int, ...] = (128, 128, 256, 512)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    pc_depth: int = 2
    pc_mlp_ratio: float = 4.0
    pc_num_heads: int = 4
    pc_embed_dim: int = 512
    drop_path_rate: float = 0.0
    pc_resize_antialias: bool = False
    dtype: str = "float32"
    conv_impl: str = "xla"

    def __post_init__(self):
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {self.image_size}")
        if self.pc_embed_dim != self.widths[-1]:
            raise ValueError(
                f"pc_embed_dim ({self.pc_embed_dim}) must equal the last CA width "
                f"({self.widths[-1]}): the two branches are added"
            )
        if len(self.widths) != len(self.strides):
            raise ValueError("widths and strides must have the same length")
        if self.pc_embed_dim % self.pc_num_heads:
            raise ValueError("pc_embed_dim must be divisible by pc_num_heads")

    @property
    def grid_size(self) -> int:
        """Side of the final feature map and of the PC token grid."""
        return self.image_size // 16

    @property
    def head_features(self) -> int:
        return self.grid_size**2 * self.pc_embed_dim

    @classmethod
    def from_dict(cls, d: dict) -> MMNetConfig:
        """The config a ``dataclasses.asdict`` (or JSON) dict describes; unknown keys are
        ignored (files written by newer versions), lists become tuples."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        )

    @classmethod
    def official_5class(cls, **overrides) -> MMNetConfig:
        """The official CASME II 5-class model: PC depth 2, MLP ratio 4, no drop-path."""
        kw = dict(num_classes=5, pc_depth=2, pc_mlp_ratio=4.0, drop_path_rate=0.0)
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def official_3class(cls, **overrides) -> MMNetConfig:
        """The official 3-class model: PC depth 3, MLP ratio 2, drop-path 0.3.

        The official script feeds a 5-way head; pass ``num_classes=5`` to load its
        weights.
        """
        kw = dict(num_classes=3, pc_depth=3, pc_mlp_ratio=2.0, drop_path_rate=0.3)
        kw.update(overrides)
        return cls(**kw)
