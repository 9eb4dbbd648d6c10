"""Seeds stacked with folds and epochs chosen on validation subjects, on real synthetic
runs (3 subjects x 4 clips, 32 px, 3 epochs; every run has groups of 3 replicas, so all
of them share one compiled epoch program).

- A: ``num_seeds=2`` (seeds 0 and 1, six replicas in two groups of three);
- B: ``seed=1``, one seed;
- C: B with the labels of subject s01 relabelled in the data.

All three select epochs on one validation subject per fold (``eval.select=validation``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmnet_jax import workdir as workdir_files
from mmnet_jax.data import records as data_lib
from mmnet_jax.reporting import report
from mmnet_jax.training import trainer
from tests import trainer_utils as tu

# Three whole training runs: the slow part of the suite.
pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERRIDES = {
    "data.image_size": 32,
    "data.synthetic_subjects": 3,
    "data.synthetic_clips": 4,
    "train.epochs": 3,
    "train.batch_size": 4,
    "checkpoint.every_epochs": 0,
    "progress_bar": False,
    "final_model": False,
    "folds.group_size": 3,
    "eval.select": "validation",
    "eval.validation_subjects": 1,
}
SUBJECTS = ["s01", "s02", "s03"]


def _config(data_dir, **extra):
    return tu.synthetic_config(data_dir, {**OVERRIDES, **extra})


def _npz(workdir):
    with np.load(workdir / workdir_files.EPOCH_PREDICTIONS) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    root = tmp_path_factory.mktemp("seeds")
    a = trainer.train_and_evaluate(_config(data_dir, num_seeds=2), root / "a")
    report.report_workdir(root / "a")  # as the train command does after the run
    b = trainer.train_and_evaluate(_config(data_dir, seed=1, report=False), root / "b")
    load = data_lib.load

    def relabelled(config):
        data = load(config)
        sel = data.subjects == SUBJECTS[0]
        labels = data.labels.copy()
        labels[sel] = (labels[sel] + 1) % len(data.class_names)
        return dataclasses.replace(data, labels=labels)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer.data_lib, "load", relabelled)
        c = trainer.train_and_evaluate(_config(data_dir, seed=1, report=False), root / "c")
    return root, a, b, c


def test_seed_of_a_stacked_run_equals_a_run_with_that_seed(runs):
    root, a, b, _ = runs
    assert a["seeds"] == [0, 1] and a["num_seeds"] == 2 and b["seeds"] == [1]
    one = a["per_seed"]["1"]
    for key in ("accuracy", "uf1", "uar"):
        assert one[key] == b[key], key  # identical, not close
    assert one["per_fold"] == b["per_fold"]
    assert one["selected_epoch_per_subject"] == b["selected_epoch_per_subject"]
    assert one["optimistic"] == b["optimistic"]
    za, zb = _npz(root / "a"), _npz(root / "b")
    assert za["prediction"].shape == (2, 3, 12) and zb["prediction"].shape == (1, 3, 12)
    np.testing.assert_array_equal(za["prediction"][1], zb["prediction"][0])
    np.testing.assert_array_equal(za["probability"][1], zb["probability"][0])
    # ... while the two seeds of A really are different models.
    assert not np.array_equal(za["probability"][0], za["probability"][1])
    # Top level: the mean of the seeds, and their sample standard deviation.
    for key in ("accuracy", "uf1", "uar"):
        values = [a["per_seed"][s][key] for s in ("0", "1")]
        assert a[key] == pytest.approx(np.mean(values), abs=1e-15)
        assert a["std"][key] == pytest.approx(np.std(values, ddof=1), abs=1e-15)
    assert b["std"] == {"accuracy": 0.0, "uf1": 0.0, "uar": 0.0}
    on_disk = json.loads((root / "a" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(a))
    info = json.loads((root / "a" / "run_info.json").read_text())
    assert info["fold_groups"] == [[0, 1, 2], [3, 4, 5]]  # replicas, in groups of 3
    lines = [json.loads(x) for x in (root / "a" / "metrics.jsonl").read_text().splitlines()]
    assert sorted({(x["fold"], x["seed"]) for x in lines}) == [
        (s, sd) for s in SUBJECTS for sd in (0, 1)
    ]


def test_selected_epochs_cover_every_subject_and_recompute(runs):
    """Every test subject has a chosen epoch (each seed); the independent script
    recomputes every figure from epoch_predictions.npz at those epochs."""
    root, a, b, _ = runs
    assert a["selection"]["rule"] == "validation"
    for res in (a, b):
        assert set(res["selected_epoch_per_subject"]) == set(SUBJECTS)
        for one in res["per_seed"].values():
            assert set(one["selected_epoch_per_subject"]) == set(SUBJECTS)
            assert all(1 <= e <= 3 for e in one["selected_epoch_per_subject"].values())
        # A fold's validation subject is one of its training subjects.
        for s, held in res["selection"]["validation_subjects_per_subject"].items():
            assert len(held) == 1 and s not in held
    for name, seeds in (("a", "2 seeds"), ("b", "1 seed")):
        proc = subprocess.run(
            [sys.executable, "-m", "mmnet_jax", "recompute", str(root / name)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.splitlines()[-1].startswith(f"OK: 12 clips, 3 epochs, {seeds}")
    report = (root / "a" / "report.md").read_text()
    assert "eval.select=validation" in report and "seeds_spread.png" in report
    assert (root / "a" / "seeds_spread.png").stat().st_size > 1000
    assert "95% interval" in report


def test_relabelling_a_test_subject_leaves_its_selected_epoch(runs):
    """C is B with s01's labels changed (every one: classes shifted by one). The fold
    testing s01 never trains or validates on s01, so it trains exactly as in B: the same
    predictions after every epoch, the same chosen epoch; its test figures change."""
    root, _, b, c = runs
    s = SUBJECTS[0]
    zb, zc = _npz(root / "b"), _npz(root / "c")
    sel = zb["subject"] == s
    assert (zb["label"][sel] != zc["label"][sel]).all()
    np.testing.assert_array_equal(zb["prediction"][:, :, sel], zc["prediction"][:, :, sel])
    assert c["selected_epoch_per_subject"][s] == b["selected_epoch_per_subject"][s]
    assert c["per_fold"][s] != b["per_fold"][s]


def test_compare_prints_both_runs(runs):
    """The real command on the two-seed run and the seed-1 run: each run's row holds its
    UF1 (mean ± std over seeds); they test the same clips, so a paired row follows."""
    root, a, b, _ = runs
    proc = subprocess.run(
        [sys.executable, "-m", "mmnet_jax", "compare", str(root / "a"), str(root / "b")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    table, paired = proc.stdout.split("Paired comparisons")
    for name, res in (("a", a), ("b", b)):
        (row,) = [x for x in table.splitlines() if x.startswith(f"| {root / name} |")]
        uf1 = row.split("|")[5].strip()
        assert uf1.startswith(f"{res['uf1']:.4f} ± {res['std']['uf1']:.4f} ["), row
    assert f"| {root / 'a'} | {root / 'b'} |" in paired
