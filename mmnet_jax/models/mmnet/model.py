"""MMNet: the main branch on apex - onset, the PC module on onset, fused and classified."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models.layers import accumulation_dtype, symmetric_uniform
from mmnet_jax.models.mmnet.ca_block import MainBranch
from mmnet_jax.models.mmnet.config import MMNetConfig
from mmnet_jax.models.mmnet.pc_module import PCModule


class MMNet(nnx.Module):
    """MMNet (Li et al., IJCAI 2022), number for number with the official PyTorch model.

    Call as ``model(onset, apex)`` with NHWC float32 batches of normalised frames
    (ImageNet mean/std, (B, S, S, 3), S = ``config.image_size``); returns logits
    (B, num_classes) in float32 (float64 when ``config.dtype`` is float64, for tests).
    ``model.train()`` uses batch statistics in BatchNorm and enables drop-path;
    ``model.eval()`` uses running statistics and disables drop-path.

    The head reads the fused (B, g, g, 512) features flattened in (H, W, C) order; the
    converter reorders the official (C, H, W)-ordered weight once, so the function is
    the same.
    """

    def __init__(self, config: MMNetConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.main_branch = MainBranch(config, rngs=rngs)
        self.pc = PCModule(config, rngs=rngs)
        bound = config.head_features**-0.5  # PyTorch's default Linear init
        self.head = nnx.Linear(
            config.head_features,
            config.num_classes,
            kernel_init=symmetric_uniform(bound),
            bias_init=symmetric_uniform(bound),
            dtype=jnp.dtype(config.dtype),
            param_dtype=jnp.float32,
            rngs=rngs,
        )

    def features(self, onset: jax.Array, apex: jax.Array) -> dict[str, jax.Array | list]:
        """Everything up to the head.

        Returns a dict with ``motion`` (B, S, S, 3), ``attention`` (the four CA maps,
        (B, h, w, 1) each, 112/56/28/14 at 224 px), ``main`` and ``pc`` (B, g, g, 512),
        and ``fused`` (their sum).
        """
        dtype = jnp.dtype(self.config.dtype)
        acc = accumulation_dtype(dtype)
        motion = apex.astype(acc) - onset.astype(acc)
        main, maps = self.main_branch(motion.astype(dtype))
        pc = self.pc(onset.astype(acc))
        return {"motion": motion, "attention": maps, "main": main, "pc": pc, "fused": main + pc}

    def __call__(self, onset: jax.Array, apex: jax.Array, *, return_attention: bool = False):
        feats = self.features(onset, apex)
        flat = feats["fused"].reshape(feats["fused"].shape[0], -1)
        logits = self.head(flat).astype(accumulation_dtype(flat.dtype))
        if return_attention:
            return logits, feats["attention"]
        return logits
