"""Fold plan properties and the field's metrics against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from mmnet_jax.evaluation import metrics
from mmnet_jax.training import folds


def _subjects(rng, n_subjects=7, n_clips=60):
    return np.asarray([f"s{rng.integers(n_subjects):02d}" for _ in range(n_clips)])


@pytest.mark.parametrize("seed", range(5))
def test_plan_properties(seed):
    rng = np.random.default_rng(seed)
    subj = _subjects(rng)
    plan = folds.make_plan(subj)
    assert list(plan.subjects) == sorted(set(subj))
    # Every clip is tested exactly once; no fold trains on its test subject.
    assert (plan.test_mask.sum(0) == 1).all()
    for i, s in enumerate(plan.subjects):
        assert set(subj[plan.test_mask[i]]) == {s}
        assert s not in set(subj[plan.train_mask[i]])
        assert (plan.train_mask[i] | plan.test_mask[i]).all()
    b = int(rng.integers(4, 33))
    assert plan.steps_per_epoch(b) * b >= plan.max_train


@pytest.mark.parametrize(
    "n_folds,group,devices", [(26, 0, 1), (26, 8, 4), (5, 0, 4), (7, 3, 2), (4, 2, 8)]
)
def test_groups_padded_to_devices(n_folds, group, devices):
    subj = np.repeat([f"s{i}" for i in range(n_folds)], 2)
    plan = folds.make_plan(subj)
    groups = plan.groups(group, devices)
    seen = []
    for g in groups:
        assert len(g) % devices == 0
        assert len(g) == len(groups[0])  # one size: one compiled epoch program
        assert not group or len(g) <= -(-group // devices) * devices
        valid = folds.group_valid(g)
        seen += [f for f, v in zip(g, valid, strict=True) if v]
    assert sorted(seen) == list(range(n_folds))
    assert folds.is_grouping(groups, n_folds, devices)


@pytest.mark.parametrize(
    "n_folds,group,devices,sizes,real",
    [
        (26, 8, 1, [7, 7, 7, 7], [7, 7, 7, 5]),  # balanced: 4 groups as at most 8 gives
        (26, 8, 4, [8, 8, 8, 8], [8, 8, 8, 2]),
        (26, 0, 1, [26], [26]),
        (26, 16, 1, [13, 13], [13, 13]),
        (7, 3, 2, [4, 4], [4, 3]),
        (9, 4, 4, [4, 4, 4], [4, 4, 1]),
    ],
)
def test_last_group_padded_to_the_same_size(n_folds, group, devices, sizes, real):
    groups = folds._groups(n_folds, group, devices)
    assert [len(g) for g in groups] == sizes
    assert [int(folds.group_valid(g).sum()) for g in groups] == real
    assert groups[-1][real[-1] :] == [groups[-1][0]] * (sizes[-1] - real[-1])  # repeats
    assert folds.balanced_group_size(n_folds, group, devices) == sizes[0]
    assert sizes[0] in folds.group_sizes(n_folds, devices)


def test_is_grouping():
    assert folds.is_grouping([[0, 1, 2, 3], [4, 5, 6, 4]], 7, 2)
    assert not folds.is_grouping([[0, 1, 2, 3], [4, 5, 6, 4], [6, 6]], 7, 2)  # 6 twice
    assert folds.is_grouping([[0, 1, 2, 3, 4, 5], [6, 6]], 7, 2)  # older runs' last group
    assert not folds.is_grouping([[0, 1, 2], [3, 4, 5, 6]], 7, 2)  # 3 on 2 devices
    assert not folds.is_grouping([[0, 1, 2, 3], [4, 5, 4, 4]], 7, 2)  # 6 missing
    assert not folds.is_grouping([[0, 1, 2, 3], [4, 5, 6, 7]], 7, 2)  # 7 unknown


def test_plan_refuses_leaks_and_unknown_subjects():
    subj = np.asarray(["a", "a", "b", "c"])
    plan = folds.make_plan(subj)
    leaky = folds.FoldPlan(plan.subjects, plan.train_mask | plan.test_mask, plan.test_mask)
    with pytest.raises(AssertionError, match="trains on its test subject"):
        folds.check_plan(leaky, subj)
    with pytest.raises(ValueError, match="unknown subjects"):
        folds.make_plan(subj, only=["z"])
    with pytest.raises(ValueError, match="at least 2 subjects"):
        folds.make_plan(np.asarray(["a", "a"]))


@pytest.mark.parametrize("seed", range(8))
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 7))
    n = int(rng.integers(5, 80))
    y = rng.integers(0, c, n)
    p = np.where(rng.random(n) < 0.5, y, rng.integers(0, c, n))
    m = metrics.compute(y, p, c)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["uf1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["uar"] == pytest.approx(balanced_accuracy_score(y, p))
    assert np.asarray(m["confusion"]).sum() == n


def test_metrics_per_class():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    m = metrics.compute(y, p, 3, ["a", "b", "c"])
    assert m["per_class"]["b"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    assert m["per_class"]["c"]["recall"] == 0.0
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
