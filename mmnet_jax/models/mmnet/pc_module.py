"""The position calibration (PC) module: a small ViT on the down-sized onset frame."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models.layers import Conv2d, accumulation_dtype, symmetric_uniform, timm_trunc_normal
from mmnet_jax.models.mmnet.config import MMNetConfig

# The ViT's Linear weights and position embedding: timm's trunc_normal_(std=.02), whose
# +-2 bounds are absolute (effectively N(0, 0.02^2)); Linear biases 0, LayerNorms 1 and 0.
vit_init = timm_trunc_normal(0.02)


def resize_to_grid(onset: jax.Array, grid: int, antialias: bool) -> jax.Array:
    """Bilinear resize with half-pixel centres (PyTorch ``align_corners=False``).

    (B, S, S, C) -> (B, grid, grid, C), in float32 (float64 stays float64).
    """
    b, _, _, c = onset.shape
    x = onset.astype(accumulation_dtype(onset.dtype))
    return jax.image.resize(x, (b, grid, grid, c), method="bilinear", antialias=antialias)


class Attention(nnx.Module):
    """Multi-head self-attention; qkv output split as q, k, v, each head-major."""

    def __init__(self, dim: int, num_heads: int, *, dtype, rngs: nnx.Rngs):
        lin = dict(kernel_init=vit_init, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, **lin)
        self.proj = nnx.Linear(dim, dim, **lin)
        self.num_heads = num_heads

    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, d = x.shape
        h = self.num_heads
        qkv = self.qkv(x).reshape(b, n, 3, h, d // h)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, N, H, hd)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * (d // h) ** -0.5
        acc = accumulation_dtype(logits.dtype)
        weights = jax.nn.softmax(logits.astype(acc), axis=-1).astype(v.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, d)
        return self.proj(out)


class ViTBlock(nnx.Module):
    """Pre-norm transformer block: ``x += drop(attn(ln1(x)))``, ``x += drop(mlp(ln2(x)))``."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float, *, dtype, rngs
    ):
        ln = dict(epsilon=1e-6, use_fast_variance=False, dtype=dtype, param_dtype=jnp.float32)
        lin = dict(kernel_init=vit_init, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
        hidden = int(dim * mlp_ratio)
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs, **ln)
        self.attn = Attention(dim, num_heads, dtype=dtype, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs, **ln)
        self.fc1 = nnx.Linear(dim, hidden, **lin)
        self.fc2 = nnx.Linear(hidden, dim, **lin)
        # Stochastic depth: one keep/drop draw per sample (mask broadcast over tokens
        # and channels), survivors scaled by 1 / (1 - rate).
        self.drop_path = (
            nnx.Dropout(drop_path, broadcast_dims=(1, 2), rngs=rngs) if drop_path > 0 else None
        )

    def _drop(self, x: jax.Array) -> jax.Array:
        return x if self.drop_path is None else self.drop_path(x)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self._drop(self.attn(self.norm1(x)))
        y = self.fc2(jax.nn.gelu(self.fc1(self.norm2(x)), approximate=False))
        return x + self._drop(y)


class PCModule(nnx.Module):
    """Onset frame (B, S, S, 3), normalised -> position features (B, S/16, S/16, 512).

    Resize to the S/16 grid, 1x1 patch embedding with bias, learned position embedding
    (no class token), pre-norm transformer blocks, final LayerNorm; tokens in row-major
    order (token = row * grid + col) laid back out as a map.
    """

    def __init__(self, config: MMNetConfig, *, rngs: nnx.Rngs):
        dtype = jnp.dtype(config.dtype)
        dim, g = config.pc_embed_dim, config.grid_size
        self.grid = g
        self.antialias = config.pc_resize_antialias
        bound = 3**-0.5  # PyTorch's default conv init for the 3 -> dim patch projection
        self.patch_embed = Conv2d(
            3,
            dim,
            1,
            use_bias=True,
            dtype=dtype,
            impl=config.conv_impl,
            kernel_init=symmetric_uniform(bound),
            bias_init=symmetric_uniform(bound),
            rngs=rngs,
        )
        self.pos_embed = nnx.Param(vit_init(rngs.params(), (1, g * g, dim), jnp.float32))
        rates = [
            config.drop_path_rate * i / max(config.pc_depth - 1, 1) for i in range(config.pc_depth)
        ]
        self.blocks = nnx.List(
            [
                ViTBlock(dim, config.pc_num_heads, config.pc_mlp_ratio, r, dtype=dtype, rngs=rngs)
                for r in rates
            ]
        )
        self.norm = nnx.LayerNorm(
            dim,
            epsilon=1e-6,
            use_fast_variance=False,
            dtype=dtype,
            param_dtype=jnp.float32,
            rngs=rngs,
        )

    def __call__(self, onset: jax.Array) -> jax.Array:
        b = onset.shape[0]
        x = resize_to_grid(onset, self.grid, self.antialias)
        x = self.patch_embed(x)  # (B, g, g, dim)
        x = x.reshape(b, self.grid * self.grid, -1) + self.pos_embed[...].astype(x.dtype)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x.reshape(b, self.grid, self.grid, -1)
