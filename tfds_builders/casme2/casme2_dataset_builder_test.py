"""CASME II builder on its dummy release (quirks of the real sheet, tiny frames)."""

import pathlib
import shutil

import numpy as np
import pytest

from tfds_builders import me_common
from tfds_builders import testing as t


@pytest.fixture(scope="module")
def built_5class(tmp_path_factory):
    return t.build("casme2/5class", t.dummy_data("casme2"), tmp_path_factory.mktemp("data"))


def test_5class_records_and_labels(built_5class):
    builder, records, _ = built_5class
    assert builder.builder_config.name == "5class_32px"
    assert t.ids(records) == [
        "sub01/EP02_01f",
        "sub01/EP03_02",
        "sub02/EP01_11f",
        "sub04/EP12_01f",
        "sub05/EP04_05",
        "sub05/EP09_05f",
        "sub13/EP03_01",
    ]
    assert t.label_counts(builder, records) == {
        "happiness": 2,
        "repression": 1,
        "disgust": 1,
        "surprise": 2,
        "others": 1,
    }
    clip = t.by_id(records)["sub01/EP02_01f"]
    assert clip["subject"] == b"sub01" and clip["source"] == b"casme2"
    assert clip["emotion"] == b"happiness" and not clip["apex_estimated"]
    assert (clip["onset"], clip["apex"], clip["offset"], clip["jitter"]) == (10, 40, 44, 1)
    assert list(clip["onset_frame_numbers"]) == [10, 11, 11, 11, 11]
    # 0.15 (44 - 40) / 4 < 1: no frame after the apex to draw; its slots repeat the apex.
    assert list(clip["apex_frame_numbers"]) == [40, 39, 39, 39, 39, 40, 40, 40, 40]
    frames = np.asarray(clip["onset_frames"])
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    # The synthetic square moves with the frame number: onset and apex frames differ.
    assert np.abs(frames[0].astype(int) - np.asarray(clip["apex_frames"])[0]).max() > 50
    assert t.by_id(records)["sub01/EP03_02"]["action_units"] == b"4+7+L10"


def test_5class_estimated_apexes(built_5class):
    _, records, _ = built_5class
    clips = t.by_id(records)
    # '/' apex, onset == apex and apex outside [onset, offset]: middle of onset..offset.
    for key, apex in (("sub04/EP12_01f", 23), ("sub05/EP09_05f", 9), ("sub05/EP04_05", 5)):
        assert clips[key]["apex_estimated"], key
        assert clips[key]["apex"] == apex, key
        assert clips[key]["apex_frame_numbers"][0] == apex
    assert sum(bool(r["apex_estimated"]) for r in records) == 3


def test_5class_report(built_5class):
    builder, _, report = built_5class
    assert report["counts"] == {
        "clips": 12,
        "written": 7,
        "kept": 4,
        "estimated": 3,
        "skipped": 3,
        "excluded": 2,
    }
    assert t.reported(report, "estimated") == {
        me_common.APEX_NOT_A_NUMBER: ["sub04/EP12_01f"],
        me_common.ONSET_EQUALS_APEX: ["sub05/EP09_05f"],
        me_common.APEX_OUT_OF_RANGE: ["sub05/EP04_05"],
    }
    assert t.reported(report, "skipped") == {
        me_common.MISSING_FRAMES: ["sub16/EP01_08"],
        me_common.ONSET_NOT_A_NUMBER: ["sub11/EP08_01f"],
        me_common.FOLDER_NOT_FOUND: ["sub12/EP02_05"],
    }
    assert t.reported(report, "excluded") == {
        me_common.EXCLUDED_BY_CLASS_MAP: ["sub09/EP13_02", "sub17/EP15_01"]
    }
    skipped = report["clips"]["skipped"]
    assert "frame 6 not in" in skipped[me_common.MISSING_FRAMES][0]["detail"]
    assert "'n/a'" in skipped[me_common.ONSET_NOT_A_NUMBER][0]["detail"]
    assert skipped[me_common.ONSET_NOT_A_NUMBER][0]["file"].endswith(
        "CASME2-coding-20190701.xlsx row 11"
    )
    assert report["labels"]["surprise"] == 2
    assert report["sources"]["casme2"]["frames"].endswith("Cropped")
    assert str(builder.data_dir).endswith(f"casme2/5class_32px/{builder.VERSION}")


def test_3class(tmp_path):
    builder, records, report = t.build("casme2/3class", t.dummy_data("casme2"), tmp_path)
    assert t.label_counts(builder, records) == {"positive": 2, "surprise": 2, "negative": 4}
    assert {"sub09/EP13_02", "sub17/EP15_01"} <= set(t.ids(records))  # fear, sadness
    assert t.reported(report, "excluded") == {me_common.EXCLUDED_BY_CLASS_MAP: ["sub01/EP03_02"]}
    assert report["counts"]["written"] == 8 and report["counts"]["skipped"] == 3


def test_other_frames_per_side(tmp_path):
    builder, records, _ = t.build(
        "casme2/5class", t.dummy_data("casme2"), tmp_path, image_size=16, frames_per_side=2
    )
    assert builder.builder_config.name == "5class_16px_2f"
    clip = t.by_id(records)["sub01/EP02_01f"]
    assert np.asarray(clip["apex_frames"]).shape == (3, 16, 16, 3)
    assert list(clip["apex_frame_numbers"]) == [40, 39, 40]


def test_strict_fails_on_first_bad_clip(tmp_path):
    with pytest.raises(me_common.BadClipError, match=r"sub04/EP12_01f .*xlsx row 5.*apex"):
        t.build("casme2/5class", t.dummy_data("casme2"), tmp_path, strict=True)


def test_strict_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(me_common.STRICT_ENV, "1")
    with pytest.raises(me_common.BadClipError, match="sub04/EP12_01f"):
        t.build("casme2/3class", t.dummy_data("casme2"), tmp_path)


def test_missing_sheet_names_the_files_expected(tmp_path):
    manual = t.copy_dummy_data("casme2", tmp_path)
    (manual / "CASME2-coding-20190701.xlsx").unlink()
    with pytest.raises(me_common.SourceNotFoundError) as error:
        t.build("casme2/5class", manual, tmp_path / "data")
    message = str(error.value)
    assert "CASME2-coding-20190701.xlsx" in message and "CASME2-coding-20140508.xlsx" in message
    assert str(manual) in message


def test_missing_frame_folder_names_the_layout(tmp_path):
    manual = t.copy_dummy_data("casme2", tmp_path)
    shutil.rmtree(manual / "Cropped")
    with pytest.raises(me_common.SourceNotFoundError, match="no frame folder") as error:
        t.build("casme2/5class", manual, tmp_path / "data")
    assert str(manual / "Cropped/sub01/EP02_01f/reg_img46.jpg") in str(error.value)


def test_older_sheet_and_nested_layout(tmp_path):
    """The 2014 sheet in a sub-folder; frames under Cropped-updated/Cropped and a raw
    copy beside them: the cropped folder wins."""
    manual = tmp_path / "manual"
    source = t.dummy_data("casme2")
    (manual / "annotations").mkdir(parents=True)
    shutil.copy(
        source / "CASME2-coding-20190701.xlsx",
        manual / "annotations" / "CASME2-coding-20140508.xlsx",
    )
    shutil.copytree(source / "Cropped", manual / "Cropped-updated" / "Cropped")
    shutil.copytree(source / "Cropped", manual / "CASME2_RAW_selected")
    _, records, report = t.build("casme2/5class", manual, tmp_path / "data", image_size=8)
    assert len(records) == 7
    assert report["sources"]["casme2"]["sheet"].endswith("CASME2-coding-20140508.xlsx")
    assert pathlib.Path(report["sources"]["casme2"]["frames"]) == (
        manual / "Cropped-updated" / "Cropped"
    )
