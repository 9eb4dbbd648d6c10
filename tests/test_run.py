"""Whole LOSO runs on a tiny synthetic set: outputs, resume after SIGKILL, refusals, NaN."""

from __future__ import annotations

import datetime
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from configs import synthetic
from mmnet_jax import workdir as workdir_files
from mmnet_jax.data import records as data_lib
from mmnet_jax.evaluation import results as results_lib
from mmnet_jax.inference import model_dir
from mmnet_jax.reporting import report
from mmnet_jax.training import checkpoints as run_checkpoints
from mmnet_jax.training import trainer
from mmnet_jax.vision import frames
from tests import trainer_utils as tu

# Whole LOSO runs, several in subprocesses: the slow part of the suite.
pytestmark = pytest.mark.slow
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
    return tu.synthetic_config(data_dir, {**OVERRIDES, **extra})


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
    report.report_workdir(workdir)  # as the train command does after the run
    return workdir, results


def test_outputs(finished_run):
    workdir, results = finished_run
    on_disk = json.loads((workdir / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert on_disk["eval_epoch"] == 8 and on_disk["num_subjects"] == 3
    assert on_disk["optimistic"]["label"] == trainer.OPTIMISTIC_LABEL
    assert len(on_disk["curves"]["uf1"]) == 8
    resolved = json.loads((workdir / "config.json").read_text())
    assert resolved["run_config"]["train"]["epochs"] == 8
    # The headline figures, recomputed independently (scikit-learn) from predictions.csv.
    rows = results_lib.read_predictions_csv((workdir / "predictions.csv").read_text())
    data = data_lib.load(ml_collections.ConfigDict(resolved["run_config"]["data"]))
    assert sorted(r["id"] for r in rows) == sorted(data.ids.tolist())  # each clip once
    label_of = dict(zip(data.ids.tolist(), data.labels.tolist(), strict=True))
    assert all(r["label"] == label_of[r["id"]] for r in rows)
    y = np.asarray([r["label"] for r in rows])
    p = np.asarray([r["prediction"] for r in rows])
    assert on_disk["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
    assert on_disk["uf1"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
    assert on_disk["uar"] == pytest.approx(balanced_accuracy_score(y, p), abs=1e-12)
    for s, m in on_disk["per_fold"].items():
        sel = np.asarray([r["subject"] == s for r in rows])
        assert m["num_samples"] == sel.sum() == (data.subjects == s).sum()
        assert m["accuracy"] == pytest.approx(accuracy_score(y[sel], p[sel]), abs=1e-12)
    # metrics.jsonl: every model and epoch; its last-epoch test accuracies are the
    # predictions' own; the optimistic epochs are each fold's best test accuracy.
    lines = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == (3 + 1) * 8  # 3 folds and the all-subjects model, 8 epochs
    for s, best in on_disk["optimistic"]["best_accuracy_epoch_per_subject"].items():
        accs = [x["test_accuracy"] for x in lines if x["fold"] == s]
        assert len(accs) == 8 and best == int(np.argmax(accs)) + 1
        sel = np.asarray([r["subject"] == s for r in rows])
        assert accs[-1] == pytest.approx(accuracy_score(y[sel], p[sel]), abs=1e-12)
    report = (workdir / "report.md").read_text()
    assert trainer.OPTIMISTIC_LABEL in report
    assert (workdir / "confusion_matrix.png").stat().st_size > 1000
    model, meta = model_dir.load(workdir)
    assert meta["class_names"] == results["class_names"]
    assert model.config.image_size == 32


def test_epoch_predictions_recomputed_by_an_independent_script(finished_run):
    """epoch_predictions.npz: every test clip once, each epoch's prediction and float32
    probabilities; mmnet recompute (NumPy only) recomputes results.json's
    honest, per-fold, curve and optimistic figures from it alone, to 1e-6."""
    workdir, results = finished_run
    with np.load(workdir / workdir_files.EPOCH_PREDICTIONS) as z:  # no pickle needed
        arrays = {k: z[k] for k in z.files}
    n, e, c = 12, 8, len(results["class_names"])
    assert arrays["prediction"].shape == (1, e, n) and arrays["probability"].shape == (1, e, n, c)
    assert arrays["probability"].dtype == np.float32 and arrays["id"].dtype.kind == "U"
    np.testing.assert_allclose(arrays["probability"].sum(-1), 1.0, atol=1e-5)
    # The recorded prediction (the logits' argmax) has the largest probability: softmax
    # is monotonic, exactly so in float32 too (exp of x - max, one shared divisor), though
    # two close logits may round to one probability, so ties are allowed.
    chosen = np.take_along_axis(arrays["probability"], arrays["prediction"][..., None], -1)
    np.testing.assert_array_equal(chosen[..., 0], arrays["probability"].max(-1))
    rows = results_lib.read_predictions_csv((workdir / "predictions.csv").read_text())
    assert arrays["id"].tolist() == [r["id"] for r in rows]
    assert arrays["subject"].tolist() == [r["subject"] for r in rows]
    assert arrays["label"].tolist() == [r["label"] for r in rows]
    assert arrays["prediction"][0, -1].tolist() == [r["prediction"] for r in rows]
    proc = subprocess.run(
        [sys.executable, "-m", "mmnet_jax", "recompute", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("OK: 12 clips, 8 epochs"), proc.stdout


def test_run_info_and_the_all_subjects_steps(finished_run):
    """run_info.json: one compile time per compiled program (the folds' epoch and the
    all-subjects model's), the command, commit and date; the all-subjects model took
    ceil(12 clips / batch 4) = 3 steps per epoch (the folds ceil(8 / 4) = 2)."""
    workdir, _ = finished_run
    info = json.loads((workdir / "run_info.json").read_text())
    assert len(info["compile_seconds"]) == 2
    assert info["fold_groups"] == [[0, 1, 2], [-1]]
    assert datetime.datetime.fromisoformat(info["date"]).utcoffset() == datetime.timedelta(0)
    assert isinstance(info["command"], str) and isinstance(info["commit"], str)
    ckpts = run_checkpoints.RunCheckpoints(workdir, 2)
    try:
        step = ckpts.latest_step()
        assert step == 2 * 8
        raw = ckpts.manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore())
        )["state"]
    finally:
        ckpts.close()
    counts = {
        int(np.asarray(leaf).ravel()[0])
        for path, leaf in jax.tree_util.tree_flatten_with_path(raw["opt_state"])[0]
        if "count" in jax.tree_util.keystr(path)
    }
    assert counts == {8 * 3}


def test_tensorboard_scalars_are_metrics_jsonl_and_results(finished_run):
    """WORKDIR/tensorboard (process 0, tensorboardX): every tag once per epoch; the
    losses and fold accuracies those of metrics.jsonl, the pooled figures results.json's
    curves, the learning rate the official schedule."""
    pytest.importorskip("tensorboard")
    workdir, results = finished_run
    scalars = tu.read_scalars(workdir / "tensorboard")
    subjects = sorted(results["per_fold"])
    figures = ("accuracy", "uf1", "uar")
    assert set(scalars) == {"learning_rate", f"loss/{results_lib.ALL_SUBJECTS_NAME}"} | {
        f"{m}/{s}" for m in ("loss", *figures) for s in subjects
    } | {f"{m}/pooled" for m in figures}
    for tag, points in scalars.items():
        assert [step for step, _ in points] == list(range(1, 9)), tag
    lines = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        value = dict(scalars[f"loss/{line['fold']}"])[line["epoch"]]
        assert value == pytest.approx(line["train_loss"], rel=1e-6), line
        if "test_accuracy" in line:
            value = dict(scalars[f"accuracy/{line['fold']}"])[line["epoch"]]
            assert value == pytest.approx(line["test_accuracy"], rel=1e-6), line
    for m in figures:
        curve = [v for _, v in scalars[f"{m}/pooled"]]
        np.testing.assert_allclose(curve, results["curves"][m], rtol=1e-6)
        assert curve[results["eval_epoch"] - 1] == pytest.approx(results[m], rel=1e-6)
    train = json.loads((workdir / "config.json").read_text())["train_settings"]
    np.testing.assert_allclose(
        [v for _, v in scalars["learning_rate"]],
        [
            train["learning_rate"] * train["lr_decay"] ** min(e, train["lr_decay_epochs"])
            for e in range(8)
        ],
        rtol=1e-6,
    )


def test_fold_model_reproduces_its_test_predictions(finished_run):
    """A fold's model read back from the checkpoint predicts what the run recorded."""
    workdir, _ = finished_run
    resolved = json.loads((workdir / "config.json").read_text())
    subject = resolved["data"]["subjects"][1]
    model, _ = model_dir.load(workdir, fold=subject)
    clips = data_lib.load(ml_collections.ConfigDict(resolved["run_config"]["data"]))
    sel = clips.subjects == subject
    logits = model(
        frames.normalize(clips.onset_frames[sel, 0]),
        frames.normalize(clips.apex_frames[sel, 0]),
    )
    rows = results_lib.read_predictions_csv((workdir / "predictions.csv").read_text())
    recorded = [r["prediction"] for r in rows if r["subject"] == subject]
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
    if importlib.util.find_spec("tensorboard"):
        # TensorBoard: every tag at every epoch once, between the killed run's event file
        # and the resumed run's, at run A's values.
        sa, sb = (tu.read_scalars(w / "tensorboard") for w in (workdir_a, workdir))
        assert set(sa) == set(sb)
        for tag, points in sb.items():
            assert points == [(step, pytest.approx(value)) for step, value in sa[tag]], tag
    # Every epoch's predictions and probabilities too (those before the kill came back
    # from the checkpoint's progress), bit for bit.
    with (
        np.load(workdir_a / workdir_files.EPOCH_PREDICTIONS) as za,
        np.load(workdir / workdir_files.EPOCH_PREDICTIONS) as zb,
    ):
        assert za.files == zb.files
        for name in za.files:
            np.testing.assert_array_equal(za[name], zb[name], err_msg=name)
    ma, _ = model_dir.load(workdir_a)
    mb, _ = model_dir.load(workdir)
    pa, pb = jax.tree.leaves(nnx.state(ma, nnx.Param)), jax.tree.leaves(nnx.state(mb, nnx.Param))
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_rerun_of_a_finished_run_trains_nothing_and_keeps_run_info(finished_run, data_dir, caplog):
    workdir, results = finished_run
    kept = {n: (workdir / n).read_bytes() for n in ("run_info.json", "results.json")}
    with caplog.at_level(logging.INFO):
        again = trainer.train_and_evaluate(_config(data_dir), workdir)
    assert again == results
    assert "compiling" not in caplog.text
    assert "nothing left to train" in caplog.text
    for name, before in kept.items():
        assert (workdir / name).read_bytes() == before, name


def test_refuses_workdir_of_another_config(finished_run, data_dir):
    workdir, _ = finished_run
    with pytest.raises(
        trainer.RunConfigError,
        match=r"run_config\.train\.learning_rate: 0\.0008 in the workdir, 0\.002 now",
    ):
        trainer.train_and_evaluate(_config(data_dir, **{"train.learning_rate": 2e-3}), workdir)


def test_nan_loss_stops_with_one_line(data_dir, tmp_path):
    """The real command: one error line naming fold, epoch and step, status 1."""
    cmd = _cli(
        tmp_path / "nan_run",
        data_dir,
        **{"train.learning_rate": 1e30, "train.epochs": 2, "final_model": False},
    )
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert re.match(
        r"error: loss is (nan|inf) for fold \d \(test subject s\d+\) at epoch \d, step \d; "
        r"stopped without saving\. Last good checkpoint: none$",
        errors[0],
    ), errors[0]


def test_ctrl_c_checkpoints_and_exits_130_without_traceback(data_dir, tmp_path):
    workdir = tmp_path / "interrupted"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        _cli(workdir, data_dir, **{"checkpoint.every_epochs": 0}),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in proc.stderr:  # wait until training is under way
        seen.append(line)
        if "compiling the training epoch" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=600)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1] == "interrupted"
    assert "stopped after epoch 1; run the same command to resume" in err
    assert (workdir / "checkpoints" / "1").exists()  # the epoch it finished was saved


def test_training_learns(data_dir, tmp_path):
    """The synthetic runlocal run (3 folds of 7 subjects, 32 px), trained 6 epochs
    (72 steps; held-out accuracy stays near chance for the first ~60): the training loss
    falls and the pooled held-out accuracy beats chance by a wide margin. Three groups
    of one fold each share one compiled program: run_info records one compile time."""
    config = synthetic.get_config("runlocal")
    config.data.data_dir = str(data_dir)
    config.train.epochs = 6
    config.final_model = False
    config.folds.group_size = 1
    config.progress_bar = False
    config.report = False
    res = trainer.train_and_evaluate(config, tmp_path / "learns")
    loss = res["curves"]["train_loss"]
    assert loss[-1] < 0.5 * loss[0], loss
    assert res["num_samples"] == 3 * 12
    chance = max(res["class_counts"].values()) / sum(res["class_counts"].values())
    # 36 clips: at chance (<= 0.2) the accuracy exceeds chance + 0.25 with probability
    # below 1e-4 (binomial), so a model that learned nothing fails.
    assert res["accuracy"] >= chance + 0.25, (res["accuracy"], chance, res["curves"])
    info = json.loads((tmp_path / "learns" / "run_info.json").read_text())
    assert info["fold_groups"] == [[0], [1], [2]]
    assert len(info["compile_seconds"]) == 1
