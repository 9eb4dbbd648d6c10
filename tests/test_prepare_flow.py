"""`mmnet prepare --flow S`: records with the onset-to-apex flow, in a build of their own,
on the MMEW builder's dummy release (tiny synthetic frames), in process."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from mmnet_jax.data import prepare
from mmnet_jax.vision import flow
from mmnet_jax.vision import frames as frames_lib
from tfds_builders import me_common
from tfds_builders import testing as t

SMALL = ["--image_size=16", "--frames_per_side=2"]
OPTIONS = dict(image_size=16, frames_per_side=2)
FRAMES = "Micro_Expression/happiness/S01-01-001"  # onset 3, apex 6 in the dummy sheet


def _prepare(capsys, manual, data, *extra):
    code = prepare.main(
        ["--dataset=mmew/4class", f"--manual_dir={manual}", f"--data_dir={data}", *SMALL, *extra]
    )
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data = tmp_path_factory.mktemp("flow_build")
    code = prepare.main(
        ["--dataset=mmew/4class", f"--manual_dir={t.dummy_data('mmew')}", f"--data_dir={data}"]
        + [*SMALL, "--flow=8"]
    )
    assert code == 0
    builder = tfds.builder("mmew/4class", data_dir=data, file_format="array_record",
                           flow_size=8, **OPTIONS)  # fmt: skip
    return data, builder


def test_flow_records(built):
    data, builder = built
    assert builder.builder_config.name == "4class_16px_2f_flow8"
    assert builder.is_prepared()
    feature = builder.info.features["flow"]
    assert feature.shape == (8, 8, 3) and feature.np_dtype == np.float32
    assert "raw, not normalised" in feature.doc.desc
    assert builder.info.metadata["flow"]["tvl1"] == flow.DEFAULT_PARAMS.describe()
    source = builder.as_data_source()["train"]
    records = t.by_id([source[i] for i in range(len(source))])
    assert len(records) == 4
    frames_dir = t.dummy_data("mmew") / FRAMES
    record = records["S01/S01-01-001"]
    onset = frames_lib.read_rgb(frames_dir / f"{record['onset']}.jpg")
    apex = frames_lib.read_rgb(frames_dir / f"{record['apex']}.jpg")
    # MMEW is stored as released (no crop): the flow of the full 24 x 20 frames at 8 px.
    expected = flow.features(onset, apex, 8)
    assert record["flow"].dtype == np.float32
    np.testing.assert_allclose(record["flow"], expected, atol=1e-6)
    assert np.abs(record["flow"][..., :2]).max() > 0.1  # the dummy frames' square moves
    report = me_common.read_report(builder)
    stats = report["preparation"]["flow"]
    assert stats["records"] == 4 and stats["size"] == 8 and stats["seconds_per_clip"] > 0
    assert stats["channels"] == ["u", "v", "strain"] and stats["normalised"] is False


def test_a_build_without_flow_is_unchanged(built):
    data, _ = built
    plain = tfds.builder("mmew/4class", data_dir=data, file_format="array_record", **OPTIONS)
    assert plain.builder_config.name == "4class_16px_2f"
    assert "flow" not in plain.info.features
    assert not plain.is_prepared()  # the flow build has a folder of its own
    assert str(plain.version) == "2.0.0"
    assert plain.info.metadata is None


def test_a_clip_without_flow_is_reported_and_skipped(tmp_path, capsys):
    manual = t.copy_dummy_data("mmew", tmp_path)
    # An apex frame of another size: frames resize alike, but onset and apex differ.
    cv2.imwrite(str(manual / FRAMES / "6.jpg"), np.full((30, 30, 3), 128, np.uint8))
    code, _, _ = _prepare(capsys, manual, tmp_path / "data", "--flow=8")
    assert code == 0
    builder = tfds.builder("mmew/4class", data_dir=tmp_path / "data",
                           file_format="array_record", flow_size=8, **OPTIONS)  # fmt: skip
    report = me_common.read_report(builder)
    assert t.reported(report, "skipped") == {me_common.FLOW_FAILED: ["S01/S01-01-001"]}
    (entry,) = report["clips"]["skipped"][me_common.FLOW_FAILED]
    assert "3.jpg -> 6.jpg" in entry["detail"] and "differ in size" in entry["detail"]
    assert report["preparation"]["flow"]["records"] == 3
    # Strict: the build stops at that clip, naming it (exit status 4).
    code, _, err = _prepare(capsys, manual, tmp_path / "strict", "--flow=8", "--strict")
    assert code == prepare.EXIT_BAD_CLIP
    (line,) = [x for x in err if x.startswith("error:")]
    assert "S01/S01-01-001" in line and me_common.FLOW_FAILED in line


def test_flow_without_the_contrib_module_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delattr(cv2, "optflow")
    code, _, err = _prepare(capsys, t.dummy_data("mmew"), tmp_path / "data", "--flow=8")
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: --flow 8: ")
    assert "opencv-contrib-python-headless" in err[0]
    assert not (tmp_path / "data" / "mmew").exists()


def test_flow_configs_have_names_of_their_own():
    from tfds_builders.mmew import mmew_dataset_builder as mmew  # noqa: PLC0415

    base = mmew.Builder.BUILDER_CONFIGS[0]
    assert base.flow_size == 0
    assert me_common.derived_config(base, flow_size=0) is base
    flowing = me_common.derived_config(base, image_size=32, flow_size=28)
    assert flowing.name == "4class_32px_flow28" and flowing.flow_size == 28
    assert "flow 28 px" in str(flowing)
    with pytest.raises(ValueError, match="flow_size must be at least 2"):
        me_common.derived_config(base, flow_size=1)


def test_a_run_config_reads_the_flow_records(built):
    """``config.data.prepared_flow_size`` picks the flow build (records.load), whose flow
    comes into ClipArrays as stored."""
    import ml_collections  # noqa: PLC0415

    from mmnet_jax.data import records  # noqa: PLC0415

    data, builder = built
    cfg = ml_collections.ConfigDict(
        dict(name="mmew", builder_config="4class", data_dir=str(data), image_size=16,
             prepared_image_size=16, frames_per_side=2, prepared_flow_size=8)
    )  # fmt: skip
    arrays = records.load(cfg)
    assert arrays.flow.shape == (4, 8, 8, 3) and arrays.flow.dtype == np.float32
    source = builder.as_data_source()["train"]
    stored = t.by_id([source[i] for i in range(len(source))])
    for i, clip in enumerate(arrays.ids):
        np.testing.assert_array_equal(arrays.flow[i], stored[clip]["flow"])
    cfg.prepared_flow_size = 16  # not prepared: the message names --flow 16
    with pytest.raises(records.DatasetError, match="--flow 16 "):
        records.load(cfg)
