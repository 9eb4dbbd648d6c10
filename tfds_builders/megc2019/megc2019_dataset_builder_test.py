"""MEGC 2019 composite: the shipped official list, its lookup in the releases (on the
dummy releases and on a generated tree holding all 442 listed clips), and the
sheet-derived ``3class_sheets``."""

import collections
import csv
import hashlib
import re
import shutil

import numpy as np
import pytest

from mmnet_jax.data import prepare
from tfds_builders import make_dummy_data, me_common
from tfds_builders import testing as t
from tfds_builders.megc2019 import megc2019_dataset_builder as megc

# The published file (Facial-Micro-ExpressionGC/MEGC2019, images/combined_3class_gt.csv).
OFFICIAL_SHA256 = "adf1de4a088d4c3b3bd01cc8d061e836264d0e05140266eb15d8dc1050f484a7"
CODES = {"0": "negative", "1": "positive", "2": "surprise"}


def official_rows():
    with open(megc.OFFICIAL_LIST, newline="") as f:
        return [row for row in csv.reader(f) if any(row)]


def record_id(dataset, subject, clip):
    """The record id of a listed clip, written out here apart from the builder's lookup:
    CASME II as listed, SAMM subjects zero-padded to 3 digits, SMIC numbers unpadded."""
    if dataset == "samm":
        return f"samm_{int(subject):03d}/{clip}"
    if dataset == "smic":
        clip = re.sub(r"^s0*(\d+)_", r"s\1_", clip)
        return f"smic_s{int(subject[1:])}/{clip}"
    return f"casme2_{subject}/{clip}"


def test_the_shipped_list_is_the_published_one():
    assert hashlib.sha256(megc.OFFICIAL_LIST.read_bytes()).hexdigest() == OFFICIAL_SHA256
    assert megc.OFFICIAL_LIST_SHA256 == OFFICIAL_SHA256
    rows = official_rows()
    assert len(rows) == 442 and all(len(r) == 4 for r in rows)
    counts = collections.Counter((r[0], CODES[r[3]]) for r in rows)
    assert counts == {
        ("casme2", "negative"): 88,
        ("casme2", "positive"): 32,
        ("casme2", "surprise"): 25,
        ("samm", "negative"): 92,
        ("samm", "positive"): 26,
        ("samm", "surprise"): 15,
        ("smic", "negative"): 70,
        ("smic", "positive"): 51,
        ("smic", "surprise"): 43,
    }
    assert len({(r[0], r[1]) for r in rows}) == 68
    listed = megc.read_clip_list(megc.OFFICIAL_LIST)
    assert [(e.dataset, e.subject, e.clip, e.label) for e in listed] == [
        (r[0], r[1], r[2], CODES[r[3]]) for r in rows
    ]


def test_a_malformed_clip_list_names_its_line(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("casme2,sub01,EP02_01f,1\n,,,\nsamm,6,006_1_2,7\n")
    with pytest.raises(me_common.SheetFormatError, match=r"list.csv line 3: unknown"):
        megc.read_clip_list(path)
    path.write_text("smic,s01,s01_ne_01,0\nsmic,s1,s1_ne_1,0\n")
    with pytest.raises(me_common.SheetFormatError, match=r"line 2: smic s1/s1_ne_1 repeats line 1"):
        megc.read_clip_list(path)


# --- the official list's lookup on the dummy releases --------------------------------

# Lines of the official list naming clips of the dummy releases (copied verbatim), and
# the records they give. The dummy sheet says 006_1_2 is Happiness, 009_2_1 Other and
# 009_3_4 Fear: the labels come from the list, the emotion feature from the sheet.
DUMMY_LISTED = """\
casme2,sub01,EP02_01f,1
casme2,sub02,EP01_11f,0
casme2,sub05,EP04_05,2
casme2,sub11,EP08_01f,0
casme2,sub13,EP03_01,1
casme2,sub16,EP01_08,0
smic,s01,s01_ne_01,0
smic,s01,s01_po_01,1
smic,s02,s02_sur_01,2
samm,6,006_1_2,0
samm,6,006_1_5,0
samm,7,007_3_1,0
samm,9,009_2_1,0
samm,9,009_3_4,2
samm,11,011_2_3,0
"""
DUMMY_RECORDS = {
    "casme2_sub01/EP02_01f": "positive",
    "casme2_sub02/EP01_11f": "negative",
    "casme2_sub05/EP04_05": "surprise",
    "casme2_sub13/EP03_01": "positive",
    "samm_006/006_1_2": "negative",
    "samm_006/006_1_5": "negative",
    "samm_007/007_3_1": "negative",
    "samm_009/009_2_1": "negative",
    "samm_009/009_3_4": "surprise",
    "samm_011/011_2_3": "negative",
    "smic_s1/s1_ne_01": "negative",
    "smic_s1/s1_po_01": "positive",
    "smic_s2/s2_sur_01": "surprise",
}
# casme2 sub12/EP02_05 is in the dummy sheet and in the official list, but its frame
# folder is not in the dummy release.
MISSING_LINE = "casme2,sub12,EP02_05,2\n"


def dummy_list_config(tmp_path, text, name="3class_dummylist"):
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    return megc.composite_config(name, "official lines of the dummy clips", path)


def test_dummy_lines_are_official_lines():
    official = {",".join(r) for r in official_rows()}
    lines = [*DUMMY_LISTED.splitlines(), MISSING_LINE.strip()]
    assert set(lines) <= official
    assert {record_id(*line.split(",")[:3]) for line in DUMMY_LISTED.splitlines()} == {
        *DUMMY_RECORDS,
        "casme2_sub11/EP08_01f",  # listed, skipped: onset not a number
        "casme2_sub16/EP01_08",  # listed, skipped: missing frames
    }


def test_listed_clips_get_the_list_labels_and_the_rest_is_excluded(tmp_path):
    config = dummy_list_config(tmp_path, DUMMY_LISTED)
    manual = t.dummy_data("megc2019")
    builder, records, report = t.build("megc2019", manual, tmp_path, config=config)
    names = builder.info.features["label"].names
    assert {r["id"].decode(): names[int(r["label"])] for r in records} == DUMMY_RECORDS
    emotion = {r["id"].decode(): r["emotion"].decode() for r in records}
    assert emotion["samm_006/006_1_2"] == "Happiness" and emotion["samm_009/009_2_1"] == "Other"
    assert report["counts"] == {
        "clips": 23,
        "written": 13,
        "kept": 9,
        "estimated": 4,
        "skipped": 2,
        "excluded": 8,
    }
    assert t.reported(report, "skipped") == {
        "onset not a number": ["casme2_sub11/EP08_01f"],
        "missing frames": ["casme2_sub16/EP01_08"],
    }
    excluded = t.reported(report, "excluded")
    assert list(excluded) == ["not in the official MEGC 2019 list"]
    assert sorted(excluded["not in the official MEGC 2019 list"]) == [
        "casme2_sub01/EP03_02",
        "casme2_sub04/EP12_01f",
        "casme2_sub05/EP09_05f",
        "casme2_sub09/EP13_02",
        "casme2_sub12/EP02_05",
        "casme2_sub17/EP15_01",
        "samm_007/007_5_2",
        "smic_s2/s2_ne_02",  # an empty clip folder, not listed: excluded, not skipped
    ]
    assert report["sources"]["samm"]["face_crop"] is True
    assert report["sources"]["casme2"]["face_crop"] is False


def test_a_listed_clip_without_its_folder_stops_the_build(tmp_path):
    config = dummy_list_config(tmp_path, DUMMY_LISTED + MISSING_LINE)
    manual = t.dummy_data("megc2019")
    with pytest.raises(megc.ListedClipNotFoundError) as raised:
        t.build("megc2019", manual, tmp_path, config=config)
    assert str(raised.value) == (
        "megc2019/3class_dummylist_32px: listed clip casme2 sub12/EP02_05 (surprise) not "
        f"found: no frames folder {manual / 'casme2' / 'Cropped'}/sub12/EP02_05"
    )


def test_prepare_names_the_first_missing_official_clip_with_status_2(tmp_path, capsys):
    manual = t.dummy_data("megc2019")
    code = prepare.main(
        [
            "--dataset=megc2019/3class",
            f"--manual_dir={manual}",
            f"--data_dir={tmp_path}",
            "--image_size=16",
            "--frames_per_side=2",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    sheet = manual / "casme2" / "CASME2-coding-20190701.xlsx"
    assert code == 2
    assert err == [
        "error: megc2019/3class_16px_2f: listed clip casme2 sub01/EP19_05f (negative) not "
        f"found: no row for it in the sheet {sheet} (426 more listed clips missing)"
    ]


# --- all 442 listed clips, on a generated tree ---------------------------------------

SMIC_FOLDERS = {"ne": "negative", "po": "positive", "sur": "surprise"}
CASME2_EMOTIONS = {"0": "disgust", "1": "happiness", "2": "surprise"}
SAMM_EMOTIONS = {"0": "Anger", "1": "Happiness", "2": "Surprise"}
FRAME = np.full((8, 8), 128, np.uint8)


def write_frames(folder, names):
    for name in names:
        make_dummy_data.write_image(folder / name, FRAME)


def write_full_tree(root, rows):
    """The three releases as users have them, holding every listed clip (3 frames of
    8 px each, onset 1, apex 2, offset 3) plus one clip of each that the list leaves out;
    CASME II with its 2014-05-08 sheet, from which the list was made."""
    casme2 = [["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame"]]
    casme2[0] += [None, "Action Units", "Estimated Emotion"]
    samm = [*make_dummy_data.SAMM_NOTES, make_dummy_data.SAMM_HEADER]
    extra = [("casme2", "sub04", "EP12_01f", "others"), ("samm", "6", "006_1_1", "Other")]
    extra += [("smic", "s7", "s7_ne_01", None)]
    for dataset, subject, clip, code in rows + extra:
        if dataset == "casme2":
            emotion = CASME2_EMOTIONS.get(code, code)
            casme2.append([subject[3:], clip, None, 1, 2, 3, None, "4", emotion])
            names = [f"reg_img{n}.jpg" for n in (1, 2, 3)]
            write_frames(root / "casme2" / "Cropped" / subject / clip, names)
        elif dataset == "samm":
            folder = f"{int(subject):03d}"
            emotion = SAMM_EMOTIONS.get(code, code)
            samm.append([folder, clip, 1, 1, 2, 3, 3, "Micro", "4", emotion, "", ""])
            names = [f"{folder}_{n:05d}.jpg" for n in (1, 2, 3)]
            write_frames(root / "samm" / folder / clip, names)
        else:
            number = int(subject[1:])
            name = re.sub(r"^s0*(\d+)_", r"s\1_", clip)
            kind = name.split("_")[1]
            folder = root / "smic" / "HS" / f"s{number}" / "micro" / SMIC_FOLDERS[kind] / name
            write_frames(folder, [f"image{n:06d}.bmp" for n in (101, 102, 103)])
    make_dummy_data.write_xlsx(root / "casme2" / "CASME2-coding-20140508.xlsx", casme2)
    make_dummy_data.write_xlsx(root / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx", samm)


def test_all_442_listed_clips_are_found_and_labelled_as_listed(tmp_path):
    rows = official_rows()
    write_full_tree(tmp_path / "manual", rows)
    # Strict: clips left out of the list are not faults (SMIC's missing apex neither).
    # The generated frames hold no face, which strict mode refuses while aligning faces:
    # this test is about the list, so SAMM gets the plain Haar box (no face: a note).
    builder, records, report = t.build(
        "megc2019/3class",
        tmp_path / "manual",
        tmp_path / "data",
        8,
        frames_per_side=1,
        strict=True,
        face_align=False,
    )
    names = builder.info.features["label"].names
    got = {r["id"].decode(): names[int(r["label"])] for r in records}
    assert got == {record_id(*r[:3]): CODES[r[3]] for r in rows}
    assert len(got) == 442
    assert len({r["subject"] for r in records}) == 68
    assert report["counts"]["written"] == 442 and report["counts"]["skipped"] == 0
    assert t.reported(report, "excluded") == {
        "not in the official MEGC 2019 list": [
            "casme2_sub04/EP12_01f",
            "samm_006/006_1_1",
            "smic_s7/s7_ne_01",
        ]
    }
    assert builder.data_dir.endswith(f"3class_8px_1f_noalign/{builder.VERSION}")


def test_a_missing_release_clip_is_named_with_the_count_of_the_others(tmp_path):
    rows = official_rows()
    write_full_tree(tmp_path / "manual", rows)
    smic_clip = tmp_path / "manual" / "smic" / "HS" / "s20" / "micro" / "surprise" / "s20_sur_05"
    shutil.rmtree(smic_clip)
    shutil.rmtree(tmp_path / "manual" / "samm" / "037" / "037_3_2")
    with pytest.raises(megc.ListedClipNotFoundError) as raised:
        t.build("megc2019/3class", tmp_path / "manual", tmp_path / "data", image_size=8)
    assert str(raised.value) == (
        "megc2019/3class_8px: listed clip smic s20/s20_sur_05 (surprise) not found: no "
        f"folder {tmp_path / 'manual' / 'smic' / 'HS'}/s20/micro/*/s20_sur_05 "
        "(1 more listed clips missing)"
    )


# --- the sheet-derived composite ------------------------------------------------------


def _check_sheets(builder, records, report):
    assert t.label_counts(builder, records) == {"positive": 4, "surprise": 4, "negative": 7}
    sources = collections.Counter(r["source"].decode() for r in records)
    assert sources == {"casme2": 6, "samm": 6, "smic": 3}
    keys = t.ids(records)
    assert len(set(keys)) == len(keys) == 15
    assert "casme2_sub01/EP02_01f" in keys and "samm_006/006_1_2" in keys
    assert "smic_s1/s1_ne_01" in keys
    assert {r["subject"].decode().split("_")[0] for r in records} == {"casme2", "samm", "smic"}
    assert report["counts"] == {
        "clips": 23,
        "written": 15,
        "kept": 8,
        "estimated": 7,
        "skipped": 4,
        "excluded": 4,
    }
    assert t.reported(report, "excluded")["excluded by class map"] == [
        "casme2_sub01/EP03_02",
        "casme2_sub09/EP13_02",
        "casme2_sub17/EP15_01",
        "samm_009/009_2_1",
    ]
    assert "smic_s2/s2_ne_02" in t.reported(report, "skipped")["missing frames"]
    assert report["sources"]["samm"]["face_crop"] is True
    assert report["sources"]["casme2"]["face_crop"] is False
    # Only SAMM is aligned; its dummy frames hold no face (full frames, noted).
    assert report["sources"]["samm"]["face_align"] is True
    assert report["sources"]["casme2"]["face_align"] is False
    assert report["sources"]["smic"]["face_align"] is False
    assert {r["apex_method"] for r in records if r["source"] == b"smic"} == {b"middle"}
    samm_ids = sorted(k for k in t.ids(records) if k.startswith("samm_"))
    assert sorted(n["id"] for n in report["notes"]) == samm_ids


def test_3class_sheets(tmp_path):
    built = t.build("megc2019", t.dummy_data("megc2019"), tmp_path, config=megc.SHEETS_CONFIG)
    assert built[0].data_dir.endswith(f"3class_sheets_32px/{built[0].VERSION}")
    _check_sheets(*built)


def test_finds_releases_anywhere(tmp_path):
    manual = tmp_path / "manual"
    for name, folder in (("casme2", "CASME II"), ("samm", "SAMM"), ("smic", "SMIC")):
        shutil.copytree(t.dummy_data("megc2019") / name, manual / folder)
    _check_sheets(
        *t.build("megc2019", manual, tmp_path / "data", image_size=8, config=megc.SHEETS_CONFIG)
    )
