"""MEGC 2019 composite on its dummy releases (casme2/, samm/, smic/ folders)."""

import collections
import shutil

from tfds_builders import testing as t


def _check(builder, records, report):
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


def test_3class(tmp_path):
    _check(*t.build("megc2019/3class", t.dummy_data("megc2019"), tmp_path))


def test_finds_releases_anywhere(tmp_path):
    manual = tmp_path / "manual"
    for name, folder in (("casme2", "CASME II"), ("samm", "SAMM"), ("smic", "SMIC")):
        shutil.copytree(t.dummy_data("megc2019") / name, manual / folder)
    _check(*t.build("megc2019/3class", manual, tmp_path / "data", image_size=8))
