"""HTNet: a hierarchical transformer over the assembled face-part blocks of the flow."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models.htnet import blocks
from mmnet_jax.models.htnet.config import HTNetConfig
from mmnet_jax.models.layers import Conv2d, accumulation_dtype, max_pool2d, torch_default_init


def _linear(n_in: int, n_out: int, dtype, rngs: nnx.Rngs, bias: bool = True) -> nnx.Linear:
    init = torch_default_init(n_in)  # PyTorch's default (1x1) Conv2d / Linear init
    return nnx.Linear(n_in, n_out, use_bias=bias, kernel_init=init, bias_init=init,
                      dtype=dtype, param_dtype=jnp.float32, rngs=rngs)  # fmt: skip


def _dropout(rate: float, rngs: nnx.Rngs):
    return nnx.Dropout(rate, rngs=rngs) if rate > 0 else None


def _drop(layer, x):
    return x if layer is None else layer(x)


class ChannelLayerNorm(nnx.Module):
    """The official ``LayerNorm``: over the channels of each pixel (the last axis here),
    biased variance, eps 1e-5, scale ``g`` and shift ``b``."""

    def __init__(self, dim: int, eps: float = 1e-5):
        self.g = nnx.Param(jnp.ones((dim,), jnp.float32))
        self.b = nnx.Param(jnp.zeros((dim,), jnp.float32))
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        acc = accumulation_dtype(x.dtype)
        xf = x.astype(acc)
        mean = xf.mean(-1, keepdims=True)
        var = jnp.square(xf - mean).mean(-1, keepdims=True)
        y = (xf - mean) * jax.lax.rsqrt(var + self.eps) * self.g[...] + self.b[...]
        return y.astype(x.dtype)


class Attention(nnx.Module):
    """Multi-head self-attention over the tokens of one block: ``dim // heads`` channels a
    head (the official code's ``dim_head`` argument is unused), qkv without bias, split
    head-major; scale ``head_dim ** -0.5``; output projection with bias."""

    def __init__(self, dim: int, heads: int, dropout: float, *, dtype, rngs: nnx.Rngs):
        self.heads = heads
        self.head_dim = dim // heads
        inner = self.head_dim * heads
        self.to_qkv = _linear(dim, 3 * inner, dtype, rngs, bias=False)
        self.to_out = _linear(inner, dim, dtype, rngs)
        self.attn_drop = _dropout(dropout, rngs)
        self.out_drop = _dropout(dropout, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:  # (N, L, dim)
        n, length, _ = x.shape
        q, k, v = jnp.split(self.to_qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(n, length, self.heads, self.head_dim) for t in (q, k, v))
        dots = jnp.einsum("nihd,njhd->nhij", q, k) * self.head_dim**-0.5
        attn = jax.nn.softmax(dots.astype(accumulation_dtype(dots.dtype)), axis=-1)
        attn = _drop(self.attn_drop, attn.astype(x.dtype))
        out = jnp.einsum("nhij,njhd->nihd", attn, v).reshape(n, length, -1)
        return _drop(self.out_drop, self.to_out(out))


class TransformerBlock(nnx.Module):
    """``x += attn(norm1(x))``, ``x += mlp(norm2(x))``; the MLP: Linear -> exact GELU ->
    dropout -> Linear -> dropout."""

    def __init__(self, dim: int, heads: int, mlp_mult: int, dropout: float, *, dtype, rngs):
        self.norm1 = ChannelLayerNorm(dim)
        self.attn = Attention(dim, heads, dropout, dtype=dtype, rngs=rngs)
        self.norm2 = ChannelLayerNorm(dim)
        self.fc1 = _linear(dim, dim * mlp_mult, dtype, rngs)
        self.fc2 = _linear(dim * mlp_mult, dim, dtype, rngs)
        self.mlp_drop1 = _dropout(dropout, rngs)
        self.mlp_drop2 = _dropout(dropout, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attn(self.norm1(x))
        y = _drop(self.mlp_drop1, jax.nn.gelu(self.fc1(self.norm2(x)), approximate=False))
        return x + _drop(self.mlp_drop2, self.fc2(y))


class Level(nnx.Module):
    """One level of the hierarchy: a learned position embedding (one scalar per token,
    the same for every channel, officially ``torch.randn``), the transformer blocks run
    on each block of the map alone, then (all levels but the last) the aggregation:
    conv 3x3 (padding 1, bias) -> channel LayerNorm -> max-pool 3/2 (padding 1)."""

    def __init__(self, config: HTNetConfig, level: int, *, rngs: nnx.Rngs):
        dtype = jnp.dtype(config.dtype)
        dim, heads = config.level_dims[level], config.level_heads[level]
        self.block_size = 2 ** (config.num_hierarchies - 1 - level)
        self.pos_emb = nnx.Param(jax.random.normal(rngs.params(), (config.seq_len,)))
        self.blocks = nnx.List(
            [
                TransformerBlock(
                    dim, heads, config.mlp_mult, config.dropout_rate, dtype=dtype, rngs=rngs
                )  # fmt: skip
                for _ in range(config.block_repeats[level])
            ]
        )
        if level < config.num_hierarchies - 1:
            out = config.level_dims[level + 1]
            init = torch_default_init(dim * 9)
            self.agg_conv = Conv2d(dim, out, 3, padding=1, use_bias=True, dtype=dtype,
                                   impl=config.conv_impl, kernel_init=init, bias_init=init,
                                   rngs=rngs)  # fmt: skip
            self.agg_norm = ChannelLayerNorm(out)
        else:
            self.agg_conv = self.agg_norm = None

    def __call__(self, x: jax.Array) -> jax.Array:  # (B, H, W, C)
        b, hh, ww, c = x.shape
        k = self.block_size
        h, w = hh // k, ww // k
        # (B, k*h, k*w, C) -> (B*k*k, h*w, C): each block's tokens, row-major.
        t = x.reshape(b, k, h, k, w, c).transpose(0, 1, 3, 2, 4, 5).reshape(b * k * k, h * w, c)
        t = t + self.pos_emb[: h * w].astype(t.dtype)[None, :, None]
        for block in self.blocks:
            t = block(t)
        x = t.reshape(b, k, k, h, w, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, hh, ww, c)
        if self.agg_conv is not None:
            x = max_pool2d(self.agg_norm(self.agg_conv(x)), 3, 2, 1)
        return x


class HTNet(nnx.Module):
    """HTNet, number for number with the official PyTorch model (``Model.py``).

    Call as ``model(flow)`` with a NHWC float batch (B, S, S, 3) of flow images (as
    the official code reads them: ``cv2.imread`` order, 0..255), optionally with
    per-sample block centres ``centres`` (B, 4, 2) (x, y pixels in the flow image, in
    block order: see :mod:`mmnet_jax.models.htnet.blocks`); without them the config's
    ``block_centres`` are used for every sample. The four blocks are cut and assembled
    (``blocks.assemble``) and the network (``classify``) runs on the assembled image;
    returns logits (B, num_classes).

    ``classify``: patches (``patch_size``; each flattened in (row, column, channel) order,
    as the official ``Rearrange`` does) -> Linear to ``dim`` -> the levels
    (:class:`Level`) -> channel LayerNorm -> mean over the map -> Linear -> logits. No
    BatchNorm; dropout only when ``dropout_rate`` > 0 (0 officially), so train and eval
    modes compute the same function at the official settings.
    """

    def __init__(self, config: HTNetConfig, *, rngs: nnx.Rngs):
        self.config = config
        dtype = jnp.dtype(config.dtype)
        patch_dim = 3 * config.patch_size**2
        self.patch_embed = _linear(patch_dim, config.dim, dtype, rngs)
        self.levels = nnx.List([Level(config, i, rngs=rngs) for i in range(config.num_hierarchies)])
        last = config.level_dims[-1]
        self.head_norm = ChannelLayerNorm(last)
        self.head = _linear(last, config.num_classes, dtype, rngs)

    def assemble(self, flow: jax.Array, centres: jax.Array | None = None) -> jax.Array:
        """The assembled input (B, S, S, 3) the network reads."""
        c = self.config
        if centres is None:
            centres = jnp.asarray(c.block_centres, jnp.float32)
        return blocks.assemble(flow, centres, c.official_block_indexing)

    def classify(self, image: jax.Array) -> jax.Array:
        """Logits of assembled images (B, S, S, 3)."""
        c = self.config
        dtype = jnp.dtype(c.dtype)
        b, s, p = image.shape[0], c.image_size, c.patch_size
        g = s // p
        x = image.astype(dtype).reshape(b, g, p, g, p, 3).transpose(0, 1, 3, 2, 4, 5)
        x = self.patch_embed(x.reshape(b, g, g, p * p * 3))
        for level in self.levels:
            x = level(x)
        pooled = self.head_norm(x).mean(axis=(1, 2))
        return self.head(pooled).astype(accumulation_dtype(dtype))

    def __call__(self, flow: jax.Array, centres: jax.Array | None = None) -> jax.Array:
        return self.classify(self.assemble(flow, centres))
