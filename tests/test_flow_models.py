"""A flow model through the whole chain, as MMNet goes through it: STSTNet trained LOSO on
the synthetic set's TV-L1 flow (computed when the data is loaded) by the real trainer,
then predict (from frames, and from a field flow image), export, and ``mmnet evaluate``
of its fold models, which must score what training scored at its last epoch."""

from __future__ import annotations

import csv
import json
import pathlib

import cv2
import numpy as np
import pytest
from PIL import Image

from configs import synthetic
from mmnet_jax import commands
from mmnet_jax.inference import export, model_dir
from mmnet_jax.models import flow_input
from mmnet_jax.reporting import report
from mmnet_jax.training import trainer
from mmnet_jax.vision import flow as flow_lib

SUBJECTS, CLIPS, EPOCHS = 3, 4, 3


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ststnet")
    config = synthetic.get_config("model=ststnet")
    config.data.data_dir = str(root / "tfds")
    config.data.synthetic_subjects, config.data.synthetic_clips = SUBJECTS, CLIPS
    config.data.flow_size = 16
    config.train.update(epochs=EPOCHS, batch_size=4)
    config.checkpoint.every_epochs = EPOCHS
    config.progress_bar = False
    workdir = root / "run"
    res = trainer.train_and_evaluate(config, workdir)
    report.report_workdir(workdir)  # as the train command does
    return workdir, res


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_it_trains_loso_on_flow_and_says_so(run):
    workdir, res = run
    resolved = json.loads((workdir / "config.json").read_text())
    assert resolved["model"] == "ststnet" and resolved["model_config"]["image_size"] == 16
    assert resolved["data"]["flow_size"] == 16 and resolved["data"]["flow_frame_size"] == 32
    assert resolved["train_settings"]["optimizer"] == "adam"  # the recipe, shortened
    assert res["num_subjects"] == SUBJECTS and res["epochs"] == EPOCHS
    assert (workdir / "report.md").exists() and (workdir / "results.json").exists()
    meta = json.loads((workdir / "final_model" / "model.json").read_text())
    assert meta["model"] == "ststnet" and meta["flow_frame_size"] == 32
    # The models read the field's channel layout from one place, the vision code's.
    assert (flow_input.U, flow_input.V, flow_input.STRAIN) == tuple(
        flow_lib.FIELD_CHANNELS[c] for c in ("u", "v", "strain")
    )


def test_evaluate_scores_what_training_scored(run, capsys):
    """mmnet evaluate of the run's own fold models on its own data: the same predictions
    (probabilities to float rounding) as the run's last epoch; its results go beside the
    run's (``evaluate_<dataset>``), which stay."""
    workdir, res = run
    before = (workdir / "results.json").read_text()
    assert commands.main(["evaluate", "--workdir", str(workdir)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    out = workdir / "evaluate_synthetic_me"
    assert line.startswith("synthetic_me") and str(out) in line
    assert (workdir / "results.json").read_text() == before
    evaluated = json.loads((out / "results.json").read_text())
    assert "no training, no epoch selection" in evaluated["protocol"]
    assert (out / "report.md").exists() and (out / "predictions.csv").exists()
    with (
        np.load(workdir / "epoch_predictions.npz") as a,
        np.load(out / "epoch_predictions.npz") as b,
    ):
        assert list(a["id"]) == list(b["id"])
        np.testing.assert_allclose(b["probability"][0, 0], a["probability"][0, -1], atol=2e-5)
    # mmnet compare: one table naming each run's model; the two test the same clips.
    assert commands.main(["compare", str(workdir), str(out)]) == 0
    table = capsys.readouterr().out
    runs = table.split("Paired comparisons")[0].splitlines()
    (row,) = [x for x in runs if x.startswith(f"| {workdir} |")]
    assert row.rstrip(" |").endswith("| ststnet")
    assert "Paired comparisons" in table and "Published on the MEGC 2019" not in table
    assert commands.main(["evaluate", "--workdir", str(workdir / "nope")]) == 2
    assert "config.json is missing" in one_line(capsys)


def test_predict_from_frames_and_from_a_flow_image(run, tmp_path, capsys):
    workdir, _ = run
    rng = np.random.default_rng(0)
    onset = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    apex = np.roll(onset, 1, axis=1)
    for name, image in (("onset", onset), ("apex", apex)):
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    argv = ["predict", "--workdir", str(workdir)]
    pair = ["--onset", str(tmp_path / "onset.png"), "--apex", str(tmp_path / "apex.png")]
    assert commands.main([*argv, *pair]) == 0
    (from_frames,) = json.loads(capsys.readouterr().out)
    # The same flow written as the field's image (mmnet flow --png) and read back.
    png = tmp_path / "flow.png"
    assert commands.main(["flow", *pair, "--out", str(tmp_path / "f.npz"), "--png", str(png)]) == 0
    small = cv2.resize(cv2.imread(str(png)), (16, 16), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "small.png"), small)
    capsys.readouterr()
    assert commands.main([*argv, "--flow_image", str(tmp_path / "small.png")]) == 0
    (from_image,) = json.loads(capsys.readouterr().out)
    assert from_image["id"] == "small" and len(from_image["probabilities"]) == 5
    assert from_frames["class_names"] == from_image["class_names"]
    # The wrong size or channel count: one line, exit 2.
    assert commands.main([*argv, "--flow_image", str(png)]) == 2
    assert "32x32; this model reads 16x16 flow images" in one_line(capsys)
    cv2.imwrite(str(tmp_path / "grey.png"), small[..., 0])
    assert commands.main([*argv, "--flow_image", str(tmp_path / "grey.png")]) == 2
    assert "1 channel(s); a flow image has 3" in one_line(capsys)


def test_export_takes_the_flow_image(run, tmp_path):
    workdir, _ = run
    out = tmp_path / "ststnet.export.zip"
    assert export.main(["--workdir", str(workdir), "--out", str(out), "--platforms", "cpu"]) == 0
    loaded = export.load(out)
    assert loaded.input_names == ("flow",) and loaded.metadata["inputs"][0]["dtype"] == "float32"
    model, _ = model_dir.load(workdir)
    x = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_converted_per_subject_weights_are_evaluated_on_flow_images(tmp_path, capsys):
    """The STSTNet release's path on a small folder of its layout: prepare flow_images,
    convert a folder of <subject> state dicts, mmnet evaluate. Each clip's prediction is
    what the official code predicts (cv2.imread float image, the subject's weights),
    named by the release's class folders (0 negative, 1 positive, 2 surprise)."""
    import jax.numpy as jnp  # noqa: PLC0415

    from mmnet_jax.models import ststnet  # noqa: PLC0415
    from tests.parity_utils import load_fixture, recipe_state_dict  # noqa: PLC0415

    release = pathlib.Path(__file__).parents[1] / "tfds_builders/flow_images/dummy_data"
    data_dir = tmp_path / "tfds"
    prepare = ["prepare", "--dataset", "flow_images/3class", "--manual_dir", str(release)]
    assert commands.main([*prepare, "--data_dir", str(data_dir)]) == 0
    manifest, _ = load_fixture("ststnet")
    weights = tmp_path / "STSTNet_Weights"
    weights.mkdir()
    folders = sorted(p for p in (release / "norm_u_v_os").iterdir() if p.is_dir())
    models = {}
    for seed, folder in enumerate(folders):
        sd = {k: v.astype(np.float32) for k, v in recipe_state_dict(manifest, seed).items()}
        np.savez(weights / f"{folder.name}.npz", **sd)
        models[folder.name] = ststnet.params.from_torch(sd, ststnet.STSTNetConfig())
        models[folder.name].eval()
    out = tmp_path / "release"
    convert = ["convert", "--model", "ststnet", "--weights", str(weights), "--out", str(out)]
    assert commands.main(convert) == 0
    evaluate = ["evaluate", "--workdir", str(out), "--dataset", "flow_images/3class"]
    assert commands.main([*evaluate, "--data_dir", str(data_dir)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    official = ("negative", "positive", "surprise")
    assert rows and {r["subject"] for r in rows} == set(models)
    for r in rows:
        (image,) = (release / "norm_u_v_os" / r["subject"] / "u_test").glob(
            f"*/*{r['id'].split('/')[-1]} .png"
        )
        x = cv2.imread(str(image)).astype(np.float32)[None]
        want = official[int(np.asarray(models[r["subject"]](jnp.asarray(x))).argmax())]
        assert r["prediction_name"] == want, r
        assert r["label_name"] == official[int(image.parent.name)], r
