"""Synthetic long videos: events at known frames, deterministic in the seed, written to
mp4 and to a frames folder, joined with shot changes."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from mmnet_jax.vision import faces
from tfds_builders.synthetic_me import long_video as lv


@pytest.fixture(scope="module")
def video():
    return lv.make_video(4, seconds=8, micro=3, macro=1, blinks=2, absent=[(150, 165)])


def test_events_are_where_and_as_long_as_planned(video):
    fps = video.fps
    assert [e.type for e in video.ground_truth].count("micro") == 3
    assert [e.type for e in video.ground_truth].count("macro") == 1
    assert len(video.blinks) == 2 and all(e.type == "blink" for e in video.blinks)
    events = sorted(video.events, key=lambda e: e.onset)
    for e in events:
        seconds = (e.offset - e.onset + 1) / fps
        low, high = {"micro": lv.MICRO_SECONDS, "macro": lv.MACRO_SECONDS,
                     "blink": lv.BLINK_SECONDS}[e.type]  # fmt: skip
        assert low - 1 / fps <= seconds <= high + 1 / fps, e
        assert e.onset < e.apex < e.offset and 0 <= e.onset and e.offset < video.num_frames
        assert e.intensity(e.onset) == 0 == e.intensity(e.offset)
        assert e.intensity(e.apex) == pytest.approx(e.amplitude)
        assert (e.emotion == "") == (e.type == "blink")
        # No event in the stretch without a face.
        assert e.offset < 150 or e.onset >= 165
    for a, b in zip(events, events[1:], strict=False):
        assert b.onset - a.offset > round(lv.GAP_SECONDS * fps)
    micro = [e for e in video.ground_truth if e.type == "micro"]
    macro = [e for e in video.ground_truth if e.type == "macro"]
    assert max(e.amplitude for e in micro) < min(e.amplitude for e in macro)


def test_frames_show_the_events_and_the_absence(video):
    micro = next(e for e in video.ground_truth if e.type == "micro")
    onset, apex = video.frame(micro.onset), video.frame(micro.apex)
    assert onset.shape == (128, 128, 3) and onset.dtype == np.uint8
    # The expression changes pixels well beyond the sensor noise, locally.
    change = np.abs(apex.astype(int) - onset.astype(int)).max(axis=-1)
    assert (change > 25).sum() > 10 and (change > 25).mean() < 0.1
    # No face: the frame is the background, under the light, with noise.
    empty = video.frame(155).astype(float)
    assert empty.std(axis=(0, 1)).max() < 15 and not video.face_present(155)
    gray = cv2.cvtColor(video.frame(0), cv2.COLOR_RGB2GRAY)
    assert faces.haar_box(gray) is not None  # the identity was chosen to be detectable


def test_seeds_are_deterministic_and_distinct(video):
    again = lv.make_video(4, seconds=8, micro=3, macro=1, blinks=2, absent=[(150, 165)])
    np.testing.assert_array_equal(again.frame(17), video.frame(17))
    assert again.events == video.events
    other = lv.make_video(5, seconds=8, micro=3, macro=1, blinks=2, absent=[(150, 165)])
    assert other.events != video.events
    assert np.abs(other.frame(17).astype(int) - video.frame(17).astype(int)).mean() > 10


def test_too_many_events_and_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        lv.make_video(0, seconds=2, micro=5, macro=3)
    with pytest.raises(ValueError, match="at least 48"):
        lv.make_video(0, num_frames=10, width=32, height=32, micro=0, macro=0)
    with pytest.raises(ValueError, match="one of num_frames and seconds"):
        lv.make_video(0)


def test_writers_and_concatenation(tmp_path):
    a = lv.make_video(1, num_frames=20, micro=0, macro=0, blinks=0, width=96, height=64)
    b = lv.make_video(2, num_frames=15, micro=0, macro=0, blinks=0, width=96, height=64)
    both = lv.concatenate([a, b])
    assert len(both) == 35 and both.shot_changes == [20]
    np.testing.assert_array_equal(both.frame(22), b.frame(2))
    path = lv.write_mp4(both, tmp_path / "v.mp4")
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == 35
    folder = lv.write_frames(both, tmp_path / "frames")
    files = sorted(folder.iterdir())
    assert [f.name for f in files[:2]] == ["img00000.png", "img00001.png"] and len(files) == 35
    # PNG is lossless: the frames folder holds the frames exactly.
    np.testing.assert_array_equal(cv2.imread(str(files[21]))[..., ::-1], both.frame(21))

    with_events = lv.concatenate([lv.make_video(3, seconds=3, micro=1, macro=0, blinks=1)] * 2)
    first, second = with_events.ground_truth
    assert second.onset == first.onset + 90 and len(with_events.blinks) == 2
    truth = lv.write_ground_truth(with_events, tmp_path / "truth.csv")
    rows = list(csv.DictReader(truth.open()))
    assert [r["type"] for r in rows] == ["micro", "micro"]
    assert int(rows[1]["onset"]) == second.onset and float(rows[1]["onset_s"]) == round(
        second.onset / 30, 4
    )
