"""The PyTorch Off-ApexNet weights (tvaranka/meb's port), both ways: state dict <->
``OffApexNet``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from flax import nnx

from mmnet_jax.models import torch_weights
from mmnet_jax.models.off_apexnet.config import OffApexNetConfig
from mmnet_jax.models.off_apexnet.model import OffApexNet


def official_name_map(config: OffApexNetConfig) -> torch_weights.NameMap:
    """Official state-dict name -> (path in ``nnx.state(OffApexNet)``, layout): the same
    module names (``conv1``, ``conv2``, ``fc1``, ``fc``); conv weights OIHW -> HWIO, linear
    weights transposed. The port's ``pool2`` has no parameters (and its forward pass uses
    ``pool`` twice)."""
    m: torch_weights.NameMap = {}
    for name in ("conv1", "conv2"):
        m[f"{name}.weight"] = ((name, "kernel"), "conv")
        m[f"{name}.bias"] = ((name, "bias"), "copy")
    for name in ("fc1", "fc"):
        m[f"{name}.weight"] = ((name, "kernel"), "linear")
        m[f"{name}.bias"] = ((name, "bias"), "copy")
    return m


def from_torch(
    state_dict: Mapping[str, np.ndarray],
    config: OffApexNetConfig,
    *,
    rngs: nnx.Rngs | None = None,
) -> OffApexNet:
    """An ``OffApexNet`` holding the weights of a state dict of the PyTorch port.

    Raises:
      ValueError: entries missing or unexpected (both named), or a shape that does not
        fit the config (named).
    """
    return torch_weights.load(
        lambda r: OffApexNet(config, rngs=r),
        state_dict,
        official_name_map(config),
        None,
        rngs,
    )


def to_torch(model: OffApexNet) -> dict[str, np.ndarray]:
    """The inverse of ``from_torch``: official names, PyTorch layouts, float32."""
    return torch_weights.export(model, official_name_map(model.config))
