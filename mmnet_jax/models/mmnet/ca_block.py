"""The main branch: a stem and four continuous-attention (CA) blocks on apex - onset."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models.layers import BatchNorm, Conv2d, max_pool_3x3_s2, torch_default_init
from mmnet_jax.models.mmnet.config import MMNetConfig


class CABlock(nnx.Module):
    """A ResNet basic block with a 1x1 second conv and a spatial attention map.

    ``y = relu(bn2(conv1x1(relu(bn1(conv3x3(x))))) + shortcut(x))``; the attention
    ``a = sigmoid(bn(conv1x1([mean_c(y), max_c(y)])))`` is multiplied by the previous
    block's map (max-pooled to this size) when there is one; the block returns
    ``(y * a, a)``. Shapes: ``x`` (B, H, W, Cin) -> (B, H/s, W/s, Cout), ``a`` (B, H/s, W/s, 1).
    """

    def __init__(self, cin: int, cout: int, stride: int, *, dtype, impl: str, rngs: nnx.Rngs):
        kw = dict(dtype=dtype, impl=impl, rngs=rngs)
        self.conv1 = Conv2d(cin, cout, 3, stride=stride, padding=1, **kw)
        self.bn1 = BatchNorm(cout, dtype=dtype)
        self.conv2 = Conv2d(cout, cout, 1, **kw)
        self.bn2 = BatchNorm(cout, dtype=dtype)
        if stride != 1 or cin != cout:
            self.down_conv = Conv2d(cin, cout, 1, stride=stride, **kw)
            self.down_bn = BatchNorm(cout, dtype=dtype)
        else:
            self.down_conv = self.down_bn = None
        self.attn_conv = Conv2d(2, 1, 1, **kw)
        self.attn_bn = BatchNorm(1, dtype=dtype)

    def __call__(self, x: jax.Array, prev_attn: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        y = jax.nn.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.down_conv is None else self.down_bn(self.down_conv(x))
        y = jax.nn.relu(y + shortcut)
        # Channel 0 is the mean, channel 1 the max (the official order).
        pooled = jnp.concatenate(
            [jnp.mean(y, axis=-1, keepdims=True), jnp.max(y, axis=-1, keepdims=True)], axis=-1
        )
        a = jax.nn.sigmoid(self.attn_bn(self.attn_conv(pooled)))
        if prev_attn is not None:
            while prev_attn.shape[1] > a.shape[1]:
                prev_attn = max_pool_3x3_s2(prev_attn)
            a = a * prev_attn
        return y * a, a


class MainBranch(nnx.Module):
    """Stem (3x3/2 conv 3->180, 3x3 conv 180->128) and four CA blocks.

    Input: the motion image ``apex - onset``, NHWC (B, S, S, 3). Output: features
    (B, S/16, S/16, 512) and the list of the blocks' attention maps.
    """

    def __init__(self, config: MMNetConfig, *, rngs: nnx.Rngs):
        dtype = jnp.dtype(config.dtype)
        kw = dict(dtype=dtype, impl=config.conv_impl, rngs=rngs)
        # The official ``conv_act`` sits outside the ResNet that re-initialises its convs:
        # it keeps PyTorch's default init, U(+-1/sqrt(27)) (std 0.111, not He's 0.035).
        self.stem_conv1 = Conv2d(
            3, config.stem_width, 3, stride=2, padding=1, kernel_init=torch_default_init(27), **kw
        )
        self.stem_bn1 = BatchNorm(config.stem_width, dtype=dtype)
        self.stem_conv2 = Conv2d(config.stem_width, config.widths[0], 3, padding=1, **kw)
        self.stem_bn2 = BatchNorm(config.widths[0], dtype=dtype)
        blocks = []
        cin = config.widths[0]
        for cout, stride in zip(config.widths, config.strides, strict=True):
            blocks.append(CABlock(cin, cout, stride, **kw))
            cin = cout
        self.blocks = nnx.List(blocks)

    def __call__(self, motion: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        x = jax.nn.relu(self.stem_bn1(self.stem_conv1(motion)))
        x = jax.nn.relu(self.stem_bn2(self.stem_conv2(x)))
        attn, maps = None, []
        for block in self.blocks:
            x, attn = block(x, attn)
            maps.append(attn)
        return x, maps
