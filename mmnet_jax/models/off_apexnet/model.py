"""Off-ApexNet: two conv + pool stages over the horizontal and vertical flow, two linear
layers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models import flow_input
from mmnet_jax.models.layers import Conv2d, accumulation_dtype, max_pool2d, torch_default_init
from mmnet_jax.models.off_apexnet.config import OffApexNetConfig


def _linear(n_in: int, n_out: int, dtype, rngs: nnx.Rngs) -> nnx.Linear:
    init = torch_default_init(n_in)  # PyTorch's default Linear init, bias too
    return nnx.Linear(n_in, n_out, kernel_init=init, bias_init=init, dtype=dtype,
                      param_dtype=jnp.float32, rngs=rngs)  # fmt: skip


class OffApexNet(nnx.Module):
    """Off-ApexNet, number for number with the PyTorch port (tvaranka/meb ``OffApexNet``).

    Call as ``model(flow)`` with a NHWC float batch (B, S, S, 3) of flow images; the model
    reads the horizontal and vertical flow only, channels ``flow_input.U`` and
    ``flow_input.V`` (in that order: the port's input channels 0 and 1), as the original
    publication does (no strain). Then: conv 2 -> 6 (3x3, padding 1) -> ReLU -> max-pool
    2 -> conv 6 -> 16 -> ReLU -> max-pool 2 -> flatten in (C, H, W) order -> dropout ->
    Linear 784 -> 1024 -> ReLU -> dropout -> Linear 1024 -> classes.

    ``model.train()`` turns both dropouts on (the ``dropout`` stream of its ``nnx.Rngs``),
    ``model.eval()`` off. No BatchNorm.
    """

    def __init__(self, config: OffApexNetConfig, *, rngs: nnx.Rngs):
        self.config = config
        dtype = jnp.dtype(config.dtype)
        w1, w2 = config.widths
        conv = dict(padding=1, use_bias=True, dtype=dtype, impl=config.conv_impl, rngs=rngs)
        self.conv1 = Conv2d(2, w1, 3, kernel_init=torch_default_init(2 * 9),
                            bias_init=torch_default_init(2 * 9), **conv)  # fmt: skip
        self.conv2 = Conv2d(w1, w2, 3, kernel_init=torch_default_init(w1 * 9),
                            bias_init=torch_default_init(w1 * 9), **conv)  # fmt: skip
        self.fc1 = _linear(config.head_features, config.hidden, dtype, rngs)
        self.fc = _linear(config.hidden, config.num_classes, dtype, rngs)
        self.drop = nnx.Dropout(config.dropout_rate, rngs=rngs)
        self.drop2 = nnx.Dropout(config.dropout_rate, rngs=rngs)

    def __call__(self, flow: jax.Array) -> jax.Array:
        dtype = jnp.dtype(self.config.dtype)
        uv = jnp.stack([flow[..., flow_input.U], flow[..., flow_input.V]], axis=-1)
        x = max_pool2d(jax.nn.relu(self.conv1(uv.astype(dtype))), 2, 2)
        x = max_pool2d(jax.nn.relu(self.conv2(x)), 2, 2)
        # The port flattens the (C, H, W) map.
        x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
        x = jax.nn.relu(self.fc1(self.drop(x)))
        return self.fc(self.drop2(x)).astype(accumulation_dtype(dtype))
