"""MMNet in Flax NNX: config, parts and the whole model."""

from mmnet_jax.models.ca_block import CABlock, MainBranch
from mmnet_jax.models.config import MMNetConfig
from mmnet_jax.models.layers import BatchNorm, Conv2d
from mmnet_jax.models.mmnet import MMNet
from mmnet_jax.models.pc_module import PCModule, ViTBlock, resize_to_grid

__all__ = [
    "BatchNorm",
    "CABlock",
    "Conv2d",
    "MMNet",
    "MMNetConfig",
    "MainBranch",
    "PCModule",
    "ViTBlock",
    "resize_to_grid",
]
