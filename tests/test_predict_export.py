"""Prediction, export and explanation commands on a tiny random MMNet (32 px)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from flax import nnx

from mmnet_jax.inference import explain, export, inputs, model_dir, predict
from mmnet_jax.models import MMNet, MMNetConfig
from mmnet_jax.training import checkpoints
from mmnet_jax.vision import frames

SIZE = 32
CONFIG = MMNetConfig(
    num_classes=3,
    image_size=SIZE,
    stem_width=8,
    widths=(8, 8, 16, 16),
    pc_embed_dim=16,
    pc_num_heads=2,
    pc_depth=1,
)
CLASSES = ["negative", "positive", "surprise"]
REPO = Path(__file__).resolve().parents[1]


def random_model(config: MMNetConfig, seed: int = 0) -> MMNet:
    """An MMNet with random weights and BatchNorm statistics, built without running the
    initialisers (each would compile on its own: slow on CPU)."""
    model = nnx.eval_shape(lambda: MMNet(config, rngs=nnx.Rngs(0)))
    state = nnx.state(model)
    rng = np.random.default_rng(seed)

    def fill(path, x):
        name = str(path[-1])
        if "var" in name:
            value = rng.uniform(0.5, 1.5, x.shape)
        elif "scale" in name:
            value = rng.uniform(0.8, 1.2, x.shape)
        else:
            value = rng.normal(0.0, 0.3, x.shape)
        return value.astype(x.dtype)

    values = jax.tree_util.tree_map_with_path(fill, nnx.to_pure_dict(state))
    nnx.replace_by_pure_dict(state, values)
    nnx.update(model, state)
    model.eval()
    return model


def write_image(path: Path, image: np.ndarray) -> Path:
    """RGB (or gray / RGBA) uint8 -> file, via OpenCV's BGR order."""
    if image.ndim == 3 and image.shape[-1] == 3:
        image = image[..., ::-1]
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(image))
    return path


# One jitted function for all references, always called with batch 1: one compile.
_reference = nnx.jit(lambda m, o, a: m(frames.normalize(o), frames.normalize(a)))


def reference_logits(model: MMNet, onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """The model itself on uint8 frames (B, S, S, 3), normalised by mmnet_jax.vision.frames."""
    rows = [_reference(model, onset[i : i + 1], apex[i : i + 1]) for i in range(len(onset))]
    return np.concatenate([np.asarray(r) for r in rows])


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    model = random_model(CONFIG)
    model_path = root / "model"
    checkpoints.save_model_dir(model_path, model, class_names=CLASSES, source="random test model")
    workdir = root / "workdir"
    checkpoints.save_model_dir(workdir / "final_model", model, class_names=CLASSES, source="test")
    rng = np.random.default_rng(1)
    images = root / "images"
    images.mkdir()
    onset = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    apex = np.clip(onset.astype(int) + rng.integers(-20, 21, onset.shape), 0, 255).astype(np.uint8)
    clip = root / "clip"
    clip.mkdir()
    for n in (44, 45, 46, 59, 60):
        frame = onset if n == 46 else apex if n == 59 else rng.integers(0, 256, onset.shape)
        write_image(clip / f"reg_img{n}.png", np.uint8(frame))
    return {
        "root": root,
        "model": model,
        "model_dir": model_path,
        "workdir": workdir,
        "onset": write_image(images / "onset.png", onset),
        "apex": write_image(images / "apex.png", apex),
        "onset_array": onset,
        "apex_array": apex,
        "big": write_image(images / "big.png", rng.integers(0, 256, (48, 40, 3), np.uint8)),
        "gray": write_image(images / "gray.png", rng.integers(0, 256, (SIZE, SIZE), np.uint8)),
        "rgba": write_image(images / "rgba.png", rng.integers(0, 256, (SIZE, SIZE, 4), np.uint8)),
        "clip": clip,
    }


def run(capsys, main, argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------
# Prediction


def test_predict_pair_json(assets, capsys):
    argv = ["--workdir", assets["workdir"], "--onset", assets["onset"], "--apex", assets["apex"]]
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["class_names"] == CLASSES
    assert abs(sum(rec["probabilities"]) - 1.0) < 1e-9
    assert rec["predicted_index"] == int(np.argmax(rec["probabilities"]))
    assert rec["predicted_class"] == CLASSES[rec["predicted_index"]]
    assert rec["onset"] == str(assets["onset"]) and rec["id"] == "onset-apex"
    want = reference_logits(
        assets["model"], assets["onset_array"][None], assets["apex_array"][None]
    )
    np.testing.assert_allclose(rec["logits"], want[0], rtol=1e-5, atol=1e-6)


def test_predict_model_dir_and_conversions(assets, capsys):
    argv = ["--model_dir", assets["model_dir"], "--onset", assets["gray"], "--apex", assets["big"]]
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    assert "grayscale image, converted to RGB" in err
    assert "40x48 frame resized to the model's 32x32 (not square: stretched)" in err
    (rec,) = json.loads(out)
    assert abs(sum(rec["probabilities"]) - 1.0) < 1e-9


def test_predict_pairs_library(assets):
    model, meta = model_dir.load(assets["model_dir"])
    notes = []
    onset = np.stack([assets["onset_array"]] * 3)
    apex = [
        assets["apex_array"],
        assets["apex"],
        np.dstack([assets["apex_array"], onset[0, ..., :1]]),
    ]
    recs = predict.predict_pairs(model, meta, onset, apex, batch_size=1, warn=notes.append)
    assert len(recs) == 3 and any("RGBA" in n for n in notes)
    want = reference_logits(assets["model"], onset, np.stack([assets["apex_array"]] * 3))
    np.testing.assert_allclose([r["logits"] for r in recs], want, rtol=1e-5, atol=1e-6)


def test_batched_pads_the_last_chunk():
    shapes = []

    def fn(a, b):
        shapes.append(a.shape)
        return {"sum": a + b}

    x = np.arange(7.0)
    parts = predict.batched(fn, [x, 10 * x], batch_size=3)
    assert shapes == [(3,)] * 3  # one shape for every chunk
    np.testing.assert_array_equal(np.concatenate([p["sum"] for p in parts]), 11 * x)


def test_rgba_file_note(assets, capsys):
    argv = ["--workdir", assets["workdir"], "--onset", assets["rgba"], "--apex", assets["apex"]]
    code, _, err = run(capsys, predict.main, argv)
    assert code == 0 and "RGBA image, alpha channel dropped" in err


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("reg_img46.jpg", 46),
        ("006_05562.jpg", 5562),
        ("46.jpg", 46),
        ("img046.bmp", 46),
        ("EP02_01f-12a.png", 12),
        ("onset.png", None),
    ],
)
def test_frame_number(name, number):
    assert frames.frame_number(name) == number


def test_predict_clip_dir(assets, capsys):
    argv = [
        "--workdir", assets["workdir"], "--clip_dir", assets["clip"],
        "--onset_frame", 46, "--apex_frame", 59,
    ]  # fmt: skip
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["onset"].endswith("reg_img46.png") and rec["apex"].endswith("reg_img59.png")
    assert rec["id"] == "clip" and rec["onset_frame"] == 46
    want = reference_logits(
        assets["model"], assets["onset_array"][None], assets["apex_array"][None]
    )
    np.testing.assert_allclose(rec["logits"], want[0], rtol=1e-5, atol=1e-6)


def test_predict_csv(assets, capsys, tmp_path):
    images = assets["onset"].parent
    table = tmp_path / "pairs.csv"
    table.write_text(
        f"id,onset,apex\na,{images / 'onset.png'},{images / 'apex.png'}\n"
        f",{images / 'gray.png'},{images / 'big.png'}\n"
        f"c,{images / 'apex.png'},{images / 'onset.png'}\n"
    )
    argv = ["--workdir", assets["workdir"], "--csv", table, "--batch_size", 1]
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    recs = json.loads(out)
    assert [r["id"] for r in recs] == ["a", "row3", "c"]
    for r in recs:
        assert abs(sum(r["probabilities"]) - 1.0) < 1e-9
    # Relative paths and clip folders, through the same reader.
    rel = tmp_path / "clips.csv"
    os.symlink(assets["clip"], tmp_path / "clipdir")
    rel.write_text("clip_dir,onset_frame,apex_frame\nclipdir,46,59\n")
    (pair,) = inputs.read_pairs_csv(rel)
    assert pair.onset == tmp_path / "clipdir" / "reg_img46.png" and pair.id == "row2"


# ---------------------------------------------------------------------------------------
# Export


@pytest.fixture(scope="module")
def exported_file(assets):
    path = assets["root"] / "model.mmnetx"
    model, meta = model_dir.load(assets["model_dir"])
    export.export_model(model, meta, path, source={"model_dir": str(assets["model_dir"])})
    return path


def test_export_round_trip(assets, exported_file):
    loaded = export.load(exported_file)
    assert loaded.class_names == CLASSES and loaded.image_size == SIZE
    assert set(loaded.platforms) == {"cpu", "cuda", "tpu"}
    meta = loaded.metadata
    assert meta["inputs"][0]["shape"] == ["batch", SIZE, SIZE, 3]
    assert meta["inputs"][0]["dtype"] == "uint8" and meta["preprocess"]["applied_inside"]
    assert meta["model"] == "mmnet" and meta["model_config"]["widths"] == list(CONFIG.widths)
    assert meta["jax_version"] == jax.__version__
    assert [str(a) for a in loaded.exported.in_avals] == [f"uint8[batch,{SIZE},{SIZE},3]"] * 2
    rng = np.random.default_rng(5)
    for batch in (1, 3):  # one program, two batch sizes: the batch dimension is symbolic
        onset = rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)
        apex = rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)
        got = np.asarray(loaded(onset, apex))
        want = reference_logits(assets["model"], onset, apex)
        assert got.shape == (batch, 3)
        rel = np.abs(got - want).max() / np.abs(want).max()
        assert rel < 1e-5, rel
    with pytest.raises(TypeError, match="uint8"):
        loaded(onset.astype(np.float32), apex)
    with pytest.raises(ValueError, match=r"\(batch, 32, 32, 3\)"):
        loaded(onset[:, :16], apex[:, :16])


def test_export_float_input(assets, tmp_path):
    model, meta = model_dir.load(assets["model_dir"])
    path = tmp_path / "float.mmnetx"
    export.export_model(model, meta, path, input_dtype="float32", platforms=("cpu",))
    loaded = export.load(path)
    onset, apex = assets["onset_array"][None], assets["apex_array"][None]
    got = np.asarray(loaded(frames.normalize(onset), frames.normalize(apex)))
    want = reference_logits(assets["model"], onset, apex)
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-5


def test_export_needs_only_jax_and_commands_need_no_tfds(assets, exported_file):
    """In a fresh interpreter: the artifact loads and runs with Flax, Orbax and the model
    code blocked; then the commands' modules import with TFDS blocked."""
    script = textwrap.dedent(
        f"""
        import sys
        blocked = ("flax", "orbax", "absl", "mmnet_jax.models", "mmnet_jax.inference.model_dir")
        for name in blocked + ("tensorflow_datasets", "tfds_builders"):
            sys.modules[name] = None
        import numpy as np
        from mmnet_jax.inference import export
        m = export.load({str(exported_file)!r})
        x = np.load({str(assets["root"] / "x.npy")!r})
        np.save({str(assets["root"] / "y.npy")!r}, np.asarray(m(x[0], x[1])))
        for name in blocked:
            del sys.modules[name]
        import mmnet_jax.inference.predict, mmnet_jax.inference.explain
        import mmnet_jax.inference.export, mmnet_jax.inference.convert
        """
    )
    x = np.stack([np.stack([assets["onset_array"]] * 3), np.stack([assets["apex_array"]] * 3)])
    np.save(assets["root"] / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = np.load(assets["root"] / "y.npy")
    want = reference_logits(assets["model"], x[0], x[1])
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-5


def test_export_cli(assets, capsys, tmp_path):
    out_file = tmp_path / "cli.mmnetx"
    argv = ["--workdir", assets["workdir"], "--out", out_file, "--platforms", "cpu"]
    code, out, err = run(capsys, export.main, argv)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["check"]["max_rel_diff"] < 1e-5 and summary["platforms"] == ["cpu"]
    assert export.read_metadata(out_file)["source"]["workdir"] == str(assets["workdir"])
    # The README's other export flags, spelled as documented.
    argv = ["--model_dir", assets["model_dir"], "--out", out_file, "--input", "float32"]
    code, out, err = run(capsys, export.main, [*argv, "--platforms", "cpu,cuda", "--no_check"])
    assert code == 0, err
    summary = json.loads(out)
    assert "check" not in summary and summary["platforms"] == ["cpu", "cuda"]
    assert export.load(out_file).input_dtype == "float32"


# ---------------------------------------------------------------------------------------
# Explanation


def test_explain_writes_pngs(assets, capsys, tmp_path):
    out_dir = tmp_path / "explain"
    argv = [
        "--workdir", assets["workdir"], "--onset", assets["big"], "--apex", assets["apex"],
        "--out", out_dir, "--id", "sub01/EP01",
    ]  # fmt: skip
    code, out, err = run(capsys, explain.main, argv)
    assert code == 0, err
    paths = [Path(p) for p in out.split()]
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["sub01_EP01_explain.png", "sub01_EP01_motion.png"]
        + [f"sub01_EP01_stage{k}.png" for k in range(1, 5)]
    )
    for p in paths:
        assert p.parent == out_dir and p.stat().st_size > 0
        image = cv2.imread(str(p))
        assert image is not None
        if "stage" in p.name or "motion" in p.name:
            assert image.shape[:2] == (48, 40)  # the onset frame's own size


def test_attention_maps_shapes(assets):
    model, meta = model_dir.load(assets["model_dir"])
    onset, apex = assets["onset_array"][None], assets["apex_array"][None]
    result = explain.attention_maps(model, onset, apex)
    assert [a.shape for a in result["attention"]] == [(1, 16, 16), (1, 8, 8), (1, 4, 4), (1, 2, 2)]
    assert all(0 <= a.min() and a.max() <= 1 for a in result["attention"])
    np.testing.assert_allclose(result["logits"], reference_logits(model, onset, apex), rtol=1e-5)
    want = frames.normalize(apex) - frames.normalize(onset)
    np.testing.assert_allclose(result["motion"], want, rtol=0, atol=1e-6)
    same = explain.attention_maps(model, onset, onset)["motion"]
    assert not same.any()  # equal frames: no motion at all, not rounding noise


# ---------------------------------------------------------------------------------------
# Errors: a message naming the path or field, exit status 2, no traceback


def _error(capsys, main, argv) -> str:
    code, out, err = run(capsys, main, argv)
    assert code == 2, (code, out, err)
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_error_missing_workdir(assets, capsys, tmp_path):
    err = _error(
        capsys,
        predict.main,
        ["--workdir", tmp_path / "nope", "--onset", tmp_path / "a.jpg", "--apex", "b.jpg"],
    )  # the model's location is checked first
    assert f"workdir not found: {tmp_path / 'nope'}" in err


def test_error_no_final_model(assets, capsys, tmp_path):
    pair = ["--onset", assets["onset"], "--apex", assets["apex"]]
    err = _error(capsys, predict.main, ["--workdir", tmp_path, *pair])
    assert f"{tmp_path} is neither a model directory" in err and "config.json is missing" in err
    # A finished run without an all-subjects model: how to get one.
    (tmp_path / "config.json").write_text(json.dumps({"run_config": {"final_model": False}}))
    (tmp_path / "results.json").write_text("{}")
    err = _error(capsys, predict.main, ["--workdir", tmp_path, *pair])
    assert "has no final model" in err and "the run trained the LOSO folds only" in err
    assert "--config.final_model=True" in err and "--fold SUBJECT" in err
    err = _error(capsys, export.main, ["--workdir", tmp_path, "--out", tmp_path / "x.zip"])
    assert "--config.final_model=True" in err


def test_error_run_that_did_not_finish(assets, capsys, tmp_path):
    """A run stopped on a NaN loss has config.json but no results.json or final model:
    the advice is to fix and rerun, not to train with final_model=True."""
    (tmp_path / "config.json").write_text(json.dumps({"run_config": {"final_model": True}}))
    argv = ["--workdir", tmp_path, "--onset", assets["onset"], "--apex", assets["apex"]]
    err = _error(capsys, predict.main, argv)
    assert f"{tmp_path} has no final model" in err
    assert "its run did not finish" in err and "NaN" in err and "rerun" in err
    assert "--config.final_model=True" not in err


def test_error_not_a_model_dir(assets, capsys, tmp_path):
    argv = ["--model_dir", tmp_path, "--onset", assets["onset"], "--apex", assets["apex"]]
    err = _error(capsys, predict.main, argv)
    assert f"{tmp_path / 'model.json'} is missing" in err


def test_error_incompatible_checkpoint(assets, capsys, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    os.symlink(assets["model_dir"] / "state", bad / "state")
    meta = json.loads((assets["model_dir"] / "model.json").read_text())
    meta["model_config"]["num_classes"] = 4  # the stored head is 3 wide
    meta["class_names"] = ["a", "b", "c", "d"]
    (bad / "model.json").write_text(json.dumps(meta))
    argv = ["--model_dir", bad, "--onset", assets["onset"], "--apex", assets["apex"]]
    err = _error(capsys, predict.main, argv)
    assert f"cannot load the model from {bad}" in err and "model.json" in err


def test_error_images(assets, capsys, tmp_path):
    base = ["--workdir", assets["workdir"]]
    err = _error(capsys, predict.main, [*base, "--onset", tmp_path / "x.jpg", "--apex", "y.jpg"])
    assert f"onset image file not found: {tmp_path / 'x.jpg'}" in err
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    err = _error(capsys, predict.main, [*base, "--onset", junk, "--apex", assets["apex"]])
    assert f"cannot decode image file {junk}" in err
    err = _error(capsys, predict.main, [*base, "--onset", assets["onset"]])
    assert "--onset and --apex go together" in err
    err = _error(
        capsys, predict.main, [*base, "--onset", assets["onset"], "--csv", tmp_path / "p.csv"]
    )
    assert "one way" in err
    with pytest.raises(frames.FrameError, match=r"shape \(4, 4, 2\)"):
        frames.as_rgb_uint8(np.zeros((4, 4, 2), np.uint8), "frame 0")


def test_error_clip_and_csv(assets, capsys, tmp_path):
    base = ["--workdir", assets["workdir"]]
    argv = [*base, "--clip_dir", assets["clip"], "--onset_frame", 46, "--apex_frame", 99]
    err = _error(capsys, predict.main, argv)
    assert f"no frame numbered 99 in {assets['clip']}" in err and "44..60" in err
    argv = [*base, "--clip_dir", tmp_path / "none", "--onset_frame", 1, "--apex_frame", 2]
    assert f"clip folder not found: {tmp_path / 'none'}" in _error(capsys, predict.main, argv)
    table = tmp_path / "pairs.csv"
    table.write_text("first,second\na.jpg,b.jpg\n")
    err = _error(capsys, predict.main, [*base, "--csv", table])
    assert str(table) in err and "onset,apex" in err
    table.write_text("onset,apex\na.jpg,\n")
    err = _error(capsys, predict.main, [*base, "--csv", table])
    assert "line 2: no value in column 'apex'" in err
    err = _error(capsys, explain.main, [*base, "--csv", tmp_path / "no.csv", "--out", tmp_path])
    assert f"CSV file not found: {tmp_path / 'no.csv'}" in err


def test_fold_errors_are_clean(assets, capsys, tmp_path):
    pair = ["--onset", assets["onset"], "--apex", assets["apex"]]
    err = _error(capsys, predict.main, ["--workdir", assets["workdir"], "--fold", "sub99", *pair])
    assert f"{assets['workdir']} is not a training workdir" in err and "config.json" in err
    argv = ["--model_dir", assets["model_dir"], "--fold", "sub01", *pair]
    assert "--fold selects a fold" in _error(capsys, predict.main, argv)
    argv = ["--workdir", assets["model_dir"], "--fold", "sub01", *pair]
    assert "is a model directory, not a training workdir" in _error(capsys, predict.main, argv)


def test_model_directory_as_workdir(assets, capsys):
    argv = ["--workdir", assets["model_dir"], "--onset", assets["onset"], "--apex", assets["apex"]]
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    assert json.loads(out)[0]["class_names"] == CLASSES


def test_note_when_onset_and_apex_differ(assets, capsys):
    """Frames of different size or colour mode read as motion: predict says so."""
    argv = ["--workdir", assets["workdir"], "--onset", assets["onset"], "--apex", assets["big"]]
    code, _, err = run(capsys, predict.main, argv)
    assert code == 0, err
    want = "note: pair onset-big: the onset frame is 32x32 RGB but the apex frame is 40x48 RGB"
    assert want in err
    argv = ["--workdir", assets["workdir"], "--onset", assets["gray"], "--apex", assets["apex"]]
    code, _, err = run(capsys, predict.main, argv)
    assert code == 0, err
    assert "the onset frame is 32x32 L but the apex frame is 32x32 RGB" in err
    argv = ["--workdir", assets["workdir"], "--onset", assets["onset"], "--apex", assets["apex"]]
    code, _, err = run(capsys, predict.main, argv)
    assert code == 0 and "note:" not in err  # a matching pair: silent


def test_preprocess_other_than_frames_is_refused(assets, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    os.symlink(assets["model_dir"] / "state", bad / "state")
    meta = json.loads((assets["model_dir"] / "model.json").read_text())
    meta["preprocess"]["mean"] = [0.5, 0.5, 0.5]
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"preprocess mean \[0.5, 0.5, 0.5\]"):
        model_dir.load(bad)


def test_damaged_export_is_refused(exported_file, tmp_path):
    """The zip's CRC-32 is the export file's integrity check: one flipped byte in the
    program is refused with a message naming the file and the member."""
    data = bytearray(exported_file.read_bytes())
    with zipfile.ZipFile(exported_file) as z:
        info = z.getinfo(export.EXPORTED_NAME)
    # Stored uncompressed: the member's bytes follow its local header.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.file_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{damaged}: exported.bin is damaged \(Bad CRC-32"):
        export.load(damaged)
    assert export.read_metadata(damaged)["format"] == export.FORMAT  # metadata is intact


def test_explain_stages_share_one_colour_scale():
    a = np.linspace(0.2, 0.8, 16, dtype=np.float32).reshape(4, 4)
    maps = [a, a / 2]
    scale = explain.shared_scale(maps)
    assert scale == (pytest.approx(0.1), pytest.approx(0.8))
    frame = np.zeros((4, 4, 3), np.uint8)
    first, second = (explain.overlay(frame, m, scale) for m in maps)
    # On a per-map stretch both maps would look the same; on one scale the weaker is bluer.
    assert not np.array_equal(first, second)
    assert second[..., 2].mean() > first[..., 2].mean()
    ends = explain.colour(np.array([0.1, 0.8]), scale)
    np.testing.assert_array_equal(ends, explain.colour(np.array([0.0, 1.0]), (0.0, 1.0)))
