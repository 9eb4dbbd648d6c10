"""Unit tests of the shared builder machinery (the command: tests/test_prepare_cli.py)."""

import cv2
import numpy as np
import openpyxl
import pytest
from etils import epath

from tfds_builders import me_common
from tfds_builders import testing as t
from tfds_builders.casme2 import casme2_dataset_builder as casme2
from tfds_builders.samm import samm_dataset_builder as samm


@pytest.mark.parametrize(
    "cell, number",
    [(46, 46), (46.0, 46), (" 46 ", 46), ("46.0", 46), ("/", None), ("", None), (None, None)]
    + [(float("nan"), None), (12.5, None), ("n/a", None), (-1, -1), (np.int64(7), 7)],
)
def test_frame_number(cell, number):
    assert me_common.frame_number(cell) == number


def test_cell_text_and_column_names():
    assert me_common.cell_text(4.0) == "4" and me_common.cell_text(" R12 ") == "R12"
    assert me_common.cell_text(float("nan")) == ""
    assert me_common.normalize_column("Onset Frame") == "onsetframe"
    assert me_common.normalize_column("Estimated Emotion ") == "estimatedemotion"
    assert me_common.normalize_emotion(" Others") == "others"


def test_subjects_and_middle_frame():
    assert casme2.subject_id("4") == "sub04" and casme2.subject_id("sub4") == "sub04"
    assert me_common.subject_folder_names("01", "sub{:02d}", "{}") == ["sub01", "1", "01"]
    assert me_common.middle_frame(20, 26) == 23
    assert me_common.middle_frame(5, 6) == 6  # never the onset itself


def test_derived_config_names():
    base = casme2.Builder.builder_configs["5class"]
    assert me_common.derived_config(base) is base
    assert me_common.derived_config(base, image_size=224, frames_per_side=5) is base
    derived = me_common.derived_config(base, image_size=112, frames_per_side=3, face_crop=True)
    assert derived.name == "5class_112px_3f_crop"
    assert (derived.image_size, derived.frames_per_side, derived.face_crop) == (112, 3, True)
    assert derived.class_names == base.class_names
    with pytest.raises(ValueError, match="image_size"):
        me_common.derived_config(base, image_size=2)


def test_class_map_per_source():
    config = me_common.make_config(
        "x", {"casme2:disgust": "negative", "surprise": "surprise"}, ["negative", "surprise"], ""
    )
    assert config.label_of("casme2", " Disgust") == "negative"
    assert config.label_of("samm", "Disgust") is None
    assert config.label_of("samm", "Surprise") == "surprise"
    with pytest.raises(ValueError, match="undeclared"):
        me_common.make_config("y", {"a": "b"}, ["c"], "")


def test_folder_index_matches_case_and_spaces(tmp_path):
    (tmp_path / "spNo.1" / "E " / "color").mkdir(parents=True)
    for name in ("3.jpg", "10.jpg", "notes.txt", "2.BMP", "reg_img46.0.jpg"):
        (tmp_path / "spNo.1" / "E " / "color" / name).write_bytes(b"")
    index = me_common.FolderIndex()
    folder = index.resolve(epath.Path(tmp_path), [("spNO.1", "e", "color")])
    assert folder == epath.Path(tmp_path) / "spNo.1" / "E " / "color"
    assert sorted(index.frames(folder)) == [2, 3, 10, 46]
    assert index.resolve(epath.Path(tmp_path), [("spNO.2", "e")]) is None


APEX_OUT = me_common.APEX_OUT_OF_RANGE


@pytest.mark.parametrize(
    "onset, apex, offset, from_disk, expected",
    [
        (2, 4, 6, True, ("kept", 4, 6, [])),
        (2, 2, 6, True, ("estimated", 4, 6, [me_common.ONSET_EQUALS_APEX])),
        (2, "-", 6, True, ("estimated", 4, 6, [me_common.APEX_NOT_A_NUMBER])),
        (2, 9, 6, True, ("estimated", 4, 6, [APEX_OUT])),
        (2, 4, "", True, ("estimated", 4, 8, [me_common.OFFSET_FROM_DISK])),
        (2, 30, 1, True, ("estimated", 5, 8, [me_common.OFFSET_FROM_DISK, APEX_OUT])),
        (2, 4, "", False, ("skipped", me_common.OFFSET_NOT_A_NUMBER)),
        (5, 5, 1, False, ("skipped", me_common.OFFSET_BEFORE_ONSET)),
        (3, 3, 3, True, ("skipped", me_common.ONSET_EQUALS_OFFSET)),
        (1, 4, 6, True, ("skipped", me_common.MISSING_FRAMES)),
        ("x", 4, 6, True, ("skipped", me_common.ONSET_NOT_A_NUMBER)),
    ],
)
def test_check_clip(tmp_path, onset, apex, offset, from_disk, expected):
    for n in range(2, 9):  # frames 2..8 on disk
        (tmp_path / "sub01" / "EP01").mkdir(parents=True, exist_ok=True)
        (tmp_path / "sub01" / "EP01" / f"reg_img{n}.jpg").write_bytes(b"")
    clip = me_common.ClipSource(
        "casme2", "sub01", "EP01", "happiness", "", onset, apex, offset, "row 2",
        (("sub01", "EP01"),), offset_from_disk=from_disk,
    )  # fmt: skip
    config = casme2.Builder.builder_configs["5class"]
    plan, problems = me_common.check_clip(
        clip, config, epath.Path(tmp_path), me_common.FolderIndex()
    )
    if expected[0] == "skipped":
        assert plan is None and [(p.outcome, p.reason) for p in problems] == [expected]
        return
    outcome, want_apex, want_offset, reasons = expected
    assert (plan.apex, plan.offset) == (want_apex, want_offset)
    assert ("estimated" if plan.estimated_reasons else "kept") == outcome
    assert plan.estimated_reasons == reasons
    assert plan.apex_estimated == any(r in me_common.APEX_REASONS for r in reasons)


def test_sheet_without_a_needed_column(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["Subject", "Filename", "OnsetFrame", "OffsetFrame", "Estimated Emotion"])
    book.active.append(["01", "EP02_01f", 1, 5, "happiness"])
    book.save(tmp_path / "CASME2-coding-20190701.xlsx")
    with pytest.raises(me_common.SheetFormatError, match=r"no column for apex \(apexframe"):
        t.build("casme2/5class", tmp_path, tmp_path / "data")


def test_haar_cascade_ships_and_finds_no_face_in_noise():
    assert me_common.frames._face_cascade() is not None
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    assert me_common.detect_face(noise) is None


def test_face_box_from_onset_applied_to_all_frames(tmp_path, monkeypatch):
    folder = tmp_path / "clip"
    folder.mkdir()
    frames = {}
    for n in range(1, 6):
        frames[n] = np.full((40, 60, 3), 10 * n, np.uint8)
        frames[n][5:25, 10:30] = 200 + n  # the "face" region
        cv2.imwrite(str(folder / f"img{n}.png"), frames[n][..., ::-1])
    calls = []

    def fake_detect(rgb):
        calls.append(int(rgb[0, 0, 0]))
        return (10, 5, 30, 25)

    monkeypatch.setattr(me_common.frames, "detect_face", fake_detect)
    config = me_common.derived_config(
        casme2.Builder.builder_configs["5class"], image_size=20, frames_per_side=2, face_crop=True
    )
    clip = me_common.ClipSource("casme2", "sub01", "c", "happiness", "", 1, 5, 5, "row", ())
    plan = me_common.ClipPlan(clip, "happiness", epath.Path(folder), 1, 5, 5, False, [], [])
    record = me_common.load_record(plan, config, me_common.FolderIndex())
    assert calls == [10]  # one detection, on the onset frame
    assert record.onset_numbers == [1, 1] and record.apex_numbers == [5, 5, 5]
    np.testing.assert_array_equal(record.onset_frames[0], np.full((20, 20, 3), 201, np.uint8))
    np.testing.assert_array_equal(record.apex_frames[0], np.full((20, 20, 3), 205, np.uint8))
    assert plan.notes == []


def test_derived_config_face_align_and_apex_method():
    samm_5 = samm.Builder.builder_configs["5class"]
    assert samm_5.crop_mode == "aligned"
    # Alignment off while cropping: the plain Haar box, a name of its own.
    box = me_common.derived_config(samm_5, face_align=False)
    assert (box.name, box.crop_mode) == ("5class_noalign", "box")
    # No crop: no alignment either; the name says "nocrop" only.
    none = me_common.derived_config(samm_5, face_crop=False)
    assert (none.name, none.face_align, none.crop_mode) == ("5class_nocrop", False, "full frame")
    # Aligning a release that is not cropped by default turns the crop on.
    base = casme2.Builder.builder_configs["5class"]
    aligned = me_common.derived_config(base, face_align=True)
    assert (aligned.name, aligned.crop_mode) == ("5class_crop_align", "aligned")
    with pytest.raises(ValueError, match="face_align needs face_crop"):
        me_common.derived_config(base, face_crop=False, face_align=True)
    spotted = me_common.derived_config(base, apex_method="detrended")
    assert (spotted.name, spotted.apex_method) == ("5class_detrendedapex", "detrended")
    assert "missing apex spotted (detrended)" in str(spotted)
    with pytest.raises(ValueError, match="unknown apex_method 'peak'"):
        me_common.derived_config(base, apex_method="peak")
