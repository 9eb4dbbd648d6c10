"""The official PyTorch STSTNet weights, both ways: state dict <-> ``STSTNet``.

The official release ships one state dict per LOSO subject (``STSTNet_Weights/<subject>.pth``);
``mmnet convert --model ststnet`` turns one file into a model directory and the folder
into a LOSO workdir of fold models (:mod:`mmnet_jax.inference.convert`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from flax import nnx

from mmnet_jax.models import torch_weights
from mmnet_jax.models.ststnet.config import STSTNetConfig
from mmnet_jax.models.ststnet.model import STSTNet

_IGNORED = re.compile(r"num_batches_tracked$")


def official_name_map(config: STSTNetConfig) -> torch_weights.NameMap:
    """Official state-dict name -> (path in ``nnx.state(STSTNet)``, layout).

    ======================================  ======================================
    official (``main.py``)                  mmnet_jax
    ======================================  ======================================
    ``conv{i}.weight`` / ``.bias``          ``convs[i-1].kernel`` / ``.bias`` (OIHW -> HWIO)
    ``bn{i}.weight/bias/running_*``         ``bns[i-1].scale/bias/mean/var``
    ``fc.weight`` / ``fc.bias``             ``fc.kernel`` (transposed) / ``fc.bias``
    ======================================  ======================================

    ``bn{i}.num_batches_tracked`` is ignored (momentum-based running statistics never
    read it).
    """
    m: torch_weights.NameMap = {}
    n = len(config.widths)
    for i in range(n):  # in the official state dict's order: convs, BatchNorms, head
        m[f"conv{i + 1}.weight"] = (("convs", i, "kernel"), "conv")
        m[f"conv{i + 1}.bias"] = (("convs", i, "bias"), "copy")
    for i in range(n):
        for ours, theirs in (("scale", "weight"), ("bias", "bias"), ("mean", "running_mean"),
                             ("var", "running_var")):  # fmt: skip
            m[f"bn{i + 1}.{theirs}"] = (("bns", i, ours), "copy")
    m["fc.weight"] = (("fc", "kernel"), "linear")
    m["fc.bias"] = (("fc", "bias"), "copy")
    return m


def from_torch(
    state_dict: Mapping[str, np.ndarray], config: STSTNetConfig, *, rngs: nnx.Rngs | None = None
) -> STSTNet:
    """An ``STSTNet`` holding the weights of an official state dict.

    Raises:
      ValueError: entries missing or unexpected (both named), or a shape that does not
        fit the config (named).
    """
    return torch_weights.load(
        lambda r: STSTNet(config, rngs=r),
        state_dict,
        official_name_map(config),
        _IGNORED,
        rngs,
    )


def to_torch(model: STSTNet) -> dict[str, np.ndarray]:
    """The inverse of ``from_torch``: official names, PyTorch layouts, float32."""
    return torch_weights.export(model, official_name_map(model.config))
