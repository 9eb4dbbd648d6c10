"""SAMM builder on its dummy release (notes rows above the header, grayscale frames)."""

import json

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from mmnet_jax.vision import faces
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


def test_no_face_in_the_fake_frames_keeps_them_uncropped_and_reports_it(tmp_path):
    builder, records, report = t.build("samm/5class", t.dummy_data("samm"), tmp_path)
    assert builder.builder_config.crop_mode == "aligned"
    for record in records:
        info = json.loads(record["face_alignment"])
        assert info["mode"] == "full frame" and info["reason"].startswith("no face found")
    assert report["preparation"]["face_align"] is True
    assert report["preparation"]["face_alignment"] == {"full frame": 5}
    assert report["preparation"]["apex"] == {"annotated": 4, "middle": 1}
    assert t.by_id(records)["007/007_5_2"]["apex_method"] == b"middle"  # sheet apex 3000
    assert report["sources"]["samm"]["face_align"] is True


def test_strict_mode_skips_a_clip_without_a_face_and_stops(tmp_path):
    with pytest.raises(me_common.BadClipError, match=r"clip 006/006_1_2 .*: no face found"):
        t.build("samm/5class", t.dummy_data("samm"), tmp_path, strict=True)


def rotate_clockwise(image, degrees):
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_a_real_face_is_aligned_with_one_transform_for_the_whole_clip(tmp_path):
    """A tiny release whose clip 006/006_1_2 shows a real photograph turned 12 degrees
    clockwise (scikit-image's astronaut, public domain), the apex frame with a patch.

    The frames hold the head and shoulders, as a micro-expression frame does: on the
    whole photograph dlib also fires on the suit's mission patch, with a larger box."""
    manual = t.copy_dummy_data("samm", tmp_path)
    photo = np.ascontiguousarray(skdata.astronaut()[0:320, 60:380])
    turned = rotate_clockwise(photo, 12)
    folder = manual / "006" / "006_1_2"
    names = sorted(p.name for p in folder.iterdir())  # 006_05562.jpg .. 006_05567.jpg
    for name in names:
        frame = turned.copy()
        if name == "006_05566.jpg":  # the apex: a bright square below the image-left eye
            frame[190:210, 140:160] = 255
        cv2.imwrite(str(folder / name), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    builder, records, report = t.build("samm/5class", manual, tmp_path / "data", image_size=128)
    clip = t.by_id(records)["006/006_1_2"]
    info = json.loads(clip["face_alignment"])
    assert info["mode"] == "aligned" and info["frame"] == 5562
    upright = faces.locate(photo)
    assert abs(info["roll_degrees"] - upright.roll_degrees - 12) < 3, info
    onset, apex = np.asarray(clip["onset_frames"][0]), np.asarray(clip["apex_frames"][0])
    assert list(clip["apex_frame_numbers"])[0] == 5566
    # The stored face comes back level.
    again = faces.locate(onset)
    assert again is not None and abs(again.roll_degrees) < 3, again
    # One transform: the frames differ where the source frames differ (the patch), and
    # nowhere else (JPEG ringing aside: the 20 px patch, turned, spans up to 28 px).
    diff = np.abs(onset.astype(int) - apex.astype(int)).max(-1)
    assert diff.max() > 50
    ys, xs = np.nonzero(diff > 8)
    assert np.ptp(ys) < 30 and np.ptp(xs) < 30, (np.ptp(ys), np.ptp(xs))
    assert report["preparation"]["face_alignment"] == {"aligned": 1, "full frame": 4}
    assert [n["id"] for n in report["notes"]] == [
        "006/006_1_5", "007/007_3_1", "007/007_5_2", "009/009_2_1"
    ]  # fmt: skip
