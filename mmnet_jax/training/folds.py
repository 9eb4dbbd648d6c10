"""The leave-one-subject-out (LOSO) fold plan: subjects -> folds -> (seed, fold) replicas
-> device-sized groups."""

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

    def steps_per_epoch(self, batch_size: int) -> int:
        """Batches per epoch, the same for every fold (set by the largest training set).

        Folds with fewer training clips wrap around their own shuffled order to fill it,
        so every fold sees each of its clips at least once per epoch and all folds step
        in lockstep. It depends on the whole plan only, so a fold trained alone takes the
        same steps as it does among the others.
        """
        return math.ceil(self.max_train / batch_size)

    def groups(self, group_size: int, num_devices: int) -> list[list[int]]:
        """Fold indices trained together: groups of at most ``group_size`` (0: all), all
        of one size, a multiple of the devices (see :func:`balanced_group_size`).

        Padding repeats the group's first entry; callers ignore the padded copies via
        ``group_valid``.
        """
        return _groups(self.num_folds, group_size, num_devices)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def balanced_group_size(count: int, group_size: int, num_devices: int) -> int:
    """The size of every group when ``count`` items train in groups of at most
    ``group_size`` (0: all; rounded up to a multiple of ``num_devices``) on
    ``num_devices`` devices.

    The fewest groups that ``group_size`` allows, made as even as the devices let:
    ``ceil(count / groups)`` rounded up to the devices. So 26 folds at most 8 per group
    take 4 groups of 7 on one device (7, 7, 7, 5 padded to 7), of 8 on four. One size
    means one compiled epoch program for all groups.
    """
    most = max(num_devices, _round_up(group_size or count, num_devices))
    num_groups = -(-count // most)
    return _round_up(-(-count // num_groups), num_devices)


def padded(group: list[int], size: int) -> list[int]:
    """``group`` filled up to ``size`` with copies of its first entry (``group_valid``
    marks them as padding)."""
    return list(group) + [group[0]] * (size - len(group))


def _groups(count: int, group_size: int, num_devices: int) -> list[list[int]]:
    size = balanced_group_size(count, group_size, num_devices)
    items = list(range(count))
    return [padded(items[i : i + size], size) for i in range(0, count, size)]


def group_sizes(count: int, num_devices: int) -> list[int]:
    """Every size :func:`balanced_group_size` gives for ``count`` items on
    ``num_devices`` devices, largest first (the choices a fold group size has)."""
    sizes = {balanced_group_size(count, m, num_devices) for m in range(1, count + 1)}
    return sorted(sizes, reverse=True)


def is_grouping(groups: list[list[int]], count: int, num_devices: int) -> bool:
    """Whether ``groups`` trains each of ``count`` items exactly once, in groups that are
    multiples of ``num_devices``, padded by repeats (as :func:`_groups` makes them, or
    older runs did: of any sizes)."""
    real = []
    for g in groups:
        if not g or len(g) % num_devices or not all(0 <= f < count for f in g):
            return False
        real += [f for f, v in zip(g, group_valid(g), strict=True) if v]
    return sorted(real) == list(range(count))


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


@dataclasses.dataclass(frozen=True)
class Replicas:
    """The models a run trains: one per (seed, fold), stacked on the trainer's fold axis.

    Replica ``r`` trains fold ``r % F`` (F = ``plan.num_folds``) with seed
    ``seeds[r // F]``, so with one seed replica ``r`` is fold ``r`` and a run's fold groups
    read as before. Its keys derive from that seed and fold index only (never from ``r``
    or its group), so seed ``s`` of a stacked run trains exactly as a run with seed ``s``.

    With validation subjects (``eval.select="validation"``), each replica holds out some
    of its fold's training subjects (``validation_mask``), trains on the rest and is
    evaluated on them every epoch; they never include the fold's test subject.

    Attributes:
      plan: the LOSO plan.
      seeds: the run's seeds, first to last (``seed, seed+1, ...``).
      validation_mask: (R, N) bool, each replica's validation clips (all False without
        validation subjects).
      validation_subjects: each replica's validation subjects (sorted; empty without).
    """

    plan: FoldPlan
    seeds: tuple[int, ...]
    validation_mask: np.ndarray
    validation_subjects: tuple[tuple[str, ...], ...]

    @classmethod
    def one_seed(cls, plan: FoldPlan, seed: int) -> Replicas:
        """One replica per fold of ``plan``, trained with ``seed``, no validation subjects."""
        n = plan.train_mask.shape[1]
        return cls(plan, (int(seed),), np.zeros((plan.num_folds, n), bool), ((),) * plan.num_folds)

    @property
    def num_replicas(self) -> int:
        return len(self.seeds) * self.plan.num_folds

    @property
    def has_validation(self) -> bool:
        return any(self.validation_subjects)

    def fold(self, r: int) -> int:
        """The plan index of replica ``r``'s fold."""
        return r % self.plan.num_folds

    def seed_index(self, r: int) -> int:
        """Which of ``seeds`` replica ``r`` trains with."""
        return r // self.plan.num_folds

    def seed(self, r: int) -> int:
        return self.seeds[self.seed_index(r)]

    def replica(self, seed_index: int, fold: int) -> int:
        """Inverse of (``seed_index``, ``fold``)."""
        return seed_index * self.plan.num_folds + fold

    @property
    def train_mask(self) -> np.ndarray:
        """(R, N) bool: the fold's training clips less the replica's validation clips."""
        return np.tile(self.plan.train_mask, (len(self.seeds), 1)) & ~self.validation_mask

    def test_clips(self, r: int) -> np.ndarray:
        """Clip indices of replica ``r``'s test subject, in clip order."""
        return np.flatnonzero(self.plan.test_mask[self.fold(r)])

    def validation_clips(self, r: int) -> np.ndarray:
        """Clip indices of replica ``r``'s validation subjects, in clip order."""
        return np.flatnonzero(self.validation_mask[r])

    def eval_clips(self, r: int) -> np.ndarray:
        """The clips replica ``r`` is evaluated on every epoch: its test clips, then its
        validation clips."""
        return np.concatenate([self.test_clips(r), self.validation_clips(r)])

    @property
    def max_eval(self) -> int:
        return max(len(self.eval_clips(r)) for r in range(self.num_replicas))

    def groups(self, group_size: int, num_devices: int) -> list[list[int]]:
        """Replica indices trained together, as :meth:`FoldPlan.groups` (``group_size``
        counts replicas; 0: all of them)."""
        return _groups(self.num_replicas, group_size, num_devices)


def validation_subjects_of(
    plan: FoldPlan, subject_of_clip: np.ndarray, seed: int, fold: int, count: int
) -> tuple[str, ...]:
    """The ``count`` validation subjects of fold ``fold`` (plan index) trained with
    ``seed``: drawn without replacement from the fold's training subjects (sorted) by
    NumPy's ``default_rng`` seeded with ``(seed mod 2**64, fold)``, so they depend on the
    seed and fold only. Returned sorted.

    Raises:
      ValueError: fewer than ``count + 1`` training subjects (none would be left to
        train on).
    """
    subject_of_clip = np.asarray(subject_of_clip).astype(str)
    candidates = sorted(set(subject_of_clip[plan.train_mask[fold]].tolist()))
    if count + 1 > len(candidates):
        raise ValueError(
            f"{count} validation subject(s) leave no training subject: fold "
            f"{plan.subjects[fold]} has {len(candidates)} training subject(s)"
        )
    rng = np.random.default_rng([int(seed) % 2**64, int(fold)])
    chosen = rng.choice(len(candidates), size=count, replace=False)
    return tuple(sorted(candidates[int(i)] for i in chosen))


def make_replicas(
    plan: FoldPlan,
    subject_of_clip: np.ndarray,
    seed: int,
    num_seeds: int = 1,
    validation_subjects: int = 0,
) -> Replicas:
    """The (seed, fold) replicas of ``plan`` for seeds ``seed .. seed+num_seeds-1``, each
    holding out ``validation_subjects`` of its training subjects (0: none).

    Raises:
      ValueError: ``num_seeds < 1``, ``validation_subjects < 0``, or too many validation
        subjects for the data (see :func:`validation_subjects_of`).
    """
    if num_seeds < 1:
        raise ValueError(f"num_seeds={num_seeds}: want 1 or more")
    if validation_subjects < 0:
        raise ValueError(f"validation_subjects={validation_subjects}: want 0 or more")
    subject_of_clip = np.asarray(subject_of_clip).astype(str)
    seeds = tuple(int(seed) + i for i in range(num_seeds))
    mask = np.zeros((num_seeds * plan.num_folds, len(subject_of_clip)), bool)
    chosen = []
    for si, s in enumerate(seeds):
        for f in range(plan.num_folds):
            names = ()
            if validation_subjects:
                names = validation_subjects_of(plan, subject_of_clip, s, f, validation_subjects)
            mask[si * plan.num_folds + f] = np.isin(subject_of_clip, names)
            chosen.append(names)
    replicas = Replicas(plan, seeds, mask, tuple(chosen))
    check_replicas(replicas, subject_of_clip)
    return replicas


def check_replicas(replicas: Replicas, subject_of_clip: np.ndarray) -> None:
    """A replica never trains or validates on its test subject, nor trains on its
    validation subjects, and has clips to train on."""
    subject_of_clip = np.asarray(subject_of_clip).astype(str)
    train = replicas.train_mask
    for r in range(replicas.num_replicas):
        f = replicas.fold(r)
        test = replicas.plan.test_mask[f]
        assert not (replicas.validation_mask[r] & test).any(), f"replica {r} validates on test"
        assert not (train[r] & (test | replicas.validation_mask[r])).any(), f"replica {r} leaks"
        assert train[r].any(), f"replica {r} has no training clips"
        assert set(subject_of_clip[replicas.validation_mask[r]].tolist()) == set(
            replicas.validation_subjects[r]
        ), f"replica {r}: validation clips and subjects disagree"
