"""The baseline models behind the model interface: registered with the ``flow`` input,
train/eval modes as the trainer switches them, Off-ApexNet's channels, HTNet's blocks."""

from __future__ import annotations

import dataclasses
import json

import cv2
import jax.numpy as jnp
import matplotlib.cbook
import numpy as np
import pytest
from flax import nnx
from skimage import data as skdata

from mmnet_jax.models import flow_input, htnet, off_apexnet, registry, ststnet
from mmnet_jax.vision import faces
from mmnet_jax.vision import flow as vision_flow

# Two levels of 8 and 16 channels, one block each: quick to build and compile.
SMALL_HTNET = htnet.HTNetConfig(dim=8, heads=2, num_hierarchies=2, block_repeats=(1, 1))


@nnx.jit
def _run(model, *inputs):
    return model(*inputs)


def _flow(batch: int = 2, seed: int = 0) -> jnp.ndarray:
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.integers(0, 256, (batch, 28, 28, 3)).astype(np.float32))


@pytest.mark.parametrize("name", ["ststnet", "off_apexnet", "htnet"])
def test_registered_with_the_flow_input(name):
    spec = registry.get(name)
    assert spec.inputs == ("flow",) and spec.from_torch and spec.to_torch
    config = spec.config_class()
    assert (config.num_classes, config.image_size) == (3, 28)  # the official values
    # model.json / config.json describe it; reading the JSON back gives the same config.
    assert registry.config_from(json.loads(json.dumps(registry.describe(config)))) == config
    assert registry.of_config(config) is spec


# Built once, as the trainer builds a model (``nnx.Rngs(params=, dropout=)``), and shared
# by the tests below (each sets the mode it needs).
CONFIGS = {
    "ststnet": ststnet.STSTNetConfig(num_classes=5),
    "off_apexnet": off_apexnet.OffApexNetConfig(num_classes=5),
    "htnet": dataclasses.replace(SMALL_HTNET, num_classes=5),
}


@pytest.fixture(scope="module")
def built():
    return {
        name: registry.get(name).build(config, nnx.Rngs(params=0, dropout=1))
        for name, config in CONFIGS.items()
    }


@pytest.mark.parametrize("name", list(CONFIGS))
def test_built_by_the_registry_trains_and_evaluates(built, name):
    """``train()`` (dropout draws differ call to call) and ``eval()`` (deterministic), as
    the trainer switches them."""
    spec, model = registry.get(name), built[name]
    flow = _flow()
    model.eval()
    a, b = _run(model, *spec.pick(flow=flow)), _run(model, *spec.pick(flow=flow))
    assert a.shape == (2, 5) and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, b)
    model.train()
    c, d = _run(model, *spec.pick(flow=flow)), _run(model, *spec.pick(flow=flow))
    if name == "htnet":  # no dropout at the official rate (0), no BatchNorm
        np.testing.assert_allclose(c, a, rtol=1e-6)
    else:
        assert not np.allclose(c, d)


def test_ststnet_dropout_is_elementwise_and_batchnorm_follows_the_mode(built):
    model = built["ststnet"]
    model.train()
    y = np.asarray(model.dropout(jnp.ones((4, 10, 10, 16))))
    assert set(np.unique(y)) == {0.0, 2.0}  # p = 0.5, kept values scaled by 1 / (1 - p)
    assert 0.45 < (y == 0).mean() < 0.55
    assert len({tuple(y[0, 0, 0]), tuple(y[0, 0, 1]), tuple(y[0, 1, 0])}) > 1  # not per channel
    before = np.asarray(model.bns[0].mean[...])
    _run(model, _flow())
    assert not np.allclose(model.bns[0].mean[...], before)  # training updates running stats
    model.eval()
    after = np.asarray(model.bns[0].mean[...])
    _run(model, _flow())
    np.testing.assert_array_equal(model.bns[0].mean[...], after)


def test_flow_channels_are_the_field_images_channels():
    field = vision_flow.FIELD_CHANNELS
    assert (flow_input.U, flow_input.V, flow_input.STRAIN) == (
        field["u"],
        field["v"],
        field["strain"],
    )


def test_off_apexnet_reads_u_and_v_only(built):
    model = built["off_apexnet"]
    model.eval()
    flow = _flow()
    base = _run(model, flow)
    strain = flow.at[..., flow_input.STRAIN].set(0.0)
    np.testing.assert_array_equal(_run(model, strain), base)
    for channel in (flow_input.U, flow_input.V):
        assert not np.allclose(_run(model, flow.at[..., channel].set(0.0)), base)


# --- HTNet's blocks ----------------------------------------------------------------------
def test_default_block_centres_and_where_they_cut():
    config = htnet.HTNetConfig()
    assert config.block_centres == ((9.04, 9.47), (19.01, 9.47), (9.34, 18.84), (18.71, 18.84))
    # Truncated to (9, 9), (19, 9), (9, 18), (18, 18); blocks of 14 px from centre - 7.
    official = htnet.blocks.block_origins(jnp.asarray(config.block_centres), 28)
    assert np.asarray(official).tolist() == [[2, 2], [12, 2], [2, 11], [11, 11]]  # (x, y) rows
    drawn = htnet.blocks.block_origins(jnp.asarray(config.block_centres), 28, False)
    assert np.asarray(drawn).tolist() == [[2, 2], [2, 12], [11, 2], [11, 11]]


def test_assembly_places_the_blocks_in_official_order():
    flow = jnp.arange(28 * 28, dtype=jnp.float32).reshape(1, 28, 28, 1) * jnp.ones(3)
    centres = jnp.asarray([[7.0, 7.0], [21.0, 7.0], [7.0, 21.0], [21.0, 21.0]])
    out = np.asarray(htnet.blocks.assemble(flow, centres, official_indexing=False))[0, ..., 0]
    image = np.asarray(flow)[0, ..., 0]
    np.testing.assert_array_equal(out, image)  # the four quadrants, in place
    swapped = np.asarray(htnet.blocks.assemble(flow, centres))[0, ..., 0]
    # Official: rows around x. Top row: [image-left eye | image-right eye] = the image's
    # upper-left and lower-left quadrants.
    np.testing.assert_array_equal(swapped[:14, 14:], image[14:, :14])
    np.testing.assert_array_equal(swapped[14:, :14], image[:14, 14:])


def test_htnet_cuts_at_the_config_centres_without_landmarks(built):
    model = built["htnet"]
    flow = _flow()
    centres = jnp.broadcast_to(jnp.asarray(SMALL_HTNET.block_centres), (2, 4, 2))
    np.testing.assert_array_equal(_run(model, flow), _run(model, flow, centres))
    assert not np.allclose(_run(model, flow), _run(model, flow, centres + 5.0))


def _photographs() -> dict[str, np.ndarray]:
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    hopper = np.ascontiguousarray(cv2.imread(str(path))[..., ::-1])
    return {"grace_hopper": hopper, "astronaut": skdata.astronaut()}


@pytest.mark.skipif(not faces.dlib_available(), reason="needs the faces extra (dlib)")
def test_template_is_where_the_aligned_crops_put_the_face():
    """The default centres, measured again: dlib's 5-point eyes and nose base in the 28 px
    crops of ``faces.alignment``, and the mouth ratios from its 68-point model."""
    eyes, noses, drops, halves = [], [], [], []
    for photo in _photographs().values():
        five = faces.locate(photo, "dlib", 5)
        crop = faces.alignment(five, size=28)
        eyes.append(crop.points(np.array([five.left_eye, five.right_eye])))
        noses.append(crop.points(five.landmarks[4:5])[0])
        many = faces.locate(photo, "dlib", 68)
        p = faces.alignment(many, size=28).points(many.landmarks)
        left, right, nose = p[36:42].mean(0), p[42:48].mean(0), p[33]
        eye_y = (left[1] + right[1]) / 2
        drops.append(((p[48, 1] + p[54, 1]) / 2 - nose[1]) / (nose[1] - eye_y))
        halves.append((p[54, 0] - p[48, 0]) / 2 / (right[0] - left[0]))
    np.testing.assert_allclose(np.mean(eyes, 0), htnet.config.TEMPLATE_EYES, atol=0.006)
    np.testing.assert_allclose(np.mean(noses, 0), htnet.config.TEMPLATE_NOSE, atol=0.006)
    assert abs(np.mean(drops) - htnet.config.MOUTH_DROP) < 0.005
    assert abs(np.mean(halves) - htnet.config.MOUTH_HALF_WIDTH) < 0.005
