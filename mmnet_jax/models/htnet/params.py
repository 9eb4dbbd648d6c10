"""The official PyTorch HTNet weights, both ways: state dict <-> ``HTNet``."""

from __future__ import annotations

from mmnet_jax.models import torch_weights
from mmnet_jax.models.htnet.config import HTNetConfig
from mmnet_jax.models.htnet.model import HTNet


def _norm(torch_prefix: str, path: tuple) -> torch_weights.NameMap:
    return {f"{torch_prefix}.g": (path + ("g",), "channel"),
            f"{torch_prefix}.b": (path + ("b",), "channel")}  # fmt: skip


def _dense(torch_prefix: str, path: tuple, bias: bool = True) -> torch_weights.NameMap:
    m = {f"{torch_prefix}.weight": (path + ("kernel",), "conv1x1")}
    if bias:
        m[f"{torch_prefix}.bias"] = (path + ("bias",), "copy")
    return m


def official_name_map(config: HTNetConfig) -> torch_weights.NameMap:
    """Official state-dict name -> (path in ``nnx.state(HTNet)``, layout).

    =================================================  ==================================
    official (``Model.py``)                            mmnet_jax
    =================================================  ==================================
    ``to_patch_embedding.1`` (1x1 conv)                ``patch_embed`` (Linear)
    ``layers.{l}.0.pos_emb``                           ``levels[l].pos_emb``
    ``layers.{l}.0.layers.{i}.0.norm.g/b``             ``levels[l].blocks[i].norm1.g/b``
    ``layers.{l}.0.layers.{i}.0.fn.to_qkv``            ``...blocks[i].attn.to_qkv``
    ``layers.{l}.0.layers.{i}.0.fn.to_out.0``          ``...blocks[i].attn.to_out``
    ``layers.{l}.0.layers.{i}.1.norm.g/b``             ``...blocks[i].norm2.g/b``
    ``layers.{l}.0.layers.{i}.1.fn.net.0`` / ``net.3`` ``...blocks[i].fc1`` / ``fc2``
    ``layers.{l}.1.0`` / ``layers.{l}.1.1.g/b``        ``levels[l].agg_conv`` / ``agg_norm``
    ``mlp_head.0.g/b`` / ``mlp_head.2``                ``head_norm`` / ``head``
    =================================================  ==================================

    1x1 convolutions (O, I, 1, 1) become Linear kernels (I, O); the LayerNorms'
    (1, C, 1, 1) parameters become (C,).
    """
    m: torch_weights.NameMap = {}
    m.update(_dense("to_patch_embedding.1", ("patch_embed",)))
    for level in range(config.num_hierarchies):
        t, p = f"layers.{level}", ("levels", level)
        m[f"{t}.0.pos_emb"] = (p + ("pos_emb",), "copy")
        for i in range(config.block_repeats[level]):
            tb, pb = f"{t}.0.layers.{i}", p + ("blocks", i)
            m.update(_norm(f"{tb}.0.norm", pb + ("norm1",)))
            m.update(_dense(f"{tb}.0.fn.to_qkv", pb + ("attn", "to_qkv"), bias=False))
            m.update(_dense(f"{tb}.0.fn.to_out.0", pb + ("attn", "to_out")))
            m.update(_norm(f"{tb}.1.norm", pb + ("norm2",)))
            m.update(_dense(f"{tb}.1.fn.net.0", pb + ("fc1",)))
            m.update(_dense(f"{tb}.1.fn.net.3", pb + ("fc2",)))
        if level < config.num_hierarchies - 1:
            m[f"{t}.1.0.weight"] = (p + ("agg_conv", "kernel"), "conv")
            m[f"{t}.1.0.bias"] = (p + ("agg_conv", "bias"), "copy")
            m.update(_norm(f"{t}.1.1", p + ("agg_norm",)))
    m.update(_norm("mlp_head.0", ("head_norm",)))
    m["mlp_head.2.weight"] = (("head", "kernel"), "linear")
    m["mlp_head.2.bias"] = (("head", "bias"), "copy")
    return m


from_torch, to_torch = torch_weights.converters(HTNet, official_name_map)
