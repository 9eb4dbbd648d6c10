"""The official PyTorch MMNet weights, both ways: state dict <-> ``MMNet`` (names, layouts).

The command ``mmnet convert --weights W.pth --out DIR`` (:mod:`mmnet_jax.inference.convert`)
writes a model directory with them. ``load_state_dict`` reads ``.pth``/``.pt`` (needs
torch) or ``.npz``. How the official names map onto this
model: ``official_name_map``. More in docs/models.md ("Official weights").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from mmnet_jax.models import torch_weights
from mmnet_jax.models.mmnet.config import MMNetConfig
from mmnet_jax.models.mmnet.model import MMNet

_UNUSED = re.compile(
    r"^(timeembed|pos\.\d+\..*|vit_pos\.cls_token|vit_pos\.head\..*|vit_pos\.to_Mask\..*"
    r"|head\d*\..*)$|num_batches_tracked$"
)

# Layout transforms from PyTorch to this model.
_CONV = "conv"  # OIHW -> HWIO
_LINEAR = "linear"  # (out, in) -> (in, out)
_COPY = "copy"
_HEAD = "head"  # (classes, C*H*W) -> (H*W*C, classes)


def _bn(torch_prefix: str, path: tuple) -> dict:
    return {
        f"{torch_prefix}.weight": (path + ("scale",), _COPY),
        f"{torch_prefix}.bias": (path + ("bias",), _COPY),
        f"{torch_prefix}.running_mean": (path + ("mean",), _COPY),
        f"{torch_prefix}.running_var": (path + ("var",), _COPY),
    }


def _ln(torch_prefix: str, path: tuple) -> dict:
    return {
        f"{torch_prefix}.weight": (path + ("scale",), _COPY),
        f"{torch_prefix}.bias": (path + ("bias",), _COPY),
    }


def _linear(torch_prefix: str, path: tuple) -> dict:
    return {
        f"{torch_prefix}.weight": (path + ("kernel",), _LINEAR),
        f"{torch_prefix}.bias": (path + ("bias",), _COPY),
    }


def official_name_map(config: MMNetConfig) -> dict[str, tuple[tuple, str]]:
    """Official state-dict name -> (path in ``nnx.state(MMNet)``, layout transform).

    The official state dict (PyTorch layouts: conv OIHW, Linear (out, in)) maps onto this
    model's parameters as follows (``k`` = 1..4 for the CA stages, ``i`` for PC blocks):

    ==========================================  ==========================================
    official                                    mmnet_jax
    ==========================================  ==========================================
    ``conv_act.0`` / ``conv_act.1``             ``main_branch.stem_conv1`` / ``stem_bn1``
    ``main_branch.conv1`` / ``main_branch.bn1`` ``main_branch.stem_conv2`` / ``stem_bn2``
    ``main_branch.layer{k}.0.conv1/bn1/...``    ``main_branch.blocks[k-1].conv1/bn1/...``
    ``...attn.0`` / ``...attn.1``               ``...attn_conv`` / ``...attn_bn``
    ``...downsample.0`` / ``...downsample.1``   ``...down_conv`` / ``...down_bn``
    ``vit_pos.patch_embed.proj``                ``pc.patch_embed``
    ``vit_pos.pos_embed``                       ``pc.pos_embed``
    ``vit_pos.blocks.{i}.norm1/attn.qkv/...``   ``pc.blocks[i].norm1/attn.qkv/...``
    ``vit_pos.blocks.{i}.mlp.fc1/fc2``          ``pc.blocks[i].fc1/fc2``
    ``vit_pos.norm``                            ``pc.norm``
    ``main_branch.fc``                          ``head`` (columns reordered CHW -> HWC)
    ==========================================  ==========================================

    Entries the official forward pass never uses (``timeembed``, ``pos.*``,
    ``vit_pos.cls_token``, ``vit_pos.head.*``, ``vit_pos.to_Mask.*``, ``head.*``, ``head1.*``,
    ``*.num_batches_tracked``) are ignored.
    """
    m: dict[str, tuple[tuple, str]] = {}
    mb = ("main_branch",)
    m["conv_act.0.weight"] = (mb + ("stem_conv1", "kernel"), _CONV)
    m.update(_bn("conv_act.1", mb + ("stem_bn1",)))
    m["main_branch.conv1.weight"] = (mb + ("stem_conv2", "kernel"), _CONV)
    m.update(_bn("main_branch.bn1", mb + ("stem_bn2",)))
    cin = config.widths[0]
    for k, (cout, stride) in enumerate(zip(config.widths, config.strides, strict=True)):
        t = f"main_branch.layer{k + 1}.0"
        p = mb + ("blocks", k)
        m[f"{t}.conv1.weight"] = (p + ("conv1", "kernel"), _CONV)
        m.update(_bn(f"{t}.bn1", p + ("bn1",)))
        m[f"{t}.conv2.weight"] = (p + ("conv2", "kernel"), _CONV)
        m.update(_bn(f"{t}.bn2", p + ("bn2",)))
        m[f"{t}.attn.0.weight"] = (p + ("attn_conv", "kernel"), _CONV)
        m.update(_bn(f"{t}.attn.1", p + ("attn_bn",)))
        if stride != 1 or cin != cout:
            m[f"{t}.downsample.0.weight"] = (p + ("down_conv", "kernel"), _CONV)
            m.update(_bn(f"{t}.downsample.1", p + ("down_bn",)))
        cin = cout
    pc = ("pc",)
    m["vit_pos.patch_embed.proj.weight"] = (pc + ("patch_embed", "kernel"), _CONV)
    m["vit_pos.patch_embed.proj.bias"] = (pc + ("patch_embed", "bias"), _COPY)
    m["vit_pos.pos_embed"] = (pc + ("pos_embed",), _COPY)
    for i in range(config.pc_depth):
        t = f"vit_pos.blocks.{i}"
        p = pc + ("blocks", i)
        m.update(_ln(f"{t}.norm1", p + ("norm1",)))
        m.update(_linear(f"{t}.attn.qkv", p + ("attn", "qkv")))
        m.update(_linear(f"{t}.attn.proj", p + ("attn", "proj")))
        m.update(_ln(f"{t}.norm2", p + ("norm2",)))
        m.update(_linear(f"{t}.mlp.fc1", p + ("fc1",)))
        m.update(_linear(f"{t}.mlp.fc2", p + ("fc2",)))
    m.update(_ln("vit_pos.norm", pc + ("norm",)))
    m["main_branch.fc.weight"] = (("head", "kernel"), _HEAD)
    m["main_branch.fc.bias"] = (("head", "bias"), _COPY)
    return m


def to_jax_layout(value: np.ndarray, kind: str, config: MMNetConfig) -> np.ndarray:
    if kind == _CONV:
        return np.transpose(value, (2, 3, 1, 0))
    if kind == _LINEAR:
        return np.transpose(value)
    if kind == _HEAD:
        g, c = config.grid_size, config.pc_embed_dim
        w = value.reshape(value.shape[0], c, g, g)  # (classes, C, H, W)
        return np.transpose(w, (2, 3, 1, 0)).reshape(g * g * c, value.shape[0])
    return value


def to_torch_layout(value: np.ndarray, kind: str, config: MMNetConfig) -> np.ndarray:
    if kind == _CONV:
        return np.transpose(value, (3, 2, 0, 1))
    if kind == _LINEAR:
        return np.transpose(value)
    if kind == _HEAD:
        g, c = config.grid_size, config.pc_embed_dim
        w = value.reshape(g, g, c, value.shape[-1])  # (H, W, C, classes)
        return np.transpose(w, (3, 2, 0, 1)).reshape(value.shape[-1], c * g * g)
    return value


def mmnet_from_torch(
    state_dict: Mapping[str, np.ndarray], config: MMNetConfig, *, rngs: nnx.Rngs | None = None
) -> MMNet:
    """An ``MMNet`` holding the official weights of ``state_dict``.

    Args:
      state_dict: official parameter name -> array (NumPy or anything ``np.asarray``
        takes: torch tensors via ``.numpy()``), PyTorch layouts.
      config: the architecture the weights were trained with, e.g.
        ``MMNetConfig.official_5class()`` (224 px only: the head width depends on it).
      rngs: only for drop-path streams; defaults to ``nnx.Rngs(0)``.

    Raises:
      ValueError: a parameter the model needs is missing, an entry is neither used nor
        a known unused official entry, or an entry's shape does not match the config
        (each named in the message).
    """
    names = official_name_map(config)
    given = {k: v for k, v in state_dict.items() if not _UNUSED.search(k)}
    missing = [k for k in names if k not in given]
    if missing:
        raise ValueError(
            f"state dict lacks {len(missing)} parameter(s) the model needs, first "
            f"{missing[0]!r} (all: {missing}); is the config right for these weights?"
        )
    unexpected = sorted(k for k in given if k not in names)
    if unexpected:
        raise ValueError(
            f"state dict has {len(unexpected)} entr(y/ies) this config does not use and "
            f"that are not known unused official entries, first {unexpected[0]!r} "
            f"(all: {unexpected}); check pc_depth, widths and num_classes"
        )
    model = MMNet(config, rngs=rngs or nnx.Rngs(0))
    state = nnx.state(model)
    flat = dict(nnx.to_flat_state(state))
    for name, (path, kind) in names.items():
        value = np.asarray(given[name], dtype=np.float32)
        expected = tuple(flat[path].get_value().shape)
        converted = to_jax_layout(value, kind, config) if value.size == np.prod(expected) else None
        if converted is None or converted.shape != expected:
            raise ValueError(
                f"{name!r}: shape {tuple(value.shape)} does not fit {'.'.join(map(str, path))} "
                f"of shape {expected} (after layout conversion) for this config"
            )
        flat[path].set_value(jnp.asarray(converted))
    nnx.update(model, nnx.from_flat_state(flat))
    return model


def mmnet_to_torch(model: MMNet) -> dict[str, np.ndarray]:
    """The inverse of ``mmnet_from_torch``: official names, PyTorch layouts, float32."""
    flat = dict(nnx.to_flat_state(nnx.state(model)))
    return {
        name: to_torch_layout(np.asarray(flat[path].get_value(), np.float32), kind, model.config)
        for name, (path, kind) in official_name_map(model.config).items()
    }


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an official state dict from ``.npz`` or ``.pth``/``.pt`` (needs torch):
    :func:`mmnet_jax.models.torch_weights.read`."""
    return torch_weights.read(path)
