"""STSTNet: three shallow convolution streams over the flow image, one linear head."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models.layers import (
    BatchNorm,
    Conv2d,
    accumulation_dtype,
    avg_pool2d,
    max_pool2d,
    torch_default_init,
)
from mmnet_jax.models.ststnet.config import STSTNetConfig

FLOW_CHANNELS = 3  # u, v and strain, in the order of the flow image (flow_input)


class STSTNet(nnx.Module):
    """STSTNet, number for number with the official PyTorch model (``main.py``).

    Call as ``model(flow)`` with a NHWC float batch (B, S, S, 3) of flow images as the
    official code reads them (``cv2.imread`` order, 0..255, no normalisation); returns
    logits (B, num_classes). Each stream ``i``: conv (``widths[i]`` channels, 3x3, padding
    2, bias) -> ReLU -> BatchNorm -> max-pool 3/3 (padding 1) -> dropout; the streams are
    concatenated (16 channels), average-pooled 2/2 and flattened in PyTorch's (C, H, W)
    order into the head (Linear 400 -> classes).

    ``model.train()``: BatchNorm on batch statistics (PyTorch's conventions:
    :class:`mmnet_jax.models.BatchNorm`), dropout on (the ``dropout`` stream of the
    ``nnx.Rngs`` it was built with); ``model.eval()``: running statistics, no dropout.
    """

    def __init__(self, config: STSTNetConfig, *, rngs: nnx.Rngs):
        self.config = config
        dtype = jnp.dtype(config.dtype)
        k = config.kernel_size
        fan_in = FLOW_CHANNELS * k * k
        init = torch_default_init(fan_in)  # PyTorch's default Conv2d init, bias too
        self.convs = nnx.List(
            [
                Conv2d(
                    FLOW_CHANNELS,
                    w,
                    k,
                    padding=config.conv_padding,
                    use_bias=True,
                    dtype=dtype,
                    impl=config.conv_impl,
                    kernel_init=init,
                    bias_init=init,
                    rngs=rngs,
                )  # fmt: skip
                for w in config.widths
            ]
        )
        self.bns = nnx.List(
            [
                BatchNorm(w, momentum=config.bn_momentum, epsilon=config.bn_epsilon, dtype=dtype)
                for w in config.widths
            ]
        )
        self.dropout = nnx.Dropout(config.dropout_rate, rngs=rngs)
        head_init = torch_default_init(config.head_features)
        self.fc = nnx.Linear(
            config.head_features,
            config.num_classes,
            kernel_init=head_init,
            bias_init=head_init,
            dtype=dtype,
            param_dtype=jnp.float32,
            rngs=rngs,
        )

    def features(self, flow: jax.Array) -> jax.Array:
        """The pooled, concatenated streams (B, 5, 5, 16) at 28 px."""
        c = self.config
        x = flow.astype(jnp.dtype(c.dtype))
        streams = []
        for conv, bn in zip(self.convs, self.bns, strict=True):
            y = bn(jax.nn.relu(conv(x)))
            y = max_pool2d(y, c.pool_size, c.pool_size, c.pool_padding)
            streams.append(self.dropout(y))
        return avg_pool2d(jnp.concatenate(streams, axis=-1), c.avg_pool)

    def __call__(self, flow: jax.Array) -> jax.Array:
        feats = self.features(flow)
        # The official head reads the map flattened in (C, H, W) order.
        flat = jnp.transpose(feats, (0, 3, 1, 2)).reshape(feats.shape[0], -1)
        return self.fc(flat).astype(accumulation_dtype(flat.dtype))
