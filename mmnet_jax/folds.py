"""The leave-one-subject-out (LOSO) fold plan: subjects -> folds -> device-sized groups."""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    """One fold per test subject.

    Attributes:
      subjects: test subject of each real fold, sorted (fold ``i`` holds out ``subjects[i]``).
      train_mask: (num_folds, num_clips) bool, the clips fold ``i`` trains on.
      test_mask: (num_folds, num_clips) bool, the clips fold ``i`` is tested on.
    """

    subjects: tuple[str, ...]
    train_mask: np.ndarray
    test_mask: np.ndarray

    @property
    def num_folds(self) -> int:
        return len(self.subjects)

    @property
    def max_train(self) -> int:
        return int(self.train_mask.sum(1).max())

    @property
    def max_test(self) -> int:
        return int(self.test_mask.sum(1).max())

    def steps_per_epoch(self, batch_size: int) -> int:
        """Batches per epoch, the same for every fold (set by the largest training set).

        Folds with fewer training clips wrap around their own shuffled order to fill it,
        so every fold sees each of its clips at least once per epoch and all folds step
        in lockstep. It depends on the whole plan only, so a fold trained alone takes the
        same steps as it does among the others.
        """
        return math.ceil(self.max_train / batch_size)

    def groups(self, group_size: int, num_devices: int) -> list[list[int]]:
        """Fold indices trained together, each group padded to a multiple of the devices.

        Padding repeats the group's first entry; callers ignore the padded copies via
        ``group_valid``.
        """
        items = list(range(self.num_folds))
        group_size = group_size or len(items)
        group_size = max(num_devices, math.ceil(group_size / num_devices) * num_devices)
        out = []
        for start in range(0, len(items), group_size):
            g = items[start : start + group_size]
            pad = (-len(g)) % num_devices
            out.append(g + [g[0]] * pad)
        return out


def group_valid(group: list[int]) -> np.ndarray:
    """True for the real folds of a padded group, False for the padding copies."""
    seen, valid = set(), []
    for f in group:
        valid.append(f not in seen)
        seen.add(f)
    return np.asarray(valid)


def make_plan(subject_of_clip: np.ndarray, only: list[str] | None = None) -> FoldPlan:
    """LOSO folds over the subjects of ``subject_of_clip`` (one string per clip).

    ``only`` restricts which subjects get a fold (all others still train every fold).
    """
    subject_of_clip = np.asarray(subject_of_clip).astype(str)
    subjects = sorted(set(subject_of_clip.tolist()))
    if len(subjects) < 2:
        raise ValueError(f"LOSO needs at least 2 subjects, the data has {len(subjects)}")
    if only:
        unknown = sorted(set(only) - set(subjects))
        if unknown:
            raise ValueError(f"folds for unknown subjects {unknown}; subjects are {subjects}")
        subjects = [s for s in subjects if s in set(only)]
    test = np.stack([subject_of_clip == s for s in subjects])
    train = ~test
    plan = FoldPlan(tuple(subjects), train, test)
    check_plan(plan, subject_of_clip)
    return plan


def resolve_only(spec: str, subjects) -> list[str] | None:
    """The test subjects a ``folds.only`` value names, given the data's subjects.

    ``""``: every subject (None); ``"first:N"``: the first N subjects in sorted order
    (``runlocal``'s few-fold run on any dataset); otherwise comma-separated subject names.

    Raises:
      ValueError: a malformed ``first:N``.
    """
    spec = str(spec).strip()
    if not spec:
        return None
    if spec.startswith("first:"):
        count = spec.removeprefix("first:")
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"folds.only={spec!r}: want first:N with N >= 1")
        return sorted(set(np.asarray(subjects).astype(str).tolist()))[: int(count)]
    return [s for s in spec.split(",") if s]


def check_plan(plan: FoldPlan, subject_of_clip: np.ndarray) -> None:
    """The LOSO invariants: a fold never trains on its test subject; tests are disjoint."""
    for i, s in enumerate(plan.subjects):
        trained_on = set(np.asarray(subject_of_clip)[plan.train_mask[i]].tolist())
        assert s not in trained_on, f"fold {i} trains on its test subject {s}"
        assert plan.test_mask[i].any(), f"fold {i} ({s}) has no test clips"
        assert not (plan.train_mask[i] & plan.test_mask[i]).any(), f"fold {i} overlaps"
    assert (plan.test_mask.sum(0) <= 1).all(), "a clip is tested in two folds"
