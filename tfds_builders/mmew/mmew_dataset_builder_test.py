"""MMEW builder on its dummy release (frames grouped by emotion, a missing apex)."""

import shutil

import pytest

from tfds_builders import me_common
from tfds_builders import testing as t


def test_4class(tmp_path):
    builder, records, report = t.build("mmew/4class", t.dummy_data("mmew"), tmp_path)
    assert t.ids(records) == [
        "S01/S01-01-001",
        "S01/S01-05-002",
        "S02/S02-03-001",
        "S02/S02-07-001",
    ]
    assert t.label_counts(builder, records) == {
        "happiness": 1,
        "surprise": 1,
        "disgust": 1,
        "others": 1,
    }
    # No apex and no offset in the sheet: offset = last frame on disk (8), apex = middle.
    others = t.by_id(records)["S02/S02-07-001"]
    assert (others["onset"], others["apex"], others["offset"]) == (2, 5, 8)
    assert others["apex_estimated"]
    assert t.reported(report, "estimated") == {me_common.OFFSET_FROM_DISK: ["S02/S02-07-001"]}
    detail = report["clips"]["estimated"][me_common.OFFSET_FROM_DISK][0]["detail"]
    assert me_common.APEX_NOT_A_NUMBER in detail
    assert t.reported(report, "excluded") == {me_common.EXCLUDED_BY_CLASS_MAP: ["S03/S03-04-001"]}
    assert report["counts"]["skipped"] == 0


def test_missing_frame_folder(tmp_path):
    manual = t.copy_dummy_data("mmew", tmp_path)
    shutil.rmtree(manual / "Micro_Expression")
    with pytest.raises(me_common.SourceNotFoundError, match="Micro_Expression/happiness"):
        t.build("mmew/4class", manual, tmp_path / "data")
