"""The PyTorch Off-ApexNet weights (tvaranka/meb's port), both ways: state dict <->
``OffApexNet``."""

from __future__ import annotations

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


from_torch, to_torch = torch_weights.converters(OffApexNet, official_name_map)
