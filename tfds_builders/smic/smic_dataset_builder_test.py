"""SMIC-HS builder on its dummy release (labels from folders, no apex annotation)."""

import json

import cv2
import pytest

from tfds_builders import me_common
from tfds_builders import testing as t
from tfds_builders.synthetic_me import generator


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


def test_the_middle_frame_is_the_default_and_the_record_says_so(tmp_path):
    builder, records, report = t.build("smic/3class", t.dummy_data("smic"), tmp_path)
    assert builder.builder_config.apex_method == "middle"
    assert {r["apex_method"] for r in records} == {b"middle"}
    assert {json.loads(r["face_alignment"])["mode"] for r in records} == {"full frame"}
    assert report["preparation"]["apex"] == {"middle": 3}


def synthetic_release(root, clips):
    """A SMIC-layout release of synthetic clips (``tfds_builders.synthetic_me``'s
    generator, which knows each clip's true apex), every frame of onset..offset; returns
    ``{record id: (onset, true apex, offset)}``."""
    truth = {}
    for n, (identity, spec) in enumerate(clips, start=1):
        name = f"s{n}_po_01"
        folder = root / "HS" / f"s{n}" / "micro" / "positive" / name
        folder.mkdir(parents=True)
        numbers = range(spec.onset, spec.offset + 1)
        frames = generator.render_frames(identity, spec, numbers, 48)
        for number, rgb in zip(numbers, frames, strict=True):
            cv2.imwrite(str(folder / f"image{number:06d}.png"), rgb[..., ::-1])
        truth[f"s{n}/{name}"] = (spec.onset, spec.apex, spec.offset)
    return truth


def test_spotted_apex_on_synthetic_clips_whose_apex_is_known(tmp_path):
    # Two clips of seed 1 whose true apex is far from the middle frame (more than 10
    # frames), so the test tells spotting from the middle frame.
    plan = generator.plan_dataset(1, 8, 5)
    clips = [(i, s) for i, specs in plan for s in specs]
    far = [
        c for c in clips if abs(me_common.middle_frame(c[1].onset, c[1].offset) - c[1].apex) > 10
    ]
    truth = synthetic_release(tmp_path / "manual", far[:2])
    builder, records, report = t.build(
        "smic/3class", tmp_path / "manual", tmp_path / "data", 16, apex_method="detrended"
    )
    assert builder.builder_config.name == "3class_16px_detrendedapex"
    for record in records:
        onset, apex, offset = truth[record["id"].decode()]
        assert (record["onset"], record["offset"]) == (onset, offset)
        assert record["apex_method"] == b"detrended" and record["apex_estimated"]
        assert abs(int(record["apex"]) - apex) <= 4, (record["id"], record["apex"], apex)
        assert list(record["apex_frame_numbers"])[0] == record["apex"]
    assert t.reported(report, "estimated") == {me_common.NO_APEX_SPOTTED: sorted(truth)}
    assert report["preparation"]["apex"] == {"detrended": 2}
    assert all("apex spotted (detrended)" in n["note"] for n in report["notes"])


def test_spotting_keeps_the_clip_count_of_the_dummy_release(tmp_path):
    _, records, report = t.build(
        "smic/3class", t.dummy_data("smic"), tmp_path, apex_method="detrended"
    )
    assert t.ids(records) == ["s1/s1_ne_01", "s1/s1_po_01", "s2/s2_sur_01"]
    for record in records:
        assert record["onset"] < record["apex"] <= record["offset"]
        # Spotted, or the middle frame kept with a note saying why.
        assert record["apex_method"] in (b"detrended", b"middle")
    assert report["counts"]["written"] == 3 and report["counts"]["skipped"] == 1
