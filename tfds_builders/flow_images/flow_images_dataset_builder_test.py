"""flow_images builder on its dummy release: the STSTNet layout (names ending in a space
before ``.png``, u_train copies), the channel order, bad images, strict mode, prepare."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mmnet_jax.data import prepare
from mmnet_jax.vision import flow
from tfds_builders import make_dummy_data, me_common
from tfds_builders import testing as t
from tfds_builders.flow_images import flow_images_dataset_builder as fi

GOOD = ["006/006_1_2", "006/006_5_9", "s01/s01_ne_01", "s01/s01_po_01", "sub01/EP02_01f",
        "sub01/EP19_05f"]  # fmt: skip


def _build(manual, data_dir, **kwargs):
    builder = tfds.builder("flow_images/3class", data_dir=data_dir, file_format="array_record",
                           **kwargs)  # fmt: skip
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual))
    )
    source = builder.as_data_source()["train"]
    records = sorted((source[i] for i in range(len(source))), key=lambda r: r["id"])
    return builder, records, me_common.read_report(builder)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(t.dummy_data("flow_images"), tmp_path_factory.mktemp("flow_images"))


def test_records(built):
    builder, records, report = built
    assert t.ids(records) == GOOD  # each clip once, from u_test; u_train copies unread
    assert t.label_counts(builder, records) == {"positive": 2, "surprise": 1, "negative": 3}
    by_id = t.by_id(records)
    r = by_id["006/006_1_2"]
    assert (r["subject"], r["clip"], r["source"]) == (b"006", b"006_1_2", b"samm")
    assert r["file"] == b"006/u_test/0/006_006_1_2 .png"
    assert by_id["s01/s01_po_01"]["source"] == b"smic"
    assert by_id["sub01/EP02_01f"]["source"] == b"casme2"
    names = builder.info.features["label"].names
    assert names[by_id["006/006_5_9"]["label"]] == "surprise"  # folder 2
    assert names[by_id["s01/s01_ne_01"]["label"]] == "negative"  # folder 0
    assert names[by_id["sub01/EP02_01f"]["label"]] == "positive"  # folder 1
    feature = builder.info.features["flow"]
    assert feature.shape == (28, 28, 3) and "ALREADY min-max normalised" in feature.doc.desc
    assert builder.info.metadata["flow"]["normalised"] is True
    assert report["preparation"]["flow"]["records"] == 6


def test_flow_channels_are_u_v_strain(built):
    """The dummy images were written from known flows (red u, green v, blue strain):
    the records give them back in (u, v, strain) order, min-max normalised."""
    _, records, _ = built
    by_id = t.by_id(records)
    for index, (subject, clip, _, fault) in enumerate(make_dummy_data.FLOW_IMAGE_CLIPS):
        if fault:
            continue
        record = by_id[f"{subject}/{clip}"]["flow"]
        assert record.dtype == np.float32
        expected = np.rint(flow.minmax(make_dummy_data.flow_image_features(index)))
        assert np.array_equal(record, expected), clip
        # u grows to the right in every dummy flow: its channel rises along x.
        assert record[14, -1, 0] > record[14, 0, 0]


def test_bad_images_are_reported_and_skipped(built):
    _, _, report = built
    assert t.reported(report, "skipped") == {
        fi.UNREADABLE_IMAGE: ["006/006_3_4"],
        fi.WRONG_FORMAT: ["s01/s01_sur_01"],
        fi.WRONG_SIZE: ["sub01/EP01_12"],
    }
    (wrong,) = report["clips"]["skipped"][fi.WRONG_SIZE]
    assert wrong["detail"] == "32x32" and wrong["file"].endswith("sub01_EP01_12 .png")
    assert report["counts"]["written"] == 6 and report["counts"]["skipped"] == 3


def test_strict_stops_at_the_first_bad_image(tmp_path):
    with pytest.raises(me_common.BadClipError, match="006/006_3_4 .*unreadable image"):
        _build(t.dummy_data("flow_images"), tmp_path, strict=True)


def test_no_release_in_manual_dir(tmp_path):
    (tmp_path / "empty" / "other").mkdir(parents=True)
    with pytest.raises(me_common.SourceNotFoundError, match="006_006_1_2 .png"):
        _build(tmp_path / "empty", tmp_path / "data")


def test_names():
    assert fi.clip_name("006", "006_006_1_2 .png") == "006_1_2"
    assert fi.clip_name("sub01", "sub01_EP02_01f.png") == "EP02_01f"
    assert fi.clip_name("x", "other .PNG") == "other"
    assert fi.source_of("sub26") == "casme2" and fi.source_of("s20") == "smic"
    assert fi.source_of("037") == "samm" and fi.source_of("spNO.1") == "unknown"


def test_prepare_builds_it_and_refuses_options(tmp_path, capsys):
    manual = t.dummy_data("flow_images")
    args = ["--dataset=flow_images/3class", f"--manual_dir={manual}", f"--data_dir={tmp_path}"]
    assert prepare.main([*args, "--image_size=32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: --image_size: flow_images stores its images as released and takes no such option"
    ]
    assert prepare.main([*args, "--flow=28"]) == 2
    assert capsys.readouterr().err.startswith("error: --flow: flow_images")
    assert prepare.main([*args, "--strict"]) == prepare.EXIT_BAD_CLIP
    assert "006/006_3_4" in capsys.readouterr().err
    assert prepare.main(args) == 0
    assert "flow_images/3class: 9 clips, 6 written" in capsys.readouterr().out
