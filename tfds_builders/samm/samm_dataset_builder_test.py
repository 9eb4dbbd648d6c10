"""SAMM builder on its dummy release (notes rows above the header, grayscale frames)."""

import numpy as np
import pytest

from tfds_builders import me_common
from tfds_builders import testing as t


def test_5class_with_default_face_crop(tmp_path):
    builder, records, report = t.build("samm/5class", t.dummy_data("samm"), tmp_path)
    assert builder.builder_config.name == "5class_32px"
    assert builder.builder_config.face_crop
    assert t.ids(records) == [
        "006/006_1_2",
        "006/006_1_5",
        "007/007_3_1",
        "007/007_5_2",
        "009/009_2_1",
    ]
    assert t.label_counts(builder, records) == {
        "happiness": 1,
        "anger": 1,
        "contempt": 1,
        "surprise": 1,
        "other": 1,
    }
    surprise = t.by_id(records)["007/007_5_2"]
    assert surprise["apex_estimated"] and surprise["apex"] == 2003  # sheet apex 3000
    assert t.reported(report, "estimated") == {me_common.APEX_OUT_OF_RANGE: ["007/007_5_2"]}
    assert t.reported(report, "excluded") == {
        me_common.EXCLUDED_BY_CLASS_MAP: ["009/009_3_4", "011/011_2_3"]
    }
    # The synthetic frames hold no face: full frame, one note per clip.
    assert [n["id"] for n in report["notes"]] == t.ids(sorted(records, key=lambda r: r["id"]))
    assert all("no face found" in n["note"] for n in report["notes"])
    # Grayscale frames are stored as RGB with equal channels.
    frame = np.asarray(records[0]["onset_frames"][0])
    assert frame.shape == (32, 32, 3)
    np.testing.assert_array_equal(frame[..., 0], frame[..., 2])
    assert report["sources"]["samm"]["rows"] == 8
    assert report["sources"]["samm"]["ignored_rows"] == [
        f"{t.dummy_data('samm') / 'SAMM_Micro_FACS_Codes_v2.xlsx'} row 23: "
        "* Notes rows may follow the data as well."
    ]
    assert report["counts"]["clips"] == 7


def test_3class_without_face_crop(tmp_path):
    builder, records, report = t.build(
        "samm/3class", t.dummy_data("samm"), tmp_path, face_crop=False
    )
    assert builder.builder_config.name == "3class_32px_nocrop"
    assert t.label_counts(builder, records) == {"positive": 1, "surprise": 1, "negative": 4}
    assert t.reported(report, "excluded") == {me_common.EXCLUDED_BY_CLASS_MAP: ["009/009_2_1"]}
    assert report["notes"] == []


def test_missing_sheet(tmp_path):
    manual = t.copy_dummy_data("samm", tmp_path)
    (manual / "SAMM_Micro_FACS_Codes_v2.xlsx").unlink()
    with pytest.raises(me_common.SourceNotFoundError, match="SAMM_Micro_FACS_Codes_v2.xlsx"):
        t.build("samm/5class", manual, tmp_path / "data")
