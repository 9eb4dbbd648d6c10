"""Whole LOSO runs on a tiny synthetic set: outputs, resume after SIGKILL, refusals, NaN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import synthetic
from mmnet_jax import checkpoint, frames
from mmnet_jax import data as data_lib
from mmnet_jax.training import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small enough to compile and train in seconds; enough epochs for a mid-run kill.
OVERRIDES = {
    "data.image_size": 32,
    "data.synthetic_subjects": 3,
    "data.synthetic_clips": 4,
    "train.epochs": 8,
    "train.batch_size": 4,
    "checkpoint.every_epochs": 2,
    "progress_bar": False,
    "final_model": True,
}


def _config(data_dir, **extra):
    config = synthetic.get_config()
    for key, value in {**OVERRIDES, "data.data_dir": str(data_dir), **extra}.items():
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


def _cli(workdir, data_dir, **extra):
    flags = [
        f"--config.{k}={v}" for k, v in {**OVERRIDES, "data.data_dir": data_dir, **extra}.items()
    ]
    return [
        sys.executable,
        "train.py",
        "--config",
        "configs/synthetic.py",
        "--workdir",
        os.path.relpath(workdir, ROOT),  # relative, as users type it; Orbax needs absolute
        *flags,
    ]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    workdir = tmp_path_factory.mktemp("run_a")
    results = trainer.train_and_evaluate(_config(data_dir), workdir)
    return workdir, results


def test_outputs(finished_run):
    workdir, results = finished_run
    on_disk = json.loads((workdir / "results.json").read_text())
    assert on_disk["uf1"] == results["uf1"]
    for key in ("accuracy", "uf1", "uar"):
        assert 0.0 <= on_disk[key] <= 1.0
    assert on_disk["eval_epoch"] == 8 and on_disk["num_subjects"] == 3
    assert on_disk["optimistic"]["label"] == trainer.OPTIMISTIC_LABEL
    assert on_disk["optimistic"]["uf1"] >= 0.0
    assert len(on_disk["curves"]["uf1"]) == 8
    assert sum(f["num_samples"] for f in on_disk["per_fold"].values()) == 12
    resolved = json.loads((workdir / "config.json").read_text())
    assert resolved["run_config"]["train"]["epochs"] == 8
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == (3 + 1) * 8  # 3 folds and the all-subjects model, 8 epochs
    assert len((workdir / "predictions.csv").read_text().splitlines()) == 13
    report = (workdir / "report.md").read_text()
    assert trainer.OPTIMISTIC_LABEL in report
    assert (workdir / "confusion_matrix.png").stat().st_size > 1000
    model, meta = checkpoint.load_from_workdir(workdir)
    assert meta["class_names"] == results["class_names"]
    assert model.config.image_size == 32


def test_fold_model_reproduces_its_test_predictions(finished_run):
    """A fold's model read back from the checkpoint predicts what the run recorded."""
    workdir, _ = finished_run
    resolved = json.loads((workdir / "config.json").read_text())
    subject = resolved["data"]["subjects"][1]
    model, _ = checkpoint.load_from_workdir(workdir, fold=subject)
    clips = data_lib.load(ml_collections.ConfigDict(resolved["run_config"]["data"]))
    sel = clips.subjects == subject
    logits = model(
        frames.normalize(clips.onset_frames[sel, 0]),
        frames.normalize(clips.apex_frames[sel, 0]),
    )
    rows = [r.split(",") for r in (workdir / "predictions.csv").read_text().splitlines()[1:]]
    recorded = [int(r[4]) for r in rows if r[1] == subject]
    assert np.argmax(np.asarray(logits), -1).tolist() == recorded


def test_resume_after_sigkill_equals_uninterrupted(finished_run, data_dir, tmp_path):
    workdir_a, _ = finished_run
    workdir = tmp_path / "run_b"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        _cli(workdir, data_dir),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = workdir / "checkpoints" / "2"
    deadline = time.time() + 600
    while (
        not (first / "commit_success.txt").exists()
        and not (first / "_CHECKPOINT_METADATA").exists()
    ):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (workdir / "results.json").exists(), "the run finished before it was killed"
    resumed = subprocess.run(
        _cli(workdir, data_dir), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from checkpoint" in resumed.stderr
    a = json.loads((workdir_a / "results.json").read_text())
    b = json.loads((workdir / "results.json").read_text())
    assert a == b
    ma, _ = checkpoint.load_from_workdir(workdir_a)
    mb, _ = checkpoint.load_from_workdir(workdir)
    pa, pb = jax.tree.leaves(nnx.state(ma, nnx.Param)), jax.tree.leaves(nnx.state(mb, nnx.Param))
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_refuses_workdir_of_another_config(finished_run, data_dir):
    workdir, _ = finished_run
    with pytest.raises(
        ValueError, match=r"run_config\.train\.learning_rate: 0\.0008 in the workdir, 0\.002 now"
    ):
        trainer.train_and_evaluate(_config(data_dir, **{"train.learning_rate": 2e-3}), workdir)


def test_nan_loss_stops_naming_fold_epoch_step(data_dir, tmp_path):
    config = _config(
        data_dir, **{"train.learning_rate": 1e30, "train.epochs": 2, "final_model": False}
    )
    with pytest.raises(
        trainer.NonFiniteLossError, match=r"fold \d \(test subject s\d+\) at epoch \d, step \d"
    ):
        trainer.train_and_evaluate(config, tmp_path / "nan_run")
