"""The convolution MMNet uses, with a CPU-friendly gradient as an option.

``conv2d`` is XLA's convolution. XLA:CPU computes convolution *weight* gradients several
times slower than its forward convolutions, and they dominate an MMNet training step on
CPU. With ``impl="matmul_grad"`` (``MMNetConfig.conv_impl``) the weight gradient of a
KxK conv is instead computed as K*K shifted matrix products (a 1x1 conv's as one plain
matrix product), which XLA:CPU runs near its matmul peak, and the input gradient is
written out as convolutions XLA:CPU's fast (YNNPACK) path takes everywhere, inside the
training epoch's ``lax.scan`` and for stride 2 too (see ``_input_grad``). The function is
the same either way; on GPU/TPU keep the default (``"xla"``): the vendor convolutions
are fast there.
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
    dx = _input_grad(g, w, x.shape, stride, padding)
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


def _input_grad(g, w, x_shape, stride, padding):
    """The input gradient: a convolution of ``g`` with the flipped, transposed kernel.

    The same computation as XLA's own derivative, written out so that the kernel is
    materialised in HWIO order first (``optimization_barrier`` keeps XLA from folding the
    transpose into the convolution). Left to itself, XLA:CPU folds it inside loops (the
    training epoch's ``lax.scan``) into an ``01oi`` convolution that its YNNPACK path does
    not take: 57 against 154 GFLOP/s for a 4x112x112x128 -> 180 input gradient.
    """
    kh, kw = w.shape[:2]
    if stride == 2 and (kh, kw, padding) == (3, 3, 1):
        return _input_grad_3x3_s2(g, w, x_shape)
    if stride > 1 and (kh, kw, padding) == (1, 1, 0):
        # Only every stride-th pixel was read: a product there, zeros between.
        dx = jnp.einsum("bhwo,io->bhwi", g, w[0, 0])
        rows, cols = (x_shape[i] - (g.shape[i] - 1) * stride - 1 for i in (1, 2))
        zero = jnp.zeros((), dx.dtype)
        return jax.lax.pad(dx, zero, ((0, 0, 0), (0, rows, 1), (0, cols, 1), (0, 0, 0)))
    wt = jax.lax.optimization_barrier(jnp.flip(w, (0, 1)).swapaxes(2, 3))
    pads = []
    for size, k in ((x_shape[1], kh), (x_shape[2], kw)):
        low = k - 1 - padding
        pads.append((low, low + (size + 2 * padding - k) % stride))
    return jax.lax.conv_general_dilated(
        g, wt, (1, 1), pads, lhs_dilation=(stride, stride), dimension_numbers=_DIMS
    )


def _input_grad_3x3_s2(g, w, x_shape):
    """The input gradient of a 3x3, stride-2, padding-1 convolution, phase by phase.

    XLA computes it as a convolution over ``g`` dilated with zeros, which XLA:CPU leaves
    to Eigen (its YNNPACK path takes no dilation). Per output parity it is a small dense
    convolution instead: along one axis, ``dx[2m] = g[m] w[1]`` and
    ``dx[2m+1] = g[m] w[2] + g[m+1] w[0]``; in 2-D, four VALID convolutions (1x1, 1x2,
    2x1, 2x2 taps; nine in all, the forward's FLOPs) whose outputs interleave.
    """
    b, ho, wo, _ = g.shape
    wt = jax.lax.optimization_barrier(w.swapaxes(2, 3))  # (3, 3, cout, cin), HWIO
    gp = jnp.pad(g, ((0, 0), (0, 1), (0, 1), (0, 0)))  # g[Ho] = g[:, :, Wo] = 0
    taps = {0: [1], 1: [2, 0]}  # kernel tap for shift 0 (and 1) of each output parity
    rows = []
    for a in (0, 1):
        cols = []
        for c in (0, 1):
            k = jnp.stack([jnp.stack([wt[i, j] for j in taps[c]]) for i in taps[a]])
            src = gp[:, : ho + a, : wo + c]
            cols.append(
                jax.lax.conv_general_dilated(src, k, (1, 1), "VALID", dimension_numbers=_DIMS)
            )
        rows.append(jnp.stack(cols, axis=3))  # (B, Ho, Wo, 2, cin)
    dx = jnp.stack(rows, axis=2).reshape(b, 2 * ho, 2 * wo, -1)  # (B, Ho, 2, Wo, 2, cin)
    return dx[:, : x_shape[1], : x_shape[2]]
