"""``mmnet convert --model NAME``: a baseline's state dict -> a model directory, a folder
of per-subject state dicts -> a LOSO workdir of fold models; its user errors. Tiny .npz
state dicts drawn by the parity recipe (no torch needed)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from mmnet_jax.evaluation import results
from mmnet_jax.inference import convert, model_dir
from mmnet_jax.models import registry, ststnet, torch_weights
from tests.parity_utils import load_fixture, nhwc, recipe_state_dict, rel_err


def _state_dict(name: str, seed: int) -> dict[str, np.ndarray]:
    manifest, _ = load_fixture(name)
    return {k: v.astype(np.float32) for k, v in recipe_state_dict(manifest, seed).items()}


def _run(capsys, argv) -> tuple[int, str, str]:
    code = convert.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _error_line(capsys, argv) -> str:
    code, out, err = _run(capsys, argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("name", ["ststnet", "off_apexnet"])
def test_a_state_dict_becomes_a_model_directory(capsys, tmp_path, name):
    sd = _state_dict(name, 0)
    weights = tmp_path / f"{name}.npz"
    np.savez(weights, **sd)
    out = tmp_path / "model"
    code, stdout, err = _run(capsys, ["--model", name, "--weights", weights, "--out", out])
    assert code == 0, err
    assert stdout.strip() == f"wrote {out} (3 classes, {name})"
    model, meta = model_dir.load(out)
    assert meta["model"] == name and meta["class_names"] == ["negative", "positive", "surprise"]
    again = registry.get(name).to_torch(model)  # the weights come back
    assert list(again) == list(sd)
    for key, value in sd.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)
    _, arrays = load_fixture(name)
    flow = jnp.asarray(nhwc(arrays["flow"] if name == "ststnet" else np.zeros((2, 3, 28, 28))))
    logits = nnx.jit(lambda m, x: m(x))(model, flow)  # every variable has a value
    if name == "ststnet":  # and it computes what the official model does
        assert rel_err(logits, arrays["eval_logits"]) < 1e-4


SUBJECTS = ["006", "s01", "sub01"]


@pytest.fixture(scope="module")
def loso_workdir(tmp_path_factory):
    """The STSTNet release's layout: a folder of <subject> state dicts (here .npz, drawn
    with a seed per subject), converted."""
    root = tmp_path_factory.mktemp("release")
    folder = root / "STSTNet_Weights"
    folder.mkdir()
    for seed, subject in enumerate(SUBJECTS):
        np.savez(folder / f"{subject}.npz", **_state_dict("ststnet", seed))
    (folder / "notes.txt").write_text("not a state dict")
    out = root / "run"
    argv = ["--model", "ststnet", "--weights", folder, "--out", out]
    code = convert.main([str(a) for a in argv])
    assert code == 0
    return argv, out


def test_a_folder_of_subjects_becomes_a_loso_workdir(capsys, loso_workdir):
    argv, out = loso_workdir
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["data"]["subjects"] == SUBJECTS and resolved["model"] == "ststnet"
    assert resolved["data"]["class_names"] == ["negative", "positive", "surprise"]
    # One checkpoint: every fold finished, fold states stacked in subject order.
    manager = ocp.CheckpointManager(out / "checkpoints", item_names=("state", "progress"))
    step = manager.latest_step()
    restored = manager.restore(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardRestore(), progress=ocp.args.JsonRestore()),
    )
    manager.close()
    progress = results.Progress.from_json(restored["progress"])
    assert progress.groups == [[0, 1, 2]] and progress.epoch == progress.epochs == 1
    saved = {
        jax.tree_util.keystr(k, simple=True, separator="/"): v
        for k, v in jax.tree_util.tree_flatten_with_path(restored["state"])[0]
    }
    names = ststnet.params.official_name_map(ststnet.STSTNetConfig())
    for seed, _ in enumerate(SUBJECTS):
        for key, value in _state_dict("ststnet", seed).items():
            path, layout = names[key]
            part = "rest" if path[-1] in ("mean", "var") else "params"
            stored = saved[f"{part}/{'/'.join(map(str, path))}/value"][seed]
            np.testing.assert_array_equal(stored, torch_weights.LAYOUTS[layout][0](value))
    # A second conversion into the same workdir is refused.
    assert "already holds a workdir" in _error_line(capsys, argv)


# mmnet_jax.training.checkpoints.load_fold_model compares a PRNG key variable (shape ())
# with its stored key data (shape (2,)) and refuses every model with a dropout stream in
# its state (STSTNet, Off-ApexNet, MMNet with drop-path), whoever wrote the checkpoint.
def test_model_dir_loads_the_fold_models(loso_workdir):
    _, out = loso_workdir
    for seed, subject in enumerate(SUBJECTS):
        model, meta = model_dir.load(out, fold=subject)
        assert isinstance(model, ststnet.STSTNet) and meta["model"] == "ststnet"
        back = ststnet.params.to_torch(model)
        for key, value in _state_dict("ststnet", seed).items():
            np.testing.assert_array_equal(back[key], value, err_msg=(subject, key))
    with pytest.raises(ValueError, match="no fold tests subject 'sub02'"):
        model_dir.load(out, fold="sub02")


def test_user_errors(capsys, tmp_path):
    sd = _state_dict("ststnet", 0)
    del sd["bn2.running_var"]
    sd["bn4.weight"] = np.ones(3, np.float32)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **sd)
    line = _error_line(capsys, ["--model", "ststnet", "--weights", bad, "--out", tmp_path / "m"])
    assert line.startswith(f"error: {bad}: state dict does not fit this model")
    assert "missing 1 entry: bn2.running_var" in line and "unexpected 1 entry: bn4.weight" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _error_line(capsys, ["--model", "ststnet", "--weights", empty, "--out", tmp_path / "w"])
    assert line.startswith(f"error: {empty}: no <subject>.pth")
    good = tmp_path / "good.npz"
    np.savez(good, **_state_dict("ststnet", 0))
    argv = ["--model", "ststnet", "--weights", good, "--preset", "3class", "--out", tmp_path / "m"]
    assert _error_line(capsys, argv) == "error: --preset is for --model mmnet, not ststnet"
    argv = ["--model", "nope", "--weights", good, "--out", tmp_path / "m"]
    assert "--model" in _error_line(capsys, argv)
    argv = ["--model", "ststnet", "--weights", good, "--class_names", "a,b", "--out", tmp_path]
    assert _error_line(capsys, argv) == "error: --class_names: 2 names for a 3-way head"
