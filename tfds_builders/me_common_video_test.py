"""Unit tests of the long-video machinery: interval cells, the face track, the cache key
(the builds: casme2_lv/ and samm_lv/ tests; the command: tests/test_prepare_cli.py)."""

import math

import numpy as np
import pytest
from etils import epath

from tfds_builders import me_common
from tfds_builders.me_common import video_frames


@pytest.mark.parametrize(
    "cell, codes, uncertain, complete",
    [
        ("14or23", ("14", "23"), True, True),
        ("10or11", ("10", "11"), True, True),
        ("4,24,6+12+15", ("4", "6", "12", "15", "24"), False, True),
        ("(R6 or R12)+R15", ("R6", "R12", "R15"), True, True),
        ("12B ?", ("12B",), True, True),
        ("ref(11)", ("11",), True, True),
        ("4+7+L10  ", ("4", "7", "L10"), False, True),
        ("r12b", ("R12B",), False, True),
        ("AU1+AU2", ("1", "2"), False, True),
        (12, ("12",), False, True),
        ("Eye movement", (), False, False),
    ],
)
def test_action_units(cell, codes, uncertain, complete):
    aus = me_common.parse_action_units(cell)
    assert (aus.codes, aus.uncertain, aus.complete, aus.annotated) == (
        codes, uncertain, complete, True
    )  # fmt: skip


@pytest.mark.parametrize("cell", ["NULL", "null", "", None, " "])
def test_action_units_not_annotated(cell):
    aus = me_common.parse_action_units(cell)
    assert not aus.annotated and aus.codes == () and aus.text == ""


def test_types_and_emotions():
    kinds = ["Micro - 1/2", "Micro", "micro-expression", "Macro", "macro-expression"]
    assert [me_common.expression_type(k) for k in kinds] == ["micro"] * 3 + ["macro"] * 2
    assert me_common.expression_type("Blink") is None
    assert me_common.normalize_label(" Happyiness ") == ("happiness", True)
    assert me_common.normalize_label("Others") == ("others", False)


def interval(onset, apex, offset, type_="Macro", aus="4", emotion=""):
    src = me_common.IntervalSource("x_1", onset, apex, offset, type_, aus, emotion, "row 2")
    return me_common.check_interval(src, 1, 100)


def reasons(problems):
    return [p.reason for p in problems]


def test_interval_quirks():
    # CAS(ME)^2's offset 0: the interval ends at its apex (a convention, not a fault).
    iv, outcome, problems = interval(10, 15, 0)
    assert (iv.onset, iv.apex, iv.offset, iv.offset_estimated, outcome) == (
        10, 15, 15, True, "estimated"
    )  # fmt: skip
    assert reasons(problems) == [me_common.OFFSET_NOT_ANNOTATED] and not problems[0].bad
    # SAMM Long Videos' apex -1: kept, apex -1.
    iv, outcome, problems = interval(10, -1, 20)
    assert (iv.apex, outcome, reasons(problems)) == (-1, "kept", [me_common.APEX_NOT_ANNOTATED])
    assert not problems[0].bad
    # An apex that is text is a fault (strict mode stops there).
    assert interval(10, "/", 20)[2][0].bad
    # Offset before apex: kept as annotated, a fault.
    iv, outcome, problems = interval(10, 30, 20)
    assert (iv.offset, outcome, reasons(problems)) == (20, "kept", [me_common.OFFSET_BEFORE_APEX])
    assert problems[0].bad
    for cells, reason in [
        (("n/a", 5, 9), me_common.ONSET_NOT_A_NUMBER),
        ((10, 15, 5), me_common.OFFSET_BEFORE_ONSET),
        ((10, -1, 0), me_common.NO_OFFSET_NO_APEX),
        ((120, 125, 130), me_common.OUTSIDE_VIDEO),
    ]:
        iv, outcome, problems = interval(*cells)
        assert (iv, outcome, reasons(problems)[0]) == (None, "skipped", reason), cells
    assert interval(1, 2, 3, type_="Blink")[2][0].reason == me_common.TYPE_UNKNOWN
    iv, _, problems = interval(95, 98, 105, aus="14or23", emotion="happyiness")
    assert reasons(problems) == [
        me_common.PARTLY_OUTSIDE_VIDEO, me_common.AUS_UNCERTAIN, me_common.EMOTION_RESPELLED
    ]  # fmt: skip
    assert (iv.aus, iv.aus_uncertain, iv.emotion, iv.emotion_raw) == (
        "14+23", True, "happiness", "happyiness"
    )  # fmt: skip


def shift(dx, dy, size=40, angle=0.0, scale=1.0):
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    return np.array([[c, s, dx], [-s, c, dy]], np.float64)


def test_face_track_interpolates_between_keyframes():
    track = video_frames.FaceTrack(40, ((10, shift(-4.0, 2.0)), (20, shift(-8.0, 6.0))))
    np.testing.assert_allclose(track.matrix(5), shift(-4.0, 2.0))
    np.testing.assert_allclose(track.matrix(25), shift(-8.0, 6.0))
    np.testing.assert_allclose(track.matrix(15), shift(-6.0, 4.0), atol=1e-9)
    # Roll and scale are interpolated too (about the crop centre's source point).
    turned = video_frames.FaceTrack(40, ((0, shift(0, 0)), (10, shift(0, 0, angle=0.2, scale=2))))
    mid = turned.matrix(5)
    assert math.isclose(math.atan2(mid[0, 1], mid[0, 0]), 0.1, abs_tol=1e-9)
    assert math.isclose(math.hypot(mid[0, 0], mid[0, 1]), math.sqrt(2), rel_tol=1e-9)


def test_cache_key_follows_options_and_files(tmp_path):
    folder = epath.Path(tmp_path)
    for n in (1, 2):
        (folder / f"img{n:03d}.jpg").write_bytes(b"x" * n)
    files = {n: folder / f"img{n:03d}.jpg" for n in (1, 2)}
    options = {"image_size": 32, "grayscale": True}

    def key(**changes):
        return me_common.cache_key("b", "1.0.0", {**options, **changes}, "dlib", "s1/0101", files)

    assert key() == key()
    assert key(image_size=64) != key()
    before = key()
    (folder / "img002.jpg").write_bytes(b"changed")
    assert key() != before


def test_cache_entries_round_trip_and_a_broken_one_is_ignored(tmp_path):
    cache = me_common.VideoCache(tmp_path / "cache")
    video = video_frames.CachedVideo([b"\x89PNG1", b"", b"\x89PNG333"], [1, 2, 4], "{}", ["a"])
    cache.save("s15/0401", "k1", video)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["s15__0401.k1.npz"]
    assert cache.load("s15/0401", "k1") == video
    assert cache.load("s15/0401", "k2") is None  # another key: another file
    (tmp_path / "cache" / "s15__0401.k1.npz").write_bytes(b"cut short")
    assert cache.load("s15/0401", "k1") is None
    assert (cache.reused, cache.made) == (1, 1)
    assert me_common.VideoCache(None).load("s15/0401", "k1") is None
