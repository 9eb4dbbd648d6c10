"""Off-ApexNet hyperparameters (the official values as defaults)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class OffApexNetConfig:
    """Architecture of one Off-ApexNet (Liong et al., Signal Processing: Image
    Communication 2019), as the PyTorch port in tvaranka/meb ``meb/models/me_networks.py``
    builds it.

    Attributes:
      num_classes: width of the classification head (3).
      image_size: side of the square ``flow`` input (28; a multiple of 4: two 2x2 poolings).
      widths: output channels of the two 3x3 convolutions (padding 1), each followed by
        ReLU and a 2x2 max pooling (6, 16: 28 -> 14 -> 7).
      hidden: width of the first linear layer (1024; it reads 7 * 7 * 16 = 784 features).
      dropout_rate: elementwise dropout before each linear layer (0.5).
      dtype, conv_impl: as :class:`mmnet_jax.models.MMNetConfig`'s.
    """

    num_classes: int = 3
    image_size: int = 28
    widths: tuple[int, int] = (6, 16)
    hidden: int = 1024
    dropout_rate: float = 0.5
    dtype: str = "float32"
    conv_impl: str = "xla"

    def __post_init__(self):
        if self.image_size % 4 or self.image_size < 4:
            raise ValueError(f"image_size must be a positive multiple of 4, got {self.image_size}")
        if len(self.widths) != 2:
            raise ValueError(f"widths must hold the two convolutions' channels, got {self.widths}")

    @property
    def head_features(self) -> int:
        """Inputs of the first linear layer: 7 * 7 * 16 = 784 at 28 px."""
        return (self.image_size // 4) ** 2 * self.widths[-1]
