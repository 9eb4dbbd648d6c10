"""Layers the models share: NHWC convs, PyTorch-exact BatchNorm, pooling."""

from __future__ import annotations

import contextlib
import contextvars

import jax
import jax.numpy as jnp
from flax import nnx

from mmnet_jax.models import conv_ops

# The official main branch (CA_block.py's ResNet) re-initialises every conv inside it
# with ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``: N(0, 2 / fan_out),
# untruncated. (Not the stem's first conv, ``conv_act``, which lives outside the ResNet:
# see ``torch_default_init``.)
conv_init = jax.nn.initializers.variance_scaling(2.0, "fan_out", "normal")


# The samples of a training batch that count (a (B,) bool array), or None: all of them.
# Set by ``sample_mask`` around a forward pass; read by BatchNorm in training mode. A
# context rather than an argument so the model's call signature (and parity) stays.
_SAMPLE_MASK: contextvars.ContextVar = contextvars.ContextVar("sample_mask", default=None)


@contextlib.contextmanager
def sample_mask(mask: jax.Array | None):
    """Within this context, training-mode BatchNorm computes its batch statistics (and
    updates its running ones) over the samples where ``mask`` (B,) is True only, as if
    the batch held those samples alone: a fold's smaller last batch inside a program of
    fixed batch size. ``None``: every sample counts (the plain path)."""
    token = _SAMPLE_MASK.set(mask)
    try:
        yield
    finally:
        _SAMPLE_MASK.reset(token)


def accumulation_dtype(dtype) -> jnp.dtype:
    """float32 for float32 and lower precisions; float64 stays float64 (parity tests)."""
    return jnp.promote_types(dtype, jnp.float32)


def symmetric_uniform(bound: float):
    """Initializer drawing from U(-bound, bound) (PyTorch's default for Linear and conv)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def torch_default_init(fan_in: int):
    """PyTorch's default weight (and bias) init of ``nn.Conv2d`` and ``nn.Linear``:
    ``kaiming_uniform_(a=sqrt(5))``, i.e. U(+-gain * sqrt(3 / fan_in)) with
    gain = sqrt(2 / (1 + 5)): U(+-1 / sqrt(fan_in)) (std 1 / sqrt(3 fan_in))."""
    return symmetric_uniform(fan_in**-0.5)


def timm_trunc_normal(std: float = 0.02, a: float = -2.0, b: float = 2.0):
    """timm's ``trunc_normal_(tensor, std=std)`` (mean 0, bounds ``a``, ``b`` ABSOLUTE, not
    in units of std): at std 0.02 the bounds are 100 std away, so it is N(0, std^2).
    (``jax.nn.initializers.truncated_normal`` truncates at +-2 std and rescales: another
    distribution.)"""

    def init(key, shape, dtype=jnp.float32):
        return std * jax.random.truncated_normal(key, a / std, b / std, shape, dtype)

    return init


class Conv2d(nnx.Module):
    """A square 2-D convolution on NHWC inputs, kernel HWIO, PyTorch padding semantics.

    ``padding`` pads every spatial side by that many pixels (zeros), as PyTorch does.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        use_bias: bool = False,
        dtype=jnp.float32,
        impl: str = "xla",
        kernel_init=conv_init,
        bias_init=jax.nn.initializers.zeros,
        rngs: nnx.Rngs,
    ):
        shape = (kernel_size, kernel_size, in_features, out_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), shape, jnp.float32))
        self.bias = (
            nnx.Param(bias_init(rngs.params(), (out_features,), jnp.float32)) if use_bias else None
        )
        self.stride = stride
        self.padding = padding
        self.dtype = dtype
        self.impl = impl

    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.kernel[...].astype(self.dtype)
        y = conv_ops.conv2d(x.astype(self.dtype), w, self.stride, self.padding, self.impl)
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


class BatchNorm(nnx.Module):
    """BatchNorm over all axes but the last, with PyTorch's ``BatchNorm2d`` semantics.

    Why not ``nnx.BatchNorm``: it feeds the *biased* batch variance into the running
    average and computes the variance as E[x^2] - E[x]^2 by default. PyTorch, whose
    statistics converted checkpoints carry, updates ``running_var`` with the
    *unbiased* variance (n / (n - 1)) and normalises training outputs with the biased
    one. This module does exactly that, with ``momentum`` in PyTorch's sense
    (``running = (1 - momentum) * running + momentum * batch``), and computes the
    statistics in float32 whatever the compute dtype.

    ``use_running_average`` is switched by ``model.train()`` / ``model.eval()``.
    """

    def __init__(
        self,
        num_features: int,
        *,
        momentum: float = 0.1,
        epsilon: float = 1e-5,
        use_running_average: bool = False,
        dtype=jnp.float32,
    ):
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        self.momentum = momentum
        self.epsilon = epsilon
        self.use_running_average = use_running_average
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        axes = tuple(range(x.ndim - 1))
        acc = accumulation_dtype(x.dtype)
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            xf = x.astype(acc)
            mask = _SAMPLE_MASK.get()
            if mask is None:
                mean = jnp.mean(xf, axes)
                var = jnp.mean(jnp.square(xf - mean), axes)  # two-pass, biased
                n = xf.size // xf.shape[-1]
                unbiased = var * (n / max(n - 1, 1))
            else:
                w = mask.astype(acc).reshape((-1,) + (1,) * (x.ndim - 1))
                n = jnp.sum(mask).astype(acc) * (xf.size // (xf.shape[0] * xf.shape[-1]))
                count = jnp.maximum(n, 1)
                mean = jnp.sum(xf * w, axes) / count
                var = jnp.sum(jnp.square(xf - mean) * w, axes) / count
                unbiased = var * (n / jnp.maximum(n - 1, 1))
            m = self.momentum
            self.mean[...] = (1 - m) * self.mean[...] + m * jax.lax.stop_gradient(mean)
            self.var[...] = (1 - m) * self.var[...] + m * jax.lax.stop_gradient(unbiased)
        inv = jax.lax.rsqrt(var + self.epsilon) * self.scale[...]
        shift = self.bias[...] - mean * inv
        return (x.astype(acc) * inv + shift).astype(self.dtype)


def max_pool2d(x: jax.Array, kernel: int, stride: int, padding: int = 0) -> jax.Array:
    """PyTorch ``max_pool2d(kernel, stride, padding)`` on NHWC: padded with -inf, output
    side ``floor((H + 2 padding - kernel) / stride) + 1`` (``ceil_mode=False``)."""
    return jax.lax.reduce_window(
        x,
        -jnp.inf,
        jax.lax.max,
        window_dimensions=(1, kernel, kernel, 1),
        window_strides=(1, stride, stride, 1),
        padding=((0, 0), (padding, padding), (padding, padding), (0, 0)),
    )


def max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """PyTorch ``max_pool2d(kernel_size=3, stride=2, padding=1)`` on NHWC (pads with -inf)."""
    return max_pool2d(x, 3, 2, 1)


def avg_pool2d(x: jax.Array, kernel: int) -> jax.Array:
    """PyTorch ``avg_pool2d(kernel, stride=kernel, padding=0)`` on NHWC (rows and columns
    past the last whole window are dropped, as ``ceil_mode=False`` does)."""
    b, h, w, c = x.shape
    hk, wk = h // kernel, w // kernel
    x = x[:, : hk * kernel, : wk * kernel].reshape(b, hk, kernel, wk, kernel, c)
    return x.mean(axis=(2, 4))
