"""The models: shared layers (``layers``, ``conv_ops``) and one package per model
(``mmnet``), each with its weight converter beside it."""

from mmnet_jax.models.layers import BatchNorm, Conv2d
from mmnet_jax.models.mmnet.ca_block import CABlock, MainBranch
from mmnet_jax.models.mmnet.config import MMNetConfig
from mmnet_jax.models.mmnet.model import MMNet
from mmnet_jax.models.mmnet.pc_module import PCModule, ViTBlock, resize_to_grid

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
