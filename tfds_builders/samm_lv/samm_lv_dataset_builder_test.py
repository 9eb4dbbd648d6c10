"""SAMM Long Videos builder on its dummy release (title rows above the header, the
sheet's quirks, grey synthetic faces, the SAMM micro sheet's emotions)."""

import json

import cv2
import numpy as np
import openpyxl
import pytest

from tfds_builders import me_common
from tfds_builders import testing as t


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return t.build("samm_lv", t.dummy_data("samm_lv"), tmp_path_factory.mktemp("data"))


def test_records_and_intervals(built):
    builder, records, _ = built
    assert builder.builder_config.name == "default_32px"
    assert t.ids(records) == ["006/006_1", "006/006_2"]
    video = t.by_id(records)["006/006_1"]
    # The first row's subject is the number 6: the subject stays text, zero-padded.
    assert (video["subject"], video["video"], video["video_code"]) == (b"006", b"006_1", b"006_1")
    assert video["fps"] == 200 and video["num_frames"] == 40
    assert np.asarray(video["frames"]).shape == (40, 32, 32, 1)
    rows = t.intervals(video)
    fields = ("name", "onset", "apex", "offset", "offset_estimated")
    assert [tuple(i[f] for f in fields) for i in rows] == [
        ("006_1_1", 5, 9, 14, False),
        ("006_1_2", 18, -1, 30, False),  # apex -1: not annotated
        ("006_1_3", 33, 36, 36, True),  # no offset: the interval ends at its apex
        ("006_1_4", 20, 24, 22, False),  # offset before apex: kept as annotated
    ]  # fmt: skip
    assert [(i["type"], i["type_raw"]) for i in rows] == [
        ("micro", "Micro - 1/2"), ("macro", "Macro"), ("macro", "Macro"), ("micro", "Micro")
    ]  # fmt: skip
    assert [(i["action_units"], i["aus"], i["aus_uncertain"]) for i in rows] == [
        ("(R6 or R12)+R15", "R6+R12+R15", True),
        ("12B ?", "12B", True),
        ("ref(11)", "11", True),
        ("NULL", "", False),
    ]
    # Emotions: micro intervals from the SAMM micro sheet, by Filename; none for macro
    # intervals or for micro intervals that sheet does not list.
    assert [(i["emotion"], i["emotion_raw"]) for i in rows] == [
        ("happiness", "Happiness"), ("", ""), ("", ""), ("", "")
    ]  # fmt: skip
    assert rows[0]["notes"] == "Blinks"
    other = t.intervals(t.by_id(records)["006/006_2"])
    assert [(i["name"], i["action_units"], i["emotion"]) for i in other] == [
        ("006_2_1", "4  ", "anger")  # trailing spaces kept in the raw text
    ]


def test_report(built):
    _, _, report = built
    assert report["counts"] == {
        "videos": 5, "written": 2, "kept": 2, "skipped": 2, "excluded": 1
    }  # fmt: skip
    assert t.reported(report, "skipped", "videos") == {
        me_common.UNREADABLE_FRAME: ["007/007_3"],
        me_common.FOLDER_NOT_FOUND: ["011/011_2"],
    }
    assert t.reported(report, "excluded", "videos") == {me_common.NO_INTERVAL: ["008/008_1"]}
    iv = report["intervals"]
    assert iv["counts"] == {
        "intervals": 10, "written": 5, "kept": 4, "estimated": 1, "skipped": 5
    }  # fmt: skip
    assert iv["emotions"] == {"anger": 1, "happiness": 1}
    assert {r: [i["id"] for i in items] for r, items in iv["items"].items()} == {
        me_common.AUS_UNCERTAIN: ["006/006_1 006_1_1", "006/006_1 006_1_2", "006/006_1 006_1_3"],
        me_common.APEX_NOT_ANNOTATED: ["006/006_1 006_1_2"],
        me_common.OFFSET_NOT_ANNOTATED: ["006/006_1 006_1_3"],
        me_common.OFFSET_BEFORE_APEX: ["006/006_1 006_1_4"],
        me_common.AUS_NOT_ANNOTATED: ["006/006_1 006_1_4"],
        me_common.ONSET_NOT_A_NUMBER: ["006/006_2 006_2_2"],
        me_common.OUTSIDE_VIDEO: ["006/006_2 006_2_3"],
        me_common.TYPE_UNKNOWN: ["006/006_2 006_2_4"],
        me_common.VIDEO_SKIPPED: ["007/007_3 007_3_1", "011/011_2 011_2_1"],
    }
    source = report["sources"]["samm_lv"]
    assert source["header_row"] == 11  # ten title rows above it
    assert source["rows"] == 10 and len(source["ignored_rows"]) == 1  # a notes row below
    assert source["micro_without_emotion"] == [
        "006/006_1 006_1_4", "006/006_2 006_2_2", "011/011_2 011_2_1"
    ]  # fmt: skip
    assert source["emotions"].endswith(
        "SAMM_Micro_FACS_Codes_v2.xlsx (micro intervals, by Filename)"
    )


def test_without_the_micro_sheet_there_are_no_emotions(tmp_path):
    manual = t.copy_dummy_data("samm_lv", tmp_path)
    (manual / "SAMM_Micro_FACS_Codes_v2.xlsx").unlink()
    _, records, report = t.build("samm_lv", manual, tmp_path / "data", image_size=16)
    assert all(e == b"" for r in records for e in r["intervals"]["emotion"])
    assert report["sources"]["samm_lv"]["emotions"] is None
    assert report["intervals"]["emotions"] == {}


def test_strict_mode_stops_at_the_first_bad_video(tmp_path):
    manual = t.copy_dummy_data("samm_lv", tmp_path)
    path = manual / "SAMM_LongVideos_V2_Release.xlsx"
    book = openpyxl.load_workbook(path)
    sheet = book.active
    for row in range(sheet.max_row, 11, -1):  # keep 006_1_1 and 007_3_1 only
        if sheet.cell(row, 2).value not in ("006_1_1", "007_3_1"):
            sheet.delete_rows(row)
    book.save(path)
    with pytest.raises(me_common.BadClipError, match=r"video 007/007_3 .*unreadable frame"):
        t.build("samm_lv", manual, tmp_path / "data", image_size=16, strict=True)


def stored_drift(record) -> float:
    """The mean sideways shift of the stored face against the first frame, pixels."""
    frames = np.asarray(record["frames"])[..., 0].astype(np.float32)
    return float(np.mean([abs(cv2.phaseCorrelate(frames[0], f)[0][0]) for f in frames]))


def test_face_every_n_frames_follows_the_head(tmp_path):
    """The synthetic head drifts up to 2 px sideways (make_dummy_data.face_video); one
    transform keeps that drift in the crops, locating the face every 10 frames removes
    most of it."""
    _, fixed, _ = t.build("samm_lv", t.dummy_data("samm_lv"), tmp_path / "a", image_size=48)
    builder, tracked, report = t.build(
        "samm_lv", t.dummy_data("samm_lv"), tmp_path / "b", image_size=48, face_every=10
    )
    assert builder.builder_config.name == "default_48px_face10"
    info = json.loads(t.by_id(tracked)["006/006_1"]["face_alignment"])
    assert [k["frame"] for k in info["keyframes"]] == [1, 11, 21, 31, 40]
    assert report["preparation"]["face_every"] == 10
    still, followed = (stored_drift(t.by_id(r)["006/006_1"]) for r in (fixed, tracked))
    assert still > 1.0 and followed < 0.6 * still, (still, followed)
