"""The official PyTorch STSTNet weights, both ways: state dict <-> ``STSTNet``.

The official release ships one state dict per LOSO subject (``STSTNet_Weights/<subject>.pth``);
``mmnet convert --model ststnet`` turns one file into a model directory and the folder
into a LOSO workdir of fold models (:mod:`mmnet_jax.inference.convert`).
"""

from __future__ import annotations

import re

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


from_torch, to_torch = torch_weights.converters(STSTNet, official_name_map, _IGNORED)
