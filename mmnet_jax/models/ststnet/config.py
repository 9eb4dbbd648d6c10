"""STSTNet hyperparameters (the official values as defaults)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class STSTNetConfig:
    """Architecture of one STSTNet (Liong et al., FG 2019; christy1206/STSTNet ``main.py``).

    Attributes:
      num_classes: width of the classification head (3: negative, positive, surprise).
      image_size: side of the square ``flow`` input (28 officially).
      widths: output channels of the three parallel convolutions (3, 5, 8).
      kernel_size, conv_padding: of those convolutions (3x3, zero padding 2: 28 -> 30).
      pool_size, pool_padding: the max pooling, kernel = stride = ``pool_size`` (3),
        padded by ``pool_padding`` (1) with -inf (30 -> 10).
      avg_pool: kernel = stride of the average pooling after the concatenation (2: 10 -> 5).
      dropout_rate: elementwise dropout after each branch's max pooling (0.5).
      bn_momentum, bn_epsilon: BatchNorm2d's defaults (0.1 in PyTorch's sense, 1e-5).
      dtype: compute dtype (``"float32"``; ``"float64"`` under ``jax.enable_x64`` for
        exactness tests).
      conv_impl: how convolutions differentiate (``"xla"`` or ``"matmul_grad"``, see
        :mod:`mmnet_jax.models.conv_ops`); the function is the same.
    """

    num_classes: int = 3
    image_size: int = 28
    widths: tuple[int, ...] = (3, 5, 8)
    kernel_size: int = 3
    conv_padding: int = 2
    pool_size: int = 3
    pool_padding: int = 1
    avg_pool: int = 2
    dropout_rate: float = 0.5
    bn_momentum: float = 0.1
    bn_epsilon: float = 1e-5
    dtype: str = "float32"
    conv_impl: str = "xla"

    def __post_init__(self):
        if self.feature_size < 1:
            raise ValueError(f"image_size {self.image_size} is too small for STSTNet's pooling")

    @property
    def feature_size(self) -> int:
        """Side of the map the head reads (5 at 28 px)."""
        conv = self.image_size + 2 * self.conv_padding - self.kernel_size + 1
        pooled = (conv + 2 * self.pool_padding - self.pool_size) // self.pool_size + 1
        return pooled // self.avg_pool

    @property
    def head_features(self) -> int:
        """Inputs of the head: 5 * 5 * 16 = 400 at 28 px."""
        return self.feature_size**2 * sum(self.widths)
