"""Every layer starts as the official modules initialise it (table in the README)."""

import jax
import numpy as np
import pytest
from flax import nnx

from mmnet_jax.models import MMNet, MMNetConfig


@pytest.fixture(scope="module")
def model():
    # 64 px: the conv and ViT shapes are those of 224 px except the head's width.
    return MMNet(MMNetConfig(num_classes=5, image_size=64), rngs=nnx.Rngs(0))


def _w(x):
    return np.asarray(x[...], np.float64)


def test_stem_conv_act_keeps_pytorch_default(model):
    """conv_act (3 -> 180, 3x3): U(+-1/sqrt(27)), std 1/sqrt(81) = 0.111 (He: 0.035)."""
    w = _w(model.main_branch.stem_conv1.kernel)
    bound = 27**-0.5
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert w.std() == pytest.approx(81**-0.5, rel=0.03)  # 4860 draws: 1% standard error


@pytest.mark.parametrize(
    "path",
    ["stem_conv2", "blocks.0.conv1", "blocks.1.conv2", "blocks.2.down_conv", "blocks.3.conv1"],
)
def test_resnet_convs_are_kaiming_normal_fan_out(model, path):
    """Convs inside the official ResNet: kaiming_normal_(fan_out, relu), N(0, 2/fan_out)."""
    layer = model.main_branch
    for part in path.split("."):
        layer = layer[int(part)] if part.isdigit() else getattr(layer, part)
    w = _w(layer.kernel)
    kh, kw, _, cout = w.shape
    assert w.std() == pytest.approx((2 / (kh * kw * cout)) ** 0.5, rel=0.05)
    assert abs(w.mean()) < 0.05 * w.std()


def test_attention_conv_fan_out_one(model):
    """The 2 -> 1 attention conv: fan_out 1, so N(0, 2): std 1.41 (2 weights per block)."""
    ws = np.concatenate([_w(b.attn_conv.kernel).ravel() for b in model.main_branch.blocks])
    assert ws.shape == (8,) and np.abs(ws).max() > 0.5


def test_vit_is_timm_trunc_normal_absolute_bounds(model):
    """Linear weights and the position embedding: std 0.02, truncated only at +-2
    (absolute), so draws beyond 2 std (0.04) occur (a 2-std truncation has none)."""
    blk = model.pc.blocks[0]
    for w in (_w(blk.fc1.kernel), _w(blk.attn.qkv.kernel), _w(model.pc.pos_embed)):
        assert w.std() == pytest.approx(0.02, rel=0.02)
        assert np.abs(w).max() > 3 * 0.02
    assert not _w(blk.fc1.bias).any() and not _w(blk.attn.proj.bias).any()
    assert (_w(blk.norm1.scale) == 1).all() and not _w(blk.norm1.bias).any()


def test_patch_embed_and_head_are_pytorch_default(model):
    """patch_embed (Conv2d 3 -> 512, 1x1, bias) and the head (Linear): U(+-1/sqrt(fan_in))
    for weight and bias."""
    pe = model.pc.patch_embed
    for w in (_w(pe.kernel), _w(pe.bias)):
        assert np.abs(w).max() <= 3**-0.5 and np.abs(w).max() > 0.9 * 3**-0.5
    fan_in = model.head.kernel.shape[0]
    for w in (_w(model.head.kernel), _w(model.head.bias)):
        assert np.abs(w).max() <= fan_in**-0.5 and np.abs(w).max() > 0.5 * fan_in**-0.5


def test_batchnorm_starts_at_identity(model):
    bns = [
        x
        for _, x in nnx.iter_graph(model)
        if type(x).__name__ == "BatchNorm" and hasattr(x, "scale")
    ]
    assert len(bns) == 2 + 4 * 3 + 3  # stem 2, per block bn1/bn2/attn_bn, 3 downsamples
    for bn in bns:
        assert (_w(bn.scale) == 1).all() and not _w(bn.bias).any()
        assert not _w(bn.mean).any() and (_w(bn.var) == 1).all()


def test_init_is_finite_and_seeded():
    a = MMNet(MMNetConfig(num_classes=3, image_size=32), rngs=nnx.Rngs(1))
    b = MMNet(MMNetConfig(num_classes=3, image_size=32), rngs=nnx.Rngs(1))
    la, lb = jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b, nnx.Param))
    assert all(np.array_equal(x, y) and np.isfinite(x).all() for x, y in zip(la, lb, strict=True))
