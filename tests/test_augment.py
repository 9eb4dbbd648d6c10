"""On-device augmentation: torchvision parity, fill in normalised space, jitter ranges."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmnet_jax.data import augment
from mmnet_jax.vision import frames as frames_lib

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "augment_torchvision.npz")
# Jitted (as in training): eager dispatch of the per-sample vmap is slow on CPU.
_batch = jax.jit(augment.training_batch, static_argnums=5)


def _frames(n=3, k=4, s=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, k, s, s, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def torchvision_cases():
    return np.load(FIXTURES)


def _geometry(f, i: int) -> augment.Geometry:
    """Fixture case ``i``'s draw (torchvision's parameters)."""
    return augment.Geometry(
        flip=bool(f["flip"][i]),
        angle=float(f["angle"][i]),
        top=int(f["top"][i]),
        left=int(f["left"][i]),
        padding=int(f["padding"][i]),
    )


def test_torchvision_parity(torchvision_cases):
    """Flip, rotation and padded crop equal torchvision's own transforms, bit for bit,
    fill and padding band included (tests/fixtures/make_augment_fixtures.py)."""
    f = torchvision_cases
    x = jnp.asarray(np.moveaxis(f["x"], 0, -1))  # (27, H, W) -> (H, W, 27)
    n = len(f["angle"])
    assert n >= 9 and set(f["recipe"].tolist()) == {"5class", "3class", "wide"}
    # Every source coordinate is >= 1e-3 from a rounding boundary (the script skipped
    # closer draws); float32 error here is ~1e-5, so a nearest pick cannot flip.
    assert f["margin"].min() >= 1e-3
    saw_fill = saw_band_only = False
    for i in range(n):
        g = _geometry(f, i)
        want = np.moveaxis(f[f"out_{i}"], 0, -1)
        got = np.asarray(augment.warp_normalized(x, g))
        np.testing.assert_array_equal(got, want, err_msg=f"case {i} (seed {f['seed'][i]})")
        saw_fill |= bool((want == 0).all(-1).any())
        # Under a composed single map, rotated content would leak into the band.
        p, top, left = g.padding, g.top, g.left
        band = np.zeros(want.shape[:2], bool)
        band[: max(p - top, 0)] = band[want.shape[0] - max(top - p, 0) :] = True
        band[:, : max(p - left, 0)] = band[:, want.shape[1] - max(left - p, 0) :] = True
        assert (want[band] == 0).all()
        saw_band_only |= bool(band.any())
    assert saw_fill and saw_band_only


def test_one_map_would_fail_the_fixtures(torchvision_cases):
    """The old augmentation (fill 0 in uint8 space, i.e. black, and one composed map)
    differs from torchvision on these fixtures: the parity test can fail."""
    f = torchvision_cases
    x = np.moveaxis(f["x"], 0, -1)
    black = -np.asarray(frames_lib.MEAN * 9, np.float32) / np.asarray(frames_lib.STD * 9)
    i = int(np.argmax(f["padding"]))
    g = _geometry(f, i)
    got = np.asarray(augment.warp_normalized(jnp.asarray(x), g, fill=0.0))
    black_fill = np.asarray(augment.warp_normalized(jnp.asarray(x), g, fill=black))
    want = np.moveaxis(f[f"out_{i}"], 0, -1)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(black_fill, want)


def test_rotation_direction_and_centre():
    """torchvision's convention by hand: +90 degrees turns content counter-clockwise on
    screen about the centre; an odd-sized frame maps its centre pixel to itself."""
    s = 5
    x = np.zeros((s, s, 1), np.float32)
    x[4, 2] = 1.0  # below the centre
    g = augment.Geometry(flip=False, angle=90.0, top=0, left=0, padding=0)
    out = np.asarray(augment.warp_normalized(jnp.asarray(x), g))
    assert out[2, 4, 0] == 1.0 and out.sum() == 1.0  # bottom -> right
    x[2, 2] = 5.0
    g = augment.Geometry(flip=False, angle=37.0, top=0, left=0, padding=0)
    assert np.asarray(augment.warp_normalized(jnp.asarray(x), g))[2, 2, 0] == 5.0


def test_crop_band_is_fill_and_rotation_corners_too():
    """Hand-built: pad then crop shifts content and leaves a band of fill; a rotation's
    corners are fill too; the fill is the given value (0 = the mean colour)."""
    h, w = 6, 8
    x = np.arange(1, h * w + 1, dtype=np.float32).reshape(h, w, 1)
    # top = p + 2, left = p - 1: output (r, c) reads (r + 2, c - 1); rows 4, 5 and col 0 fill.
    g = augment.Geometry(flip=False, angle=0.0, top=5, left=2, padding=3)
    out = np.asarray(augment.warp_normalized(jnp.asarray(x), g, fill=-7.0))[..., 0]
    np.testing.assert_array_equal(out[:4, 1:], x[2:, : w - 1, 0])
    assert (out[4:] == -7).all() and (out[:, 0] == -7).all()
    # Flip then crop: the mirrored frame is shifted.
    g = augment.Geometry(flip=True, angle=0.0, top=3, left=4, padding=3)
    out = np.asarray(augment.warp_normalized(jnp.asarray(x), g, fill=-7.0))[..., 0]
    np.testing.assert_array_equal(out[:, : w - 1], x[:, ::-1][:, 1:, 0])
    assert (out[:, w - 1] == -7).all()
    g = augment.Geometry(flip=False, angle=45.0, top=0, left=0, padding=0)
    out = np.asarray(augment.warp_normalized(jnp.asarray(x), g, fill=-7.0))[..., 0]
    assert out[0, 0] == out[0, -1] == out[-1, 0] == out[-1, -1] == -7


def test_no_augmentation_is_identity():
    onset, apex = _frames(), _frames(seed=1)
    cfg = augment.AugmentConfig(flip=False, rotation_deg=0.0, crop_padding=0, temporal_jitter=False)
    idx = jnp.array([2, 0])
    on, ap = _batch(jax.random.key(0), onset, apex, jnp.zeros(3, int), idx, cfg)
    # XLA may divide by multiplying with the reciprocal: within an ulp or two of NumPy.
    np.testing.assert_allclose(on, frames_lib.normalize(onset[[2, 0], 0]), atol=1e-6)
    np.testing.assert_allclose(ap, frames_lib.normalize(apex[[2, 0], 0]), atol=1e-6)


def test_training_batch_fill_is_the_mean_colour():
    """A padded crop in a training batch fills with 0 after normalisation (mean colour)."""
    img = np.full((1, 1, 16, 16, 3), 255, np.uint8)
    cfg = augment.AugmentConfig(flip=False, rotation_deg=0.0, crop_padding=6, temporal_jitter=False)
    fills = 0
    for seed in range(8):
        on, _ = _batch(jax.random.key(seed), img, img, jnp.zeros(1, int), jnp.array([0]), cfg)
        on = np.asarray(on[0])
        white = frames_lib.normalize(img[0, 0])[0, 0]
        fill = (on == 0).all(-1)
        np.testing.assert_allclose(on[~fill], np.broadcast_to(white, on[~fill].shape), atol=1e-6)
        fills += int(fill.sum())
    assert fills > 0


def test_same_geometry_for_both_frames():
    frames = _frames(n=4)
    cfg = augment.AugmentConfig(flip=True, rotation_deg=10.0, crop_padding=6, temporal_jitter=False)
    idx = jnp.arange(4)
    # Identical onset and apex stacks must stay identical under the shared transform.
    for seed in range(5):
        on, ap = _batch(jax.random.key(seed), frames, frames, jnp.zeros(4, int), idx, cfg)
        np.testing.assert_array_equal(on, ap)
    changed = not np.allclose(on, frames_lib.normalize(frames[:, 0]))
    assert changed


def test_flip_and_crop_shift():
    s = 16
    img = np.zeros((1, 1, s, s, 3), np.uint8)
    img[0, 0, 6, 4] = 255  # one bright pixel, far enough inside to stay in the frame
    cfg = augment.AugmentConfig(flip=True, rotation_deg=0.0, crop_padding=3, temporal_jitter=False)
    seen = set()
    for seed in range(40):
        on, _ = _batch(jax.random.key(seed), img, img, jnp.zeros(1, int), jnp.array([0]), cfg)
        r, c = np.unravel_index(np.argmax(np.asarray(on[0, ..., 0])), (s, s))
        # The pixel moves by at most the padding, and columns mirror under flip.
        assert on[0, r, c, 0] > 2.0  # the pixel is there
        assert abs(r - 6) <= 3
        assert min(abs(c - 4), abs(c - (s - 1 - 4))) <= 3
        seen.add(c > s // 2)
    assert seen == {True, False}  # both flipped and unflipped draws occur


def _picked(onset, apex, jitter, n, seeds=80):
    """Which stored frame each clip's onset and apex came from, over many draws."""
    cfg = augment.AugmentConfig(flip=False, rotation_deg=0.0, crop_padding=0, temporal_jitter=True)
    batch = jax.jit(lambda key: _batch(key, onset, apex, jitter, jnp.arange(n), cfg))
    on_seen, ap_seen = set(), set()
    for seed in range(seeds):
        on, ap = batch(jax.random.key(seed))
        for x, seen in ((on, on_seen), (ap, ap_seen)):
            v = np.asarray(x[:, 0, 0, 0]) * frames_lib.STD[0] + frames_lib.MEAN[0]
            raw = np.rint(v * 255)
            seen.update((i, int(v) // 10) for i, v in enumerate(raw))
    return on_seen, ap_seen


def test_temporal_jitter_stays_in_range():
    k, n = 5, 6
    onset = np.zeros((n, k, 8, 8, 3), np.uint8)
    for i in range(k):
        onset[:, i] = i * 10  # frame i has value 10 * i everywhere
    jitter = jnp.array([0, 1, 2, 3, 4, 2])
    on_seen, ap_seen = _picked(onset, onset, jitter, n)
    want = {(c, i) for c in range(n) for i in range(int(jitter[c]) + 1)}
    assert on_seen == want and ap_seen == want


def test_temporal_jitter_after_the_apex():
    """(N, 3) ranges: onset in [0, j0], apex from j1 before to j2 after (3-class recipe)."""
    k, n = 4, 3
    onset = np.zeros((n, k, 8, 8, 3), np.uint8)
    apex = np.zeros((n, 2 * k - 1, 8, 8, 3), np.uint8)
    for i in range(k):
        onset[:, i] = i * 10
        apex[:, i] = 100 + i * 10  # apex - i: values 100..130
    for i in range(1, k):
        apex[:, k - 1 + i] = 200 + i * 10  # apex + i: values 210..230
    jitter = jnp.array([[1, 0, 2], [3, 2, 0], [0, 1, 1]], jnp.int32)
    on_seen, ap_seen = _picked(onset, apex, jitter, n)
    assert on_seen == {(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0)}
    # 10 + i: frame apex - i; 20 + i: frame apex + i.
    assert ap_seen == {(0, 10), (0, 21), (0, 22), (1, 10), (1, 11), (1, 12)} | {
        (2, 10),
        (2, 11),
        (2, 21),
    }
