"""conv2d's CPU gradient path ("matmul_grad") against XLA's own derivative."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmnet_jax.models import conv_ops

# (size, kernel, stride, padding): every kind of conv MMNet has, odd sizes too.
CASES = [
    (12, 3, 1, 1),
    (12, 3, 2, 1),
    (13, 3, 2, 1),
    (12, 1, 1, 0),
    (12, 1, 2, 0),
    (13, 1, 2, 0),
]


@pytest.mark.parametrize("size, k, stride, padding", CASES)
def test_matmul_grad_equals_xla(size, k, stride, padding):
    kx, kw, kg = jax.random.split(jax.random.key(size * 10 + k + stride), 3)
    x = jax.random.normal(kx, (2, size, size, 5))
    w = jax.random.normal(kw, (k, k, 5, 7))

    def out(impl):
        return lambda x, w: conv_ops.conv2d(x, w, stride, padding, impl)

    y_xla, vjp_xla = jax.vjp(out("xla"), x, w)
    y_mm, vjp_mm = jax.vjp(out("matmul_grad"), x, w)
    np.testing.assert_array_equal(y_mm, y_xla)
    g = jax.random.normal(kg, y_xla.shape)
    for got, want in zip(vjp_mm(g), vjp_xla(g), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * float(jnp.abs(want).max()))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's program")
def test_input_gradients_stay_plain_convolutions_inside_scan():
    """The training epoch runs its steps in ``lax.scan``; there XLA used to fold the kernel
    transpose into an ``01oi`` convolution, and computed stride-2 input gradients with
    dilated convolutions, both off XLA:CPU's fast path (see conv_ops)."""
    x = jnp.ones((2, 16, 16, 8))
    w = jnp.ones((3, 3, 8, 8)) * 0.1
    w2 = jnp.ones((3, 3, 8, 8)) * 0.1

    def loss(ws, x):
        y = conv_ops.conv2d(x, ws[0], 1, 1, "matmul_grad")
        y = conv_ops.conv2d(y, ws[1], 2, 1, "matmul_grad")
        return (y**2).sum()

    def epoch(ws, x):
        def body(ws, _):
            g = jax.grad(loss)(ws, x)
            return jax.tree.map(lambda a, b: a - 1e-3 * b, ws, g), None

        return jax.lax.scan(body, ws, None, length=2)[0]

    hlo = jax.jit(epoch).lower((w, w2), x).compile().as_text()
    convs = [line for line in hlo.splitlines() if " convolution(" in line]
    assert convs, "no convolution in the compiled program"
    for line in convs:
        assert "lhs_dilate" not in line, line
        assert "_01io->" in line, line
