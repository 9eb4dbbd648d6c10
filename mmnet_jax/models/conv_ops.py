"""The convolution MMNet uses, with a CPU-friendly gradient as an option.

``conv2d`` is XLA's convolution. XLA:CPU computes convolution *weight* gradients several
times slower than its forward convolutions, and they dominate an MMNet training step on
CPU. With ``impl="matmul_grad"`` (``MMNetConfig.conv_impl``) the weight gradient of a
KxK conv is instead computed as K*K shifted matrix products (a 1x1 conv's as one plain
matrix product), which XLA:CPU runs near its matmul peak. The function is the same either way; on
GPU/TPU keep the default (``"xla"``): the vendor convolutions are fast there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

_DIMS = ("NHWC", "HWIO", "NHWC")
IMPLS = ("xla", "matmul_grad")


def _xla_conv(x, w, stride, padding):
    return jax.lax.conv_general_dilated(
        x,
        w,
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        dimension_numbers=_DIMS,
    )


def conv2d(x: jax.Array, w: jax.Array, stride: int, padding: int, impl: str = "xla") -> jax.Array:
    """NHWC x HWIO convolution with symmetric zero padding (PyTorch semantics).

    ``impl`` picks how it differentiates (``"xla"`` or ``"matmul_grad"``, see above).
    """
    if impl == "matmul_grad":
        return _conv_matmul_grad(x, w, stride, padding)
    if impl != "xla":
        raise ValueError(f"conv impl must be one of {IMPLS}, got {impl!r}")
    return _xla_conv(x, w, stride, padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_matmul_grad(x, w, stride, padding):
    return _xla_conv(x, w, stride, padding)


def _fwd(x, w, stride, padding):
    return _xla_conv(x, w, stride, padding), (x, w)


def _bwd(stride, padding, res, g):
    x, w = res
    kh, kw, cin, cout = w.shape
    # Input gradient: the transposed convolution, as XLA derives it (fast on CPU).
    _, vjp_x = jax.vjp(lambda x_: _xla_conv(x_, w, stride, padding), x)
    (dx,) = vjp_x(g)
    # Weight gradient: for each kernel tap, a matrix product of the strided, shifted
    # input window with the output gradient, contracting batch and space.
    xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ho, wo = g.shape[1], g.shape[2]
    g2 = g.reshape(-1, cout)
    taps = []
    for i in range(kh):
        for j in range(kw):
            win = jax.lax.slice(
                xp,
                (0, i, j, 0),
                (xp.shape[0], i + (ho - 1) * stride + 1, j + (wo - 1) * stride + 1, cin),
                (1, stride, stride, 1),
            )
            acc = jnp.promote_types(win.dtype, jnp.float32)
            taps.append(jnp.dot(win.reshape(-1, cin).T, g2, preferred_element_type=acc))
    dw = jnp.stack(taps).reshape(kh, kw, cin, cout).astype(w.dtype)
    return dx, dw


_conv_matmul_grad.defvjp(_fwd, _bwd)
