"""Epoch selection on validation subjects, seeds in results.json, the bootstrap: results
level (no training), with hand-made progress records."""

import json

import numpy as np
import pytest

from mmnet_jax.evaluation import metrics, results
from mmnet_jax.evaluation.clips import ClipTable
from mmnet_jax.reporting import recompute as recompute_from_npz
from mmnet_jax.training import folds

NAMES = ["k0", "k1", "k2"]


def test_validation_epoch_by_hand():
    y = np.array([0, 0, 1, 2])
    preds = np.array(
        [
            [0, 0, 0, 0],  # UF1 = mean(2*2/(4+2), 0/(0+1), 0/(0+1)) = 2/9
            [0, 0, 1, 2],  # all right: 1
            [0, 1, 1, 2],  # mean(2/3, 2/3, 1) = 7/9
            [0, 0, 1, 2],  # 1 again: ties go to the later epoch
        ]
    )
    assert metrics.validation_epoch(y, preds, 3) == (4, 1.0)
    assert metrics.validation_epoch(y, preds[:3], 3) == (2, 1.0)
    assert metrics.validation_epoch(y, preds[:1], 3)[1] == pytest.approx(2 / 9)


def test_replicas_validation_subjects_depend_on_seed_and_fold_only():
    subjects = np.repeat([f"s{i}" for i in range(6)], 3)
    plan = folds.make_plan(subjects)
    two = folds.make_replicas(plan, subjects, seed=4, num_seeds=2, validation_subjects=2)
    one = folds.make_replicas(plan, subjects, seed=5, num_seeds=1, validation_subjects=2)
    assert two.num_replicas == 12 and two.seeds == (4, 5)
    for f, s in enumerate(plan.subjects):
        r = two.replica(1, f)
        assert (two.seed(r), two.fold(r)) == (5, f)
        # Seed 5 of the stacked replicas holds out what a seed-5 run holds out.
        assert two.validation_subjects[r] == one.validation_subjects[f]
        np.testing.assert_array_equal(two.train_mask[r], one.train_mask[f])
        assert s not in two.validation_subjects[r] and len(two.validation_subjects[r]) == 2
        # Evaluated: the test clips first, then the validation clips.
        ev = two.eval_clips(r)
        assert set(subjects[ev[:3]]) == {s}
        assert set(subjects[ev[3:]]) == set(two.validation_subjects[r])
        assert not two.train_mask[r][ev].any()
    # Another seed draws other subjects for some fold (6 subjects: 10 pairs per fold).
    assert any(
        two.validation_subjects[two.replica(0, f)] != two.validation_subjects[two.replica(1, f)]
        for f in range(plan.num_folds)
    )
    groups = two.groups(5, 2)
    assert [len(g) for g in groups] == [6, 6]
    assert sorted(r for g in groups for r, v in zip(g, folds.group_valid(g), strict=True) if v) == (
        list(range(12))
    )
    with pytest.raises(ValueError, match="leave no training subject"):
        folds.make_replicas(plan, subjects, seed=0, validation_subjects=5)


def _run(num_seeds=2, validation=1, epochs=4, seed=0, labels=None, data_seed=0):
    """A made-up finished run: (replicas, labels, progress) with random predictions."""
    rng = np.random.default_rng(data_seed)
    subjects = np.repeat(["a", "b", "c", "d"], [3, 4, 5, 4])
    if labels is None:
        labels = rng.integers(0, 3, len(subjects))
    plan = folds.make_plan(subjects)
    reps = folds.make_replicas(plan, subjects, seed, num_seeds, validation)
    progress = results.Progress(groups=reps.groups(0, 1), epochs=epochs)
    for e in range(epochs):
        for r in range(reps.num_replicas):
            name = results.record_name(plan.subjects[reps.fold(r)], reps.seed_index(r))
            progress.record(
                name,
                e,
                1.0,
                1.0,
                test_preds=rng.integers(0, 3, len(reps.test_clips(r))),
                test_probs=rng.dirichlet(np.ones(3), len(reps.test_clips(r))),
                val_preds=rng.integers(0, 3, len(reps.validation_clips(r))) if validation else None,
            )
    return reps, np.asarray(labels), subjects, progress


def _table(labels, ids=None):
    """The clip table of the made-up runs (one source, NAMES)."""
    n = len(labels)
    return ClipTable(
        ids=np.asarray([f"clip{i}" for i in range(n)]) if ids is None else ids,
        subjects=np.asarray(["?"] * n),
        sources=np.asarray(["x"] * n),
        labels=labels,
        class_names=NAMES,
        dataset="made_up",
    )


def _summary(reps, labels, subjects, progress, epochs=4):
    return results.summarize(
        progress,
        reps.plan,
        _table(labels),
        eval_epoch=epochs,
        epochs=epochs,
        seed=reps.seeds[0],
        replicas=reps,
    )


def test_selected_epochs_come_from_validation_predictions():
    reps, labels, subjects, progress = _run()
    out = _summary(reps, labels, subjects, progress)
    assert out["selection"]["rule"] == "validation" and out["num_seeds"] == 2
    for k, sd in enumerate(reps.seeds):
        chosen = out["per_seed"][str(sd)]["selected_epoch_per_subject"]
        assert set(chosen) == set(reps.plan.subjects)
        for f, s in enumerate(reps.plan.subjects):
            r = reps.replica(k, f)
            val = progress.folds[results.record_name(s, k)].val_preds
            want, _ = metrics.validation_epoch(labels[reps.validation_clips(r)], val, 3)
            assert chosen[s] == want
    assert out["selected_epoch_per_subject"] == out["per_seed"]["0"]["selected_epoch_per_subject"]
    # The chosen epochs are not all the last one, so the figures below test the choice.
    assert set(out["selected_epoch_per_subject"].values()) != {4}
    # Each seed's UF1 is that of its folds' test predictions at their chosen epochs.
    for k, sd in enumerate(reps.seeds):
        chosen = out["per_seed"][str(sd)]["selected_epoch_per_subject"]
        y = np.concatenate([labels[reps.test_clips(f)] for f in range(4)])
        p = np.concatenate(
            [
                progress.folds[results.record_name(s, k)].test_preds[chosen[s] - 1]
                for s in reps.plan.subjects
            ]
        )
        assert out["per_seed"][str(sd)]["uf1"] == metrics.compute(y, p, 3)["uf1"]
    uf1s = [out["per_seed"][str(sd)]["uf1"] for sd in reps.seeds]
    assert out["uf1"] == pytest.approx(np.mean(uf1s), abs=1e-15)
    assert out["std"]["uf1"] == pytest.approx(np.std(uf1s, ddof=1), abs=1e-15)
    assert out["ci95"]["uf1"][0] <= out["ci95"]["uf1"][1]


def test_permuting_a_test_subjects_labels_leaves_its_selected_epoch():
    """Fold f's chosen epoch never reads subject f's labels: relabelling them (a cyclic
    permutation of the classes, every label changes) leaves it unchanged, for every
    fold and seed, while a rule that reads test labels (the optimistic best-F1 epoch)
    does change for some of them: the check could fail."""
    reps, labels, subjects, progress = _run(epochs=6)
    base = _summary(reps, labels, subjects, progress, epochs=6)
    moved = 0
    for s in reps.plan.subjects:
        permuted = labels.copy()
        permuted[subjects == s] = (labels[subjects == s] + 1) % 3
        out = _summary(reps, permuted, subjects, progress, epochs=6)
        for sd in map(str, reps.seeds):
            assert (
                out["per_seed"][sd]["selected_epoch_per_subject"][s]
                == base["per_seed"][sd]["selected_epoch_per_subject"][s]
            )
            opt, opt0 = out["per_seed"][sd]["optimistic"], base["per_seed"][sd]["optimistic"]
            moved += opt["best_f1_epoch_per_subject"][s] != opt0["best_f1_epoch_per_subject"][s]
    assert moved > 0


def test_one_seed_last_rule_keeps_the_old_results(tmp_path):
    """No replicas given (the old call): one seed, the last rule, the old keys and values,
    plus per_seed, std = 0, ci95, selection and selected epochs."""
    reps, labels, subjects, progress = _run(num_seeds=1, validation=0)
    old = results.summarize(
        progress, reps.plan, _table(labels),
        eval_epoch=3, epochs=4, seed=0,
        replicas=folds.Replicas.one_seed(reps.plan, 0),
    )  # fmt: skip
    assert old["protocol"].endswith(
        "at epoch 3 of 4 (pre-declared by eval.epoch; no selection on test data)"
    )
    assert old["per_seed"]["0"]["uf1"] == old["uf1"] and old["std"]["uf1"] == 0.0
    assert old["per_seed"]["0"]["per_fold"] == old["per_fold"]
    assert old["selected_epoch_per_subject"] == {s: 3 for s in reps.plan.subjects}
    assert old["selection"]["rule"] == "last" and "seeds" not in old["optimistic"]


def _write_workdir(wd, summary, arrays):
    wd.mkdir()
    (wd / "results.json").write_text(json.dumps(summary))
    (wd / "epoch_predictions.npz").write_bytes(results.npz_bytes(arrays))


def test_recompute_script_reads_the_selected_epochs(tmp_path, capsys):
    """mmnet recompute on a two-seed validation run: every figure agrees;
    with one selected epoch moved it does not (it reads them)."""
    reps, labels, subjects, progress = _run(epochs=5)
    out = _summary(reps, labels, subjects, progress, epochs=5)
    ids = np.asarray([f"clip{i}" for i in range(len(labels))])
    arrays = results.epoch_predictions(progress, reps.plan, _table(labels, ids), 5, num_seeds=2)
    assert arrays["prediction"].shape == (2, 5, len(labels))
    _write_workdir(tmp_path / "good", json.loads(json.dumps(out)), arrays)
    assert recompute_from_npz.main([str(tmp_path / "good")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("OK: 16 clips, 5 epochs, 2 seeds")
    bad = json.loads(json.dumps(out))
    s = reps.plan.subjects[0]
    e = bad["per_seed"]["1"]["selected_epoch_per_subject"][s]
    bad["per_seed"]["1"]["selected_epoch_per_subject"][s] = e % 5 + 1
    _write_workdir(tmp_path / "moved", bad, arrays)
    # Seed 1's figures at the moved epoch differ (the predictions there differ).
    assert recompute_from_npz.main([str(tmp_path / "moved")]) == 5
    assert "MISMATCH" in capsys.readouterr().out


def test_bootstrap_by_hand():
    """Two subjects, one seed: each resample is {a,a}, {a,b} or {b,b}; the interval's
    ends are among those three UF1s."""
    a = metrics.confusion([0, 1], [0, 1], 2)  # perfect
    b = metrics.confusion([0, 1], [1, 0], 2)  # all wrong
    out = metrics.bootstrap_subjects(np.stack([a, b])[None], resamples=200, seed=1)
    assert out["uf1"] == [0.0, 1.0] and out["resamples"] == 200 and out["seed"] == 1
    paired = metrics.paired_bootstrap(np.stack([a, a])[None], np.stack([b, b])[None], 50)
    assert paired["uf1_difference"] == 1.0 and paired["ci95"] == [1.0, 1.0]


def test_workdirs_from_before_seeds_still_resume():
    """A config.json written before num_seeds and eval.select existed behaves as one
    seed, the last rule: it matches today's defaults, and only those."""
    from configs import default  # noqa: PLC0415
    from mmnet_jax.training import trainer  # noqa: PLC0415

    new = {"run_config": default.get_config().to_dict()}
    old = json.loads(json.dumps(new))
    del old["run_config"]["num_seeds"]
    del old["run_config"]["eval"]["select"], old["run_config"]["eval"]["validation_subjects"]
    assert trainer.config_differences(old, new) == []
    new["run_config"]["num_seeds"] = 2
    new["run_config"]["eval"]["select"] = "validation"
    assert trainer.config_differences(old, new) == [
        "run_config.eval.select: 'last' in the workdir, 'validation' now",
        "run_config.num_seeds: 1 in the workdir, 2 now",
    ]
