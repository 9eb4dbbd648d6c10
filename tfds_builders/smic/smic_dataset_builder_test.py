"""SMIC-HS builder on its dummy release (labels from folders, no apex annotation)."""

import pytest

from tfds_builders import me_common
from tfds_builders import testing as t


def test_3class(tmp_path):
    builder, records, report = t.build("smic/3class", t.dummy_data("smic"), tmp_path)
    assert t.ids(records) == ["s1/s1_ne_01", "s1/s1_po_01", "s2/s2_sur_01"]
    assert t.label_counts(builder, records) == {"positive": 1, "surprise": 1, "negative": 1}
    clip = t.by_id(records)["s1/s1_ne_01"]
    # Onset and offset are the first and last frames; the apex is the middle frame.
    assert (clip["onset"], clip["apex"], clip["offset"]) == (101, 104, 107)
    assert all(r["apex_estimated"] for r in records)
    assert t.reported(report, "estimated") == {
        me_common.NO_APEX_ANNOTATION: ["s1/s1_ne_01", "s1/s1_po_01", "s2/s2_sur_01"]
    }
    assert t.reported(report, "skipped") == {me_common.MISSING_FRAMES: ["s2/s2_ne_02"]}


def test_strict_accepts_the_missing_apex_but_not_an_empty_clip(tmp_path):
    with pytest.raises(me_common.BadClipError, match="s2/s2_ne_02.*no image files"):
        t.build("smic/3class", t.dummy_data("smic"), tmp_path, strict=True)


def test_missing_frames_dir(tmp_path):
    (tmp_path / "empty" / "SMIC").mkdir(parents=True)
    with pytest.raises(me_common.SourceNotFoundError, match=r"HS/s1/micro/negative/s1_ne_01"):
        t.build("smic/3class", tmp_path / "empty", tmp_path / "data")
