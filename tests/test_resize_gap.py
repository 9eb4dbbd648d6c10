"""The measured gap between the official resize (PIL bilinear, antialiased when
shrinking, at load time) and ours (OpenCV INTER_AREA, when preparing): the README's
recipe table quotes these figures; this test remeasures them on synthetic frames of the
releases' sizes (CASME II crops 170-280 px, raw 720p and 2K frames)."""

import cv2
import numpy as np
import pytest
from PIL import Image

SIZE = 224


def _frame(h, w, seed=1):
    """Face-like texture: smooth shading plus detail at several scales, uint8 RGB."""
    r = np.random.default_rng(seed)
    x = np.zeros((h, w, 3))
    for s, a in ((64, 60), (16, 25), (4, 10), (1, 6)):
        n = r.standard_normal((max(h // s, 2), max(w // s, 2), 3))
        x += a * cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(128 + x, 0, 255).astype(np.uint8)


def _pil(a):
    return np.asarray(Image.fromarray(a).resize((SIZE, SIZE), Image.BILINEAR), float)


def _area(a):
    return cv2.resize(a, (SIZE, SIZE), interpolation=cv2.INTER_AREA).astype(float)


@pytest.mark.parametrize(
    ("h", "w", "mean_gap"),
    [(170, 140, 0.9), (231, 189, 0.9), (280, 240, 0.9), (720, 1280, 1.6), (1088, 2040, 1.6)],
)
def test_resize_gap(h, w, mean_gap):
    onset = _frame(h, w)
    # A subtle motion: a few grey levels, as between onset and apex.
    wave = np.round(3 * np.sin(np.arange(w) / 9.0)).astype(int)[None, :, None]
    apex = np.clip(onset.astype(int) + wave, 0, 255).astype(np.uint8)
    gap = np.abs(_pil(onset) - _area(onset))
    assert 0.1 < gap.mean() <= mean_gap  # they differ, by the README's figure at most
    motion_pil, motion_area = _pil(apex) - _pil(onset), _area(apex) - _area(onset)
    rel = np.sqrt(((motion_pil - motion_area) ** 2).mean() / (motion_pil**2).mean())
    assert 0.05 < rel <= 0.3  # README: about 15-25 % of the motion's own size
