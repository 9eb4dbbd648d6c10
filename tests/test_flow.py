"""Optical flow (mmnet_jax.vision.flow) on a real photograph with known motion, the field's
image convention, the channel evidence tool and the ``mmnet flow`` command.

The photograph: scikit-image's ``astronaut()`` (Eileen Collins, a public-domain NASA
photograph), its face region in grey; never faces of the micro-expression datasets.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image
from skimage import data as skdata

from benchmarks import flow_channels, flow_strain, flow_timing
from mmnet_jax import commands
from mmnet_jax.vision import flow

SIZE = 112
INNER = slice(SIZE // 8, SIZE - SIZE // 8)  # away from the border, where flow is weakest


def _face(size: int = SIZE, width: int | None = None) -> np.ndarray:
    """The astronaut's face in grey, float32 in [0, 1], (size, width or size)."""
    grey = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    face = grey[30:240, 150:330]
    return cv2.resize(face, (width or size, size), interpolation=cv2.INTER_AREA)


def _shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` with its content moved by (dx, dy) pixels (cubic spline)."""
    return ndi.shift(image, (dy, dx), order=3, mode="nearest").astype(np.float32)


def _zoomed(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` magnified by ``scale`` about its centre: pixel p moves to c + s (p - c)."""
    h, w = image.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    m = np.array([[scale, 0, cx * (1 - scale)], [0, scale, cy * (1 - scale)]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def test_translation_of_a_photograph_is_recovered():
    face = _face()
    u, v = flow.tvl1(face, _shifted(face, 0.6, -0.4))
    assert u.shape == v.shape == face.shape and u.dtype == np.float32
    assert abs(np.median(u[INNER, INNER]) - 0.6) < 0.1
    assert abs(np.median(v[INNER, INNER]) + 0.4) < 0.1
    assert np.median(flow.strain(u, v)[INNER, INNER]) < 0.05


def test_zoom_gives_its_strain():
    scale = 1.02
    face = _face()
    u, v = flow.tvl1(face, _zoomed(face, scale))
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    c = (SIZE - 1) / 2
    # Measured: median |u - (s - 1)(x - c)| 0.015 px, median strain 0.0272 for 0.0283.
    assert np.median(np.abs(u - (scale - 1) * (x - c))[INNER, INNER]) < 0.05
    assert np.median(np.abs(v - (scale - 1) * (y - c))[INNER, INNER]) < 0.05
    expected = np.sqrt(2) * (scale - 1)
    measured = np.median(flow.strain(u, v)[INNER, INNER])
    assert abs(measured - expected) < 0.15 * expected, (measured, expected)


def test_strain_of_linear_fields_is_exact():
    y, x = np.mgrid[0:9, 0:11].astype(np.float64)
    # Uniform stretch: e_xx = a, e_yy = b, e_xy = 0.
    assert np.allclose(flow.strain(0.03 * x, -0.02 * y), np.hypot(0.03, 0.02))
    # Simple shear u = k y: e_xy = k / 2, strain sqrt(2 (k / 2)^2) = k / sqrt(2).
    assert np.allclose(flow.strain(0.04 * y, 0 * y), 0.04 / np.sqrt(2))
    # A rotation (u = -w y, v = w x) deforms nothing.
    assert np.allclose(flow.strain(-0.05 * y, 0.05 * x), 0.0, atol=1e-7)


def test_resize_scales_u_and_v_by_the_resize_factor():
    # A 128 x 96 (W x H) image moved by (1.2, -0.9) px; at 64 x 64 the displacement is
    # (1.2 * 64 / 128, -0.9 * 64 / 96) = (0.6, -0.6) output pixels.
    face = _face(96, width=128)
    out = flow.features(face, _shifted(face, 1.2, -0.9), size=64)
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    inner = slice(8, 56)
    assert abs(np.median(out[inner, inner, 0]) - 0.6) < 0.1
    assert abs(np.median(out[inner, inner, 1]) + 0.6) < 0.1
    assert np.median(out[inner, inner, 2]) < 0.05
    full = flow.features(face, _shifted(face, 1.2, -0.9))
    assert full.shape == (96, 128, 3)
    assert abs(np.median(full[12:84, 16:112, 0]) - 1.2) < 0.15


def test_field_image_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    features = np.stack(
        [rng.normal(0, 1, (28, 28)), rng.normal(2, 3, (28, 28)), rng.gamma(1, 0.01, (28, 28))],
        axis=-1,
    ).astype(np.float32)
    image = flow.to_field_image(features)
    assert image.dtype == np.uint8 and image.shape == (28, 28, 3)
    path = tmp_path / "006_006_1_2 .png"
    assert cv2.imwrite(str(path), image)
    read = cv2.imread(str(path))
    back = flow.from_field_image(read)
    expected = np.rint(flow.minmax(features))
    assert np.array_equal(back, expected)
    for name, index in flow.FIELD_CHANNELS.items():
        assert np.array_equal(read[..., index], expected[..., flow.CHANNELS.index(name)])
    # The file's red, green and blue are u, v and strain (as the release's "u_v_os").
    rgb = np.asarray(Image.open(path))
    assert np.array_equal(rgb, expected.astype(np.uint8))
    # Each channel spans 0..255; a constant channel is 0.
    assert back.min(axis=(0, 1)).tolist() == [0, 0, 0]
    assert back.max(axis=(0, 1)).tolist() == [255, 255, 255]
    flat = features.copy()
    flat[..., 2] = 7.0
    assert not flow.to_field_image(flat)[..., flow.FIELD_CHANNELS["strain"]].any()


def test_minmax_is_the_same_in_jax():
    jnp = pytest.importorskip("jax.numpy")
    x = np.random.default_rng(1).normal(size=(2, 5, 6, 3)).astype(np.float32)
    x[1, ..., 0] = 3.0  # a constant channel
    out = np.asarray(flow.minmax(jnp.asarray(x)))
    assert np.allclose(out, flow.minmax(x), atol=1e-4)
    assert not out[1, ..., 0].any()


def test_channel_evidence_finds_the_layout():
    """Field images made here from real, non-uniform motion: the evidence tool finds u,
    v and strain in the cv2.imread array (FIELD_CHANNELS), and finds them moved when the
    channels are written in another order."""
    face = _face(96)
    images = []
    for i, (dx, scale) in enumerate([(0.3, 1.02), (-0.4, 0.98), (0.2, 1.03), (0.5, 0.97)]):
        # A zoom about an off-centre point plus a translation, on four crops.
        moved = _zoomed(_shifted(face, dx, 0.1 * i), scale)
        features = flow.features(face, moved, size=28)
        images.append(flow.to_field_image(features))
    images = np.stack(images)
    found = flow_channels.channel_evidence(images)
    assert {n: found[n] for n in flow.CHANNELS} == flow.FIELD_CHANNELS
    swapped = flow_channels.channel_evidence(images[..., ::-1])
    assert {n: swapped[n] for n in flow.CHANNELS} == {"u": 0, "v": 1, "strain": 2}


def test_flow_benchmarks_run_tiny(capsys):
    (row,) = flow_timing.measure([(40, 32)], repeats=1, out_size=8)
    assert row["width"] == 40 and row["median_s"] > 0
    assert flow_timing.main(["--sizes", "40x"]) == 2
    assert "is not WxH" in capsys.readouterr().err
    (row,) = flow_strain.compare(size=48, out_size=16, amplitude=1.5, sigmas=[6])
    assert row["mae_resized"] < 0.05 and row["corr_resized"] > 0.5


# ---------------------------------------------------------------------------------------
# mmnet flow


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    face = _face(64)
    onset, apex = folder / "onset.png", folder / "apex.png"
    cv2.imwrite(str(onset), np.rint(face * 255).astype(np.uint8))
    cv2.imwrite(str(apex), np.rint(_shifted(face, 0.8, 0.0) * 255).astype(np.uint8))
    return folder, onset, apex


def test_flow_command_writes_the_flow(pair, capsys):
    folder, onset, apex = pair
    out, png = folder / "flow.npz", folder / "flow.png"
    argv = ["flow", "--onset", str(onset), "--apex", str(apex), "--out", str(out)]
    assert commands.main([*argv, "--png", str(png)]) == 0
    assert str(out) in capsys.readouterr().out
    with np.load(out) as z:
        u, v, s = z["u"], z["v"], z["strain"]
        params = json.loads(str(z["params"]))
    assert u.shape == v.shape == s.shape == (64, 64) and u.dtype == np.float32
    assert abs(np.median(u[8:56, 8:56]) - 0.8) < 0.15
    assert abs(np.median(v[8:56, 8:56])) < 0.1
    assert params["method"] == "opencv DualTVL1OpticalFlow" and params["lambda"] == 0.15
    image = cv2.imread(str(png))
    assert image.shape == (64, 64, 3)
    expected = flow.to_field_image(np.stack([u, v, s], axis=-1))
    assert np.array_equal(image, expected)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "--onset {folder}/nothing.png: no such file"),
        ("sizes", "differ in size: 64x64 and 32x48"),
        ("unreadable", "cannot decode image file"),
        ("no_out", "--out is required"),
    ],
)
def test_flow_command_errors(pair, capsys, case, message):
    folder, onset, apex = pair
    other = folder / "other.png"
    argv = ["flow", "--onset", str(onset), "--apex", str(apex), "--out", str(folder / "x.npz")]
    if case == "missing":
        argv[2] = str(folder / "nothing.png")
    elif case == "sizes":
        cv2.imwrite(str(other), np.zeros((48, 32), np.uint8))
        argv[4] = str(other)
    elif case == "unreadable":
        other.write_bytes(b"not an image")
        argv[4] = str(other)
    else:
        argv = argv[:5]
    assert commands.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert message.format(folder=folder) in err[0]
    assert not (folder / "x.npz").exists()


def test_flow_command_without_contrib(pair, capsys, monkeypatch):
    folder, onset, apex = pair
    monkeypatch.delattr(cv2, "optflow")
    argv = ["flow", "--onset", str(onset), "--apex", str(apex), "--out", str(folder / "y.npz")]
    assert commands.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "opencv-contrib-python-headless" in err[0]


# ---------------------------------------------------------------------------------------
# The flow-aware flip of the flow models' inputs (mmnet_jax.data.flow_inputs.flip)


def test_flip_is_the_flow_of_the_mirrored_frames():
    import jax.numpy as jnp  # noqa: PLC0415 - JAX only here

    from mmnet_jax.data import flow_inputs  # noqa: PLC0415

    face = _face(64)
    apex = _shifted(face, 0.7, 0.3)
    raw = flow.features(face, apex)
    # The flow of the mirrored frames is the flipped flow (TV-L1 is not exactly mirror
    # symmetric: compare medians away from the border).
    mirrored = flow.features(face[:, ::-1], apex[:, ::-1])
    flipped = np.asarray(flow_inputs.flip(jnp.asarray(raw)))
    inner = (slice(8, 56), slice(8, 56))
    assert abs(np.median(flipped[inner][..., 0]) - np.median(mirrored[inner][..., 0])) < 0.05
    assert abs(np.median(flipped[inner][..., 0]) + 0.7) < 0.1
    assert np.array_equal(flipped[..., 1:], raw[:, ::-1, 1:])
    # A release image (already min-max normalised) flips to the same model input as the
    # raw flow it was made from: minmax(-minmax(u)) = minmax(-u).
    released = jnp.asarray(flow.minmax(raw))
    a = np.asarray(flow_inputs.field_image(flow_inputs.flip(released)))
    b = np.asarray(flow_inputs.field_image(flow_inputs.flip(jnp.asarray(raw))))
    assert np.allclose(a, b, atol=1e-3)
