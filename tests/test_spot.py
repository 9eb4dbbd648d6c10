"""Apex spotting: on clips with a known apex, and the error measurement of the README."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import apex_spotting
from mmnet_jax.vision import spot


def drifting_clip(apex: int, length: int = 40, size: int = 48) -> list[np.ndarray]:
    """A textured face that brightens as a whole, linearly in time (lighting drift), with
    a local bump (the expression) that rises to ``apex`` and falls back by the end."""
    rng = np.random.default_rng(0)
    base = rng.uniform(60, 160, (size, size)).astype(np.float64)
    yy, xx = np.mgrid[:size, :size]
    bump = 40 * np.exp(-((yy - 30) ** 2 + (xx - 20) ** 2) / 30)
    out = []
    for t in range(length):
        k = t / apex if t <= apex else (length - 1 - t) / (length - 1 - apex)
        frame = base * (1 + 0.4 * t / (length - 1)) + k * bump + rng.normal(0, 1.5, base.shape)
        out.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return out


@pytest.mark.parametrize("apex", [8, 25])
def test_detrended_finds_the_apex_despite_drift(apex):
    frames = drifting_clip(apex)
    found = spot.spot_apex(frames)
    # The 5-frame smoothing moves the peak of this sharp, lopsided ramp by up to 2 frames.
    assert abs(found.apex - apex) <= 2, found.apex
    assert found.scores.shape == (len(frames),) and found.method == "detrended"
    # Against the onset alone, the drift keeps growing and pulls the peak late.
    assert spot.spot_apex(frames, method="onset").apex >= apex + 4


def test_search_window_and_middle():
    frames = drifting_clip(25)
    found = spot.spot_apex(frames, onset=5, offset=20)
    assert 5 <= found.apex <= 20 and len(found.scores) == 16
    middle = spot.spot_apex(frames, onset=4, offset=21, method="middle")
    assert middle.apex == 12 and "middle frame of [4, 21]" in middle.describe()
    with pytest.raises(ValueError, match="unknown apex spotting method"):
        spot.spot_apex(frames, method="flow")
    with pytest.raises(ValueError, match="onset"):
        spot.spot_apex(frames, onset=30, offset=10)


def test_synthetic_errors_beat_the_middle_frame():
    """The benchmark's measurement, small: on synthetic clips (head drift, lighting change,
    noise) the detrended spotter is closer to the true apex than the middle frame."""
    errors = apex_spotting.measure_synthetic(seed=2, subjects=2, clips_per_subject=3, image_size=48)
    assert {len(e) for e in errors.values()} == {6}
    assert np.median(errors["detrended"]) <= 4
    assert np.median(errors["detrended"]) < np.median(errors["middle"])
    table = apex_spotting.error_table(errors)
    assert table.splitlines()[0].startswith("| method | median error (frames)")
    assert "| detrended |" in table and "| middle |" in table


def test_command_prints_the_table(capsys):
    argv = ["--seed", "3", "--subjects", "1", "--clips_per_subject", "2", "--image_size", "32"]
    assert apex_spotting.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 5 and "| 2 |" in out
