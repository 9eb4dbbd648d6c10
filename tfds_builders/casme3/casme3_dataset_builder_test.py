"""CAS(ME)^3 part A builder on its dummy release (several clips per video)."""

from tfds_builders import me_common
from tfds_builders import testing as t


def test_7class(tmp_path):
    builder, records, report = t.build("casme3/7class", t.dummy_data("casme3"), tmp_path)
    assert t.ids(records) == [
        "spNO.1/a_10",
        "spNO.1/e_3",
        "spNO.1/e_8",
        "spNO.2/b_4",
        "spNO.2/d_2",
        "spNO.2/d_9",
        "spNO.3/f_2",
        "spNO.3/g_2",
    ]
    # 'Others' and 'others' are one class.
    assert t.label_counts(builder, records) == {
        "happy": 1,
        "fear": 1,
        "sad": 1,
        "disgust": 1,
        "anger": 1,
        "surprise": 1,
        "others": 2,
    }
    clips = t.by_id(records)
    assert clips["spNO.1/e_8"]["emotion"] == b"Others" and clips["spNO.1/e_8"]["clip"] == b"e_8"
    assert clips["spNO.2/b_4"]["apex_estimated"] and clips["spNO.2/b_4"]["apex"] == 7
    assert t.reported(report, "estimated") == {me_common.ONSET_EQUALS_APEX: ["spNO.2/b_4"]}
    assert report["counts"]["clips"] == 8 and report["counts"]["skipped"] == 0


def test_4class_and_3class(tmp_path):
    builder, records, _ = t.build("casme3/4class", t.dummy_data("casme3"), tmp_path / "a")
    assert t.label_counts(builder, records) == {
        "positive": 1,
        "surprise": 1,
        "negative": 4,
        "others": 2,
    }
    builder, records, report = t.build("casme3/3class", t.dummy_data("casme3"), tmp_path / "b")
    assert t.label_counts(builder, records) == {"positive": 1, "surprise": 1, "negative": 4}
    assert t.reported(report, "excluded") == {
        me_common.EXCLUDED_BY_CLASS_MAP: ["spNO.1/a_10", "spNO.1/e_8"]
    }


def test_faces_aligned_by_default_and_the_fake_frames_reported(tmp_path):
    builder, records, report = t.build("casme3/3class", t.dummy_data("casme3"), tmp_path)
    assert builder.builder_config.crop_mode == "aligned"
    assert builder.data_dir.endswith(f"3class_32px/{builder.VERSION}")
    # The dummy frames hold no face: kept as full frames, one note per written clip.
    assert report["preparation"]["face_alignment"] == {"full frame": len(records)}
    assert sorted(n["id"] for n in report["notes"]) == t.ids(records)
    assert all(n["note"].startswith("no face found in onset frame") for n in report["notes"])
    _, records, report = t.build(
        "casme3/3class", t.dummy_data("casme3"), tmp_path / "b", face_crop=False
    )
    assert report["notes"] == [] and report["preparation"]["face_alignment"] == {
        "full frame": len(records)
    }
