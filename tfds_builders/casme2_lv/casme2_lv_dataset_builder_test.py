"""CAS(ME)^2 long-video builder on its dummy release (the sheet's three worksheets and
quirks, synthetic faces in rawpic/), and resumable builds through the video cache."""

import json
import os
import shutil

import numpy as np
import openpyxl
import pytest

from tfds_builders import me_common
from tfds_builders import testing as t
from tfds_builders.me_common import video_frames

IDS = ["s15/0101", "s15/0401", "s16/0102", "s19/0401"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return t.build("casme2_lv", t.dummy_data("casme2_lv"), tmp_path_factory.mktemp("data"))


def test_one_record_per_video(built):
    builder, records, _ = built
    assert builder.builder_config.name == "default_32px"
    assert t.ids(records) == IDS
    video = t.by_id(records)["s15/0101"]
    assert (video["subject"], video["video"], video["video_code"], video["source"]) == (
        b"s15", b"15_0101disgustingteeth", b"0101", b"casme2_lv"
    )  # fmt: skip
    assert video["fps"] == 30 and video["num_frames"] == 40
    frames = np.asarray(video["frames"])
    assert frames.shape == (40, 32, 32, 1) and frames.dtype == np.uint8
    assert list(video["frame_numbers"]) == list(range(1, 41))
    # The synthetic face shows the expression of disgust1_1 (onset 5, apex 10): the
    # apex frame differs from the onset frame.
    assert np.abs(frames[9].astype(int) - frames[4]).max() > 10


def test_intervals_keep_the_sheet_and_mend_its_quirks(built):
    _, records, _ = built
    by_id = t.by_id(records)
    first = t.intervals(by_id["s15/0101"])
    assert [(i["name"], i["onset"], i["apex"], i["offset"]) for i in first] == [
        ("disgust1_1", 5, 10, 18),
        ("disgust1_2", 22, 26, 26),  # offset 0: the interval ends at its apex
        ("disgust1_3", 30, 36, 33),  # offset before apex: kept as annotated
    ]
    assert [i["offset_estimated"] for i in first] == [False, True, False]
    assert [(i["type"], i["type_raw"]) for i in first] == [
        ("macro", "macro-expression"), ("micro", "micro-expression"), ("macro", "macro-expression")
    ]  # fmt: skip
    assert [(i["action_units"], i["aus"]) for i in first] == [
        ("4+9", "4+9"), ("NULL", ""), ("4,24,6+12+15", "4+6+12+15+24")
    ]  # fmt: skip
    assert [(i["emotion"], i["self_report"]) for i in first] == [("negative", "disgust")] * 3
    anger = t.intervals(by_id["s15/0401"])
    assert [(i["aus"], i["aus_uncertain"]) for i in anger] == [("14+23", True), ("", False)]
    assert anger[1]["self_report"] == "happiness"  # written happyiness
    # disgust2_1 (onset n/a) and disgust2_3 (type blink) are skipped; Macro-Expression
    # is macro.
    assert [(i["name"], i["type"]) for i in t.intervals(by_id["s16/0102"])] == [
        ("disgust2_2", "macro")
    ]


def test_report_accounts_for_every_video_and_interval(built):
    _, _, report = built
    assert report["counts"] == {
        "videos": 6, "written": 4, "kept": 4, "skipped": 1, "excluded": 1
    }  # fmt: skip
    assert t.reported(report, "skipped", "videos") == {me_common.FOLDER_NOT_FOUND: ["s16/0502"]}
    assert t.reported(report, "excluded", "videos") == {me_common.NO_INTERVAL: ["s19/0101"]}
    iv = report["intervals"]
    assert iv["counts"] == {
        "intervals": 12, "written": 7, "kept": 6, "estimated": 1, "skipped": 5
    }  # fmt: skip
    assert iv["types"] == {"micro": 3, "macro": 4}
    listed = {reason: [item["id"] for item in items] for reason, items in iv["items"].items()}
    assert listed == {
        me_common.OFFSET_NOT_ANNOTATED: ["s15/0101 disgust1_2"],
        me_common.AUS_NOT_ANNOTATED: ["s15/0101 disgust1_2", "s15/0401 anger1_2"],
        me_common.OFFSET_BEFORE_APEX: ["s15/0101 disgust1_3"],
        me_common.AUS_UNCERTAIN: ["s15/0401 anger1_1", "s16/0102 disgust2_2"],
        me_common.EMOTION_RESPELLED: ["s15/0401 anger1_2"],
        me_common.ONSET_NOT_A_NUMBER: ["s16/0102 disgust2_1"],
        me_common.PARTLY_OUTSIDE_VIDEO: ["s16/0102 disgust2_2"],
        me_common.TYPE_UNKNOWN: ["s16/0102 disgust2_3"],
        me_common.VIDEO_SKIPPED: ["s16/0502 happy2_1"],
        "subject not in the naming sheet": ["4/disgust1_1"],
        "video name not in the naming sheet": ["1/fear1_1"],
    }
    assert report["sources"]["casme2_lv"]["frames"].endswith("rawpic")  # not cropped/


def test_faces_are_cropped_with_one_transform_per_video(built):
    _, records, report = built
    info = json.loads(t.by_id(records)["s15/0101"]["face_alignment"])
    assert info["mode"] == "aligned" and info["frame"] == 1
    assert info["crop_size"] < 56  # the 64 x 56 frame cropped to the face
    no_face = json.loads(t.by_id(records)["s19/0401"]["face_alignment"])
    assert no_face["mode"] == "full frame" and no_face["reason"].startswith("no face found")
    assert report["preparation"]["face_alignment"] == {"aligned": 3, "full frame": 1}
    assert [n["id"] for n in report["notes"]] == ["s19/0401"]
    assert report["preparation"]["frames_stored"] == 40 + 32 + 30 + 20
    assert report["preparation"]["face_backend"] in ("dlib", "haar")


def test_a_header_row_and_swapped_naming_sheets(tmp_path):
    manual = t.copy_dummy_data("casme2_lv", tmp_path)
    path = manual / "CAS(ME)^2code_final.xlsx"
    book = openpyxl.load_workbook(path)
    code = book["CASMEcode_final"]
    code.title = "CASFEcode_final"
    code.insert_rows(1)
    for column, name in enumerate(["Subject", "Video", "Onset", "Apex", "Offset"], 1):
        code.cell(1, column, name)
    book["naming rule1"].title, book["naming rule2"].title = "rule a", "rule b"
    book.save(path)
    _, records, report = t.build("casme2_lv", manual, tmp_path / "data", image_size=16)
    assert t.ids(records) == IDS
    assert report["sources"]["casme2_lv"]["code_sheet"] == "CASFEcode_final"
    assert len(report["sources"]["casme2_lv"]["ignored_rows"]) == 1
    assert report["intervals"]["counts"]["intervals"] == 12


def test_strict_mode_stops_at_the_first_fault(tmp_path):
    # Rows that name no video come first, then each video's intervals, then its frames.
    with pytest.raises(
        me_common.BadClipError, match=r"interval 4/disgust1_1 .*row 11\): subject not in"
    ):
        t.build("casme2_lv", t.dummy_data("casme2_lv"), tmp_path, strict=True)


def test_missing_sheet(tmp_path):
    manual = t.copy_dummy_data("casme2_lv", tmp_path)
    (manual / "CAS(ME)^2code_final.xlsx").unlink()
    with pytest.raises(me_common.SourceNotFoundError, match=r"CAS\(ME\)\^2code_final.xlsx"):
        t.build("casme2_lv", manual, tmp_path / "data")


@pytest.fixture
def reads(monkeypatch):
    """The frame files read, in order (the builders read frames through read_frame
    only); ``reads.fail_in`` names a video folder whose first read raises."""
    seen = []
    real = video_frames.read_frame

    def counting(path, grayscale):
        folder = os.path.basename(os.path.dirname(os.fspath(path)))
        if folder == counting.fail_in:
            raise KeyboardInterrupt(f"interrupted while reading {path}")
        seen.append(folder)
        return real(path, grayscale)

    counting.fail_in = None
    counting.seen = seen
    monkeypatch.setattr(video_frames, "read_frame", counting)
    return counting


def test_a_rebuild_takes_every_video_from_the_cache(tmp_path, reads):
    data = tmp_path / "data"
    builder, records, report = t.build("casme2_lv", t.dummy_data("casme2_lv"), data, image_size=16)
    assert len(reads.seen) >= 40 + 32 + 30 + 20  # every frame, and the probes for a face
    assert report["preparation"]["cache"]["made"] == 4
    shutil.rmtree(builder.data_dir)  # the TFDS output, not the cache beside it
    reads.seen.clear()
    _, again, report = t.build("casme2_lv", t.dummy_data("casme2_lv"), data, image_size=16)
    assert reads.seen == []
    assert report["preparation"]["cache"] == {**report["preparation"]["cache"], "reused": 4}
    for a, b in zip(records, again, strict=True):
        np.testing.assert_array_equal(a["frames"], b["frames"])
        assert a["face_alignment"] == b["face_alignment"]


def test_an_interrupted_build_resumes_where_it_stopped(tmp_path, reads):
    data = tmp_path / "data"
    reads.fail_in = "16_0102eatingworms"  # the third video
    with pytest.raises(KeyboardInterrupt):
        t.build("casme2_lv", t.dummy_data("casme2_lv"), data, image_size=16)
    cache = data / "casme2_lv" / "default_16px" / "video_cache"
    assert sorted(p.name.split(".")[0] for p in cache.iterdir()) == ["s15__0101", "s15__0401"]
    assert not (data / "casme2_lv" / "default_16px" / "1.0.0").exists()
    reads.fail_in, reads.seen[:] = None, []
    _, records, report = t.build("casme2_lv", t.dummy_data("casme2_lv"), data, image_size=16)
    assert sorted(set(reads.seen)) == ["16_0102eatingworms", "19_0401girlcrashing"]
    assert t.ids(records) == IDS
    assert report["preparation"]["cache"]["reused"] == 2
    # A changed frame file makes another key: that video is read again, and only it.
    manual = t.copy_dummy_data("casme2_lv", tmp_path)
    frame = manual / "rawpic" / "s15" / "15_0401girlcrashing" / "img003.jpg"
    frame.write_bytes(frame.read_bytes() + b"\0")  # one byte more after the JPEG's end
    reads.seen.clear()
    t.build("casme2_lv", manual, tmp_path / "other", image_size=16, cache_dir=cache)
    assert sorted(set(reads.seen)) == ["15_0401girlcrashing"]


def test_strict_mode_refuses_a_cached_video_without_a_face(tmp_path, reads):
    """A build that was not strict cached s19/0401 uncropped (no face): a strict build
    from that cache still stops there."""
    manual = t.copy_dummy_data("casme2_lv", tmp_path)
    path = manual / "CAS(ME)^2code_final.xlsx"
    book = openpyxl.load_workbook(path)
    sheet = book["CASMEcode_final"]
    for row in range(sheet.max_row, 0, -1):  # keep the rows of s19/0401 only
        if (sheet.cell(row, 1).value, sheet.cell(row, 2).value) != (3, "anger1_1"):
            sheet.delete_rows(row)
    book.save(path)
    data = tmp_path / "data"
    _, records, report = t.build("casme2_lv", manual, data, image_size=16)
    assert t.ids(records) == ["s19/0401"] and report["preparation"]["cache"]["made"] == 1
    reads.seen.clear()
    with pytest.raises(me_common.BadClipError, match=r"video s19/0401 .*no face found"):
        t.build("casme2_lv", manual, tmp_path / "strict", image_size=16, strict=True,
                cache_dir=data / "casme2_lv" / "default_16px" / "video_cache")  # fmt: skip
    assert reads.seen == []  # it came from the cache
