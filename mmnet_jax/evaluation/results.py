"""A LOSO run's bookkeeping and results, as plain data: no JAX, no files.

:class:`Progress` is what a run has done so far (which fold group and epoch it is at, and
every fold's per-epoch losses and test predictions); it goes into each checkpoint as JSON
(``to_json``/``from_json``), so a resumed run reports exactly what an uninterrupted one
would. The functions below turn a progress, the fold plan and the clip table
(:class:`~mmnet_jax.evaluation.clips.ClipTable`) into
what the trainer writes: ``results.json`` (:func:`summarize`), ``metrics.jsonl``
(:func:`metrics_lines`), ``predictions.csv`` (:func:`prediction_rows`,
:func:`predictions_csv`) and ``epoch_predictions.npz`` (:func:`epoch_predictions`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mmnet_jax.evaluation import metrics
from mmnet_jax.evaluation.clips import ClipTable

if TYPE_CHECKING:  # the fold plan's types; evaluation imports nothing of training
    from mmnet_jax.training import folds
    from mmnet_jax.training.folds import FoldPlan

OPTIMISTIC_LABEL = "optimistic (best test epoch, as the official code)"
OPTIMISTIC_RULE = (
    "the official MMNet scripts' selection on the test subjects: accuracy = the sum over "
    "subjects of each subject's largest number of correct test predictions over the epochs, "
    "divided by all test clips; UF1 and UAR from the true-positive, predicted and actual "
    "counts of each subject's best-F1 epoch (subject F1 = mean over the classes in its "
    "labels or predictions of 2TP/(predicted+actual); ties to the later epoch), summed "
    "over subjects"
)
# The all-subjects model's name in the progress records and metrics.jsonl.
ALL_SUBJECTS_NAME = "__all__"
PREDICTION_COLUMNS = (
    "id",
    "subject",
    "source",
    "label",
    "prediction",
    "label_name",
    "prediction_name",
)
_SUMMARY_KEYS = ("accuracy", "uf1", "uar", "num_samples")
_HEADLINE = ("accuracy", "uf1", "uar")
SELECT_RULES = ("last", "validation")
VALIDATION_RULE = (
    "each fold holds out {k} of its training subjects (drawn from its seed and fold), "
    "trains on the others, predicts the held-out ones after every epoch and is scored at "
    "the epoch of best UF1 over them (ties to the later epoch); the test subject never "
    "enters the choice"
)


@dataclasses.dataclass
class FoldRecord:
    """One model's history, one entry per finished epoch.

    Attributes:
      train_loss, grad_norm: the epoch's mean training loss and gradient norm.
      test_preds: the predicted class of each of the fold's test clips (in clip order);
        empty for the all-subjects model, which has no test clips.
      test_logits: the test clips' logits at the evaluation epoch (rounded to 6 digits),
        or None before that epoch.
      test_probs: per epoch, the test clips' class probabilities (clip, class), float32
        values held exactly as floats (so a resumed run writes the same
        ``epoch_predictions.npz`` as an uninterrupted one); empty for the all-subjects model.
      train_steps, train_samples: per epoch, the optimiser steps the model took and the
        training clips it saw (repeats counted); empty in records of older runs.
      val_preds: per epoch, the predicted class of each of the replica's validation clips
        (``folds.Replicas.validation_clips`` order); empty without validation subjects.
    """

    train_loss: list[float] = dataclasses.field(default_factory=list)
    grad_norm: list[float] = dataclasses.field(default_factory=list)
    test_preds: list[list[int]] = dataclasses.field(default_factory=list)
    test_logits: list[list[float]] | None = None
    test_probs: list[list[list[float]]] = dataclasses.field(default_factory=list)
    train_steps: list[int] = dataclasses.field(default_factory=list)
    train_samples: list[int] = dataclasses.field(default_factory=list)
    val_preds: list[list[int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Progress:
    """How far a run is: the fold group being trained, the epochs it has finished, and
    every model's records so far (by :func:`record_name` of test subject and seed, or
    ``ALL_SUBJECTS_NAME``).

    ``groups`` and ``epochs`` are the run's fold groups (plan indices; -1 is the
    all-subjects model) and epoch count, saved with it so that a checkpoint can be read
    without the run's config (``run_checkpoints.load_fold_model``).
    """

    group: int = 0
    epoch: int = 0
    folds: dict[str, FoldRecord] = dataclasses.field(default_factory=dict)
    groups: list[list[int]] = dataclasses.field(default_factory=list)
    epochs: int = 0

    def record(
        self,
        name: str,
        epoch: int,
        train_loss: float,
        grad_norm: float,
        test_preds: Sequence[int] | None = None,
        test_logits: np.ndarray | None = None,
        test_probs: np.ndarray | None = None,
        train_steps: int | None = None,
        train_samples: int | None = None,
        val_preds: Sequence[int] | None = None,
    ) -> None:
        """Record epoch ``epoch`` (0-based) of model ``name``, dropping any later epochs
        (a resumed run redoes the epochs after its checkpoint). ``test_probs`` (n, C) is
        kept as float32 values (see :func:`probabilities`)."""
        rec = self.folds.setdefault(name, FoldRecord())
        del rec.train_loss[epoch:], rec.grad_norm[epoch:], rec.test_preds[epoch:]
        del rec.test_probs[epoch:], rec.val_preds[epoch:]
        del rec.train_steps[epoch:], rec.train_samples[epoch:]
        rec.train_loss.append(float(train_loss))
        rec.grad_norm.append(float(grad_norm))
        if train_steps is not None:
            rec.train_steps.append(int(train_steps))
        if train_samples is not None:
            rec.train_samples.append(int(train_samples))
        if test_preds is not None:
            rec.test_preds.append([int(p) for p in test_preds])
        if test_logits is not None:
            rec.test_logits = np.round(np.asarray(test_logits, np.float64), 6).tolist()
        if test_probs is not None:
            # float32 -> float64 is exact, and JSON writes a float64 exactly.
            rec.test_probs.append(np.asarray(test_probs, np.float32).astype(np.float64).tolist())
        if val_preds is not None:
            rec.val_preds.append([int(p) for p in val_preds])

    def group_finished(self) -> bool:
        """True when the current group has trained all its epochs."""
        return self.epochs > 0 and self.epoch >= self.epochs

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the checkpoint's ``progress`` item)."""
        return {
            "group": int(self.group),
            "epoch": int(self.epoch),
            "folds": {name: dataclasses.asdict(rec) for name, rec in self.folds.items()},
            "groups": [[int(f) for f in g] for g in self.groups],
            "epochs": int(self.epochs),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Progress:
        """Inverse of ``to_json``."""
        return cls(
            group=int(d["group"]),
            epoch=int(d["epoch"]),
            folds={
                str(name): FoldRecord(
                    train_loss=[float(x) for x in rec["train_loss"]],
                    grad_norm=[float(x) for x in rec["grad_norm"]],
                    test_preds=[[int(p) for p in e] for e in rec["test_preds"]],
                    test_logits=rec.get("test_logits"),
                    test_probs=rec.get("test_probs", []),
                    train_steps=[int(x) for x in rec.get("train_steps", [])],
                    train_samples=[int(x) for x in rec.get("train_samples", [])],
                    val_preds=[[int(p) for p in e] for e in rec.get("val_preds", [])],
                )
                for name, rec in d["folds"].items()
            },
            groups=[[int(f) for f in g] for g in d.get("groups", [])],
            epochs=int(d.get("epochs", 0)),
        )


def record_name(subject: str, seed_index: int) -> str:
    """The progress key of the replica testing ``subject`` with the run's
    ``seed_index``-th seed: the subject itself for the first seed (so one-seed runs keep
    their names), ``"subject#k"`` for the k-th."""
    return str(subject) if seed_index == 0 else f"{subject}#{seed_index}"


def seed_view(progress: Progress, plan: FoldPlan, seed_index: int) -> Progress:
    """The records of one seed's replicas keyed by test subject (what the one-seed
    functions below read); folds without records are left out."""
    recs = {s: progress.folds.get(record_name(s, seed_index)) for s in plan.subjects}
    return Progress(
        group=progress.group,
        epoch=progress.epoch,
        folds={s: r for s, r in recs.items() if r is not None},
        groups=progress.groups,
        epochs=progress.epochs,
    )


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in float32 (the class probabilities a run
    records)."""
    return metrics.softmax(logits, np.float32)


def _test_clips(plan: FoldPlan, f: int) -> np.ndarray:
    return np.flatnonzero(plan.test_mask[f])


def pooled(
    progress: Progress, plan: FoldPlan, labels: np.ndarray, epoch_of: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Every fold's test labels and predictions at its epoch ``epoch_of[subject]``
    (1-based), concatenated in fold order: ``(labels, predictions, clip indices)``."""
    ys, ps, clips = [], [], []
    for f, s in enumerate(plan.subjects):
        idx = _test_clips(plan, f)
        ys.append(np.asarray(labels)[idx])
        ps.append(np.asarray(progress.folds[s].test_preds[epoch_of[s] - 1], int))
        clips.extend(idx.tolist())
    return np.concatenate(ys), np.concatenate(ps), clips


def epoch_accuracy(progress: Progress, plan: FoldPlan, labels: np.ndarray, epoch: int) -> float:
    """Pooled test accuracy at epoch ``epoch`` (0-based) over the folds that reached it."""
    hits = n = 0
    for f, s in enumerate(plan.subjects):
        rec = progress.folds.get(s)
        if rec and len(rec.test_preds) > epoch:
            y = np.asarray(labels)[plan.test_mask[f]]
            hits += int((np.asarray(rec.test_preds[epoch]) == y).sum())
            n += len(y)
    return hits / max(n, 1)


def selected_epochs(
    progress: Progress,
    replicas: folds.Replicas,
    clips: ClipTable,
    seed_index: int,
    *,
    eval_epoch: int,
    epochs: int,
) -> tuple[dict[str, int], dict[str, float] | None]:
    """The epoch (1-based) each fold of one seed is scored at, by test subject, and the
    validation UF1 at it (None under the "last" rule).

    Without validation subjects every fold takes ``eval_epoch``. With them, each fold
    takes :func:`metrics.validation_epoch` of its validation clips' labels and recorded
    predictions: only the validation clips' labels are read, never the test clips'.
    """
    plan = replicas.plan
    if not replicas.has_validation:
        return {s: eval_epoch for s in plan.subjects}, None
    labels = clips.labels
    epoch_of, uf1_of = {}, {}
    for f, s in enumerate(plan.subjects):
        r = replicas.replica(seed_index, f)
        rec = progress.folds[record_name(s, seed_index)]
        preds = np.asarray(rec.val_preds[:epochs], int)
        if preds.shape[0] < epochs:
            raise RuntimeError(f"fold {s} (seed {replicas.seeds[seed_index]}): no validation")
        y_val = labels[replicas.validation_clips(r)]
        epoch_of[s], uf1_of[s] = metrics.validation_epoch(y_val, preds, clips.num_classes)
    return epoch_of, uf1_of


def _one_seed(
    progress: Progress,
    plan: FoldPlan,
    clips: ClipTable,
    epoch_of: Mapping[str, int],
    epochs: int,
) -> dict[str, Any]:
    """The figures of one seed's folds (``progress`` keyed by test subject), each fold
    at its epoch ``epoch_of[subject]``: what results.json holds for a one-seed run."""
    labels, names, c = clips.labels, list(clips.class_names), clips.num_classes
    subjects = list(plan.subjects)

    def summary(y, p):
        m = metrics.compute(y, p, c, names)
        return {k: m[k] for k in _SUMMARY_KEYS}

    y, p, order = pooled(progress, plan, labels, epoch_of)
    res = metrics.compute(y, p, c, names)
    per_fold = {
        s: summary(labels[plan.test_mask[f]], progress.folds[s].test_preds[epoch_of[s] - 1])
        for f, s in enumerate(subjects)
    }
    src = clips.sources[order]
    per_source = {}
    if len(set(src.tolist())) > 1:
        for name in sorted(set(src.tolist())):
            sel = src == name
            per_source[name] = summary(y[sel], p[sel])
    opt = optimistic(progress, plan, clips, epochs)
    curves: dict[str, list] = {
        "epoch": list(range(1, epochs + 1)),
        "accuracy": [],
        "uf1": [],
        "uar": [],
        "train_loss": [],
    }
    for e in range(1, epochs + 1):
        ye, pe, _ = pooled(progress, plan, labels, {s: e for s in subjects})
        m = metrics.compute(ye, pe, c, names)
        for k in ("accuracy", "uf1", "uar"):
            curves[k].append(m[k])
        curves["train_loss"].append(
            float(np.mean([progress.folds[s].train_loss[e - 1] for s in subjects]))
        )
    confusions = [
        metrics.confusion(
            labels[plan.test_mask[f]], progress.folds[s].test_preds[epoch_of[s] - 1], c
        )
        for f, s in enumerate(subjects)
    ]
    return {
        "accuracy": res["accuracy"],
        "uf1": res["uf1"],
        "uar": res["uar"],
        "num_samples": res["num_samples"],
        "per_class": res["per_class"],
        "confusion": res["confusion"],
        "per_fold": per_fold,
        "per_source": per_source,
        "optimistic": opt,
        "curves": curves,
        "subject_confusions": np.stack(confusions),
    }


def _protocol(n_subjects: int, eval_epoch: int, epochs: int, replicas: folds.Replicas) -> str:
    if replicas.has_validation:
        k = len(replicas.validation_subjects[0])
        text = (
            f"leave-one-subject-out over {n_subjects} subjects; "
            + VALIDATION_RULE.format(k=k)
            + f"; metrics over the pooled test predictions of all folds at those epochs "
            f"(of {epochs})"
        )
    else:
        text = (
            f"leave-one-subject-out over {n_subjects} subjects; metrics over the pooled "
            f"test predictions of all folds at epoch {eval_epoch} of {epochs} "
            "(pre-declared by eval.epoch; no selection on test data)"
        )
    seeds = replicas.seeds
    if len(seeds) > 1:
        text += (
            f"; accuracy, UF1 and UAR are the mean over {len(seeds)} seeds "
            f"({seeds[0]}..{seeds[-1]}), each trained on every fold"
        )
    return text


def summarize(
    progress: Progress,
    plan: FoldPlan,
    clips: ClipTable,
    *,
    eval_epoch: int,
    epochs: int,
    seed: int,
    replicas: folds.Replicas,
) -> dict[str, Any]:
    """The dict of ``results.json``: metrics over the pooled predictions of all folds.

    Args:
      progress: a finished run's progress (every replica has ``epochs`` test predictions).
      plan: the fold plan.
      clips: the clip table (labels, sources, class names, dataset).
      eval_epoch: the pre-declared evaluation epoch (1-based), the "last" rule's.
      seed: the run's (first) seed.
      replicas: the run's (seed, fold) replicas (``folds.Replicas``; one seed, no
        validation subjects: ``Replicas.one_seed(plan, seed)``); with validation
        subjects each fold is scored at the epoch :func:`selected_epochs` picks.

    Returns:
      One seed's figures (accuracy, uf1, uar, per_class, confusion, per_fold, per_source,
      optimistic, curves, ...) as before, plus ``per_seed`` (every seed's accuracy, uf1,
      uar, optimistic, per_fold, selected_epoch_per_subject), ``std`` (sample standard
      deviation over seeds; 0 for one), ``ci95`` (:func:`metrics.bootstrap_subjects`),
      ``selection`` (the rule), ``selected_epoch_per_subject`` (first seed),
      ``num_seeds`` and ``seeds``. With several seeds, the top-level accuracy, uf1 and
      uar (and the optimistic ones) are the means over seeds; the breakdowns are the
      first seed's.

    Raises:
      RuntimeError: some fold has not finished.
    """
    subjects = list(plan.subjects)
    if replicas.seeds[0] != int(seed):
        raise ValueError(f"seed {seed} is not the replicas' first seed {replicas.seeds[0]}")
    _check_finished(progress, subjects, replicas, epochs)
    seed_figures, epochs_of, val_uf1 = _seed_figures(
        progress, plan, replicas, clips, eval_epoch, epochs
    )
    per_seed = {
        str(sd): {
            **{m: fig[m] for m in _HEADLINE},
            "optimistic": fig["optimistic"],
            "per_fold": fig["per_fold"],
            "selected_epoch_per_subject": dict(epoch_of),
        }
        for sd, fig, epoch_of in zip(replicas.seeds, seed_figures, epochs_of, strict=True)
    }
    first = seed_figures[0]
    return Results(
        protocol=_protocol(len(subjects), eval_epoch, epochs, replicas),
        **{m: _mean([f[m] for f in seed_figures]) for m in _HEADLINE},
        eval_epoch=eval_epoch,
        epochs=epochs,
        num_samples=first["num_samples"],
        per_class=first["per_class"],
        confusion=first["confusion"],
        per_fold=first["per_fold"],
        per_source=first["per_source"],
        optimistic=_optimistic_over_seeds(seed_figures),
        curves=first["curves"],
        dataset=clips.dataset,
        class_names=list(clips.class_names),
        class_counts=clips.class_counts(),
        num_subjects=len(subjects),
        seed=int(seed),
        seeds=list(replicas.seeds),
        num_seeds=len(replicas.seeds),
        per_seed=per_seed,
        std={m: _sample_std([f[m] for f in seed_figures]) for m in _HEADLINE},
        ci95=metrics.bootstrap_subjects(np.stack([f["subject_confusions"] for f in seed_figures])),
        selection=_selection(replicas, subjects, eval_epoch, epochs, val_uf1),
        selected_epoch_per_subject=dict(epochs_of[0]),
    ).to_json()


@dataclasses.dataclass(frozen=True)
class Results:
    """The schema of ``results.json`` (``summarize`` fills it; ``to_json``/``from_json``).

    accuracy, uf1, uar: honest figures (the mean over seeds); protocol: how they were
    obtained; eval_epoch/epochs: the pre-declared epoch and the run's epochs; per_class,
    confusion, per_fold, per_source, curves: the first seed's breakdowns; optimistic: the
    official best-epoch-on-test figures (labelled, apart); class_names, class_counts,
    num_samples, num_subjects: the data; seed, seeds, num_seeds, per_seed, std: the seeds;
    ci95: the bootstrap interval over test subjects; selection and
    selected_epoch_per_subject: the epoch rule and the epoch each fold is scored at.
    docs/outputs.md describes every key.
    """

    protocol: str
    accuracy: float
    uf1: float
    uar: float
    eval_epoch: int
    epochs: int
    num_samples: int
    per_class: dict[str, Any]
    confusion: list[list[int]]
    per_fold: dict[str, Any]
    per_source: dict[str, Any]
    optimistic: dict[str, Any]
    curves: dict[str, Any]
    dataset: str
    class_names: list[str]
    class_counts: dict[str, int]
    num_subjects: int
    seed: int
    seeds: list[int]
    num_seeds: int
    per_seed: dict[str, Any]
    std: dict[str, float]
    ci95: dict[str, Any]
    selection: dict[str, Any]
    selected_epoch_per_subject: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Results:
        """From a results.json dict; a key it does not know, or one missing, is refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown, missing = sorted(set(d) - names), sorted(names - set(d))
        if unknown or missing:
            raise ValueError(f"not a results.json: unknown keys {unknown}, missing {missing}")
        return cls(**d)


def _seed_figures(progress, plan, replicas, clips: ClipTable, eval_epoch, epochs):
    """Each seed's figures at its selected epochs: ``(figures, epoch_of, val_uf1)``, the
    first two one per seed, ``val_uf1`` the first seed's validation UF1 (or None)."""
    figures, epochs_of, val_uf1 = [], [], None
    for k in range(len(replicas.seeds)):
        epoch_of, uf1_of = selected_epochs(
            progress, replicas, clips, k, eval_epoch=eval_epoch, epochs=epochs
        )
        view = seed_view(progress, plan, k)
        figures.append(_one_seed(view, plan, clips, epoch_of, epochs))
        epochs_of.append(epoch_of)
        if k == 0:
            val_uf1 = uf1_of
    return figures, epochs_of, val_uf1


def _check_finished(progress: Progress, subjects: list[str], replicas, epochs: int) -> None:
    missing = [
        record_name(s, k)
        for k in range(len(replicas.seeds))
        for s in subjects
        if record_name(s, k) not in progress.folds
        or len(progress.folds[record_name(s, k)].test_preds) < epochs
    ]
    if missing:
        raise RuntimeError(f"folds not finished: {missing}")


def _optimistic_over_seeds(seed_figures: list[dict]) -> dict[str, Any]:
    """The first seed's optimistic figures, the headline ones averaged over seeds."""
    out = dict(seed_figures[0]["optimistic"])
    if len(seed_figures) > 1:
        for m in _HEADLINE:
            out[m] = _mean([f["optimistic"][m] for f in seed_figures])
        out["seeds"] = (
            f"accuracy, uf1 and uar: the mean over {len(seed_figures)} seeds; the epochs "
            "and per_source: the first seed's (per_seed has each seed's)"
        )
    return out


def _selection(replicas, subjects: list[str], eval_epoch: int, epochs: int, val_uf1) -> dict:
    """results.json's ``selection``: the epoch rule, and its validation subjects."""
    if not replicas.has_validation:
        return {
            "rule": "last",
            "description": (
                f"every fold at epoch {eval_epoch} of {epochs}, fixed before training (eval.epoch)"
            ),
        }
    k = len(replicas.validation_subjects[0])
    return {
        "rule": "validation",
        "description": VALIDATION_RULE.format(k=k),
        "validation_subjects": k,
        "ties": "the later epoch",
        "validation_subjects_per_subject": {
            s: list(replicas.validation_subjects[f]) for f, s in enumerate(subjects)
        },
        "validation_uf1_per_subject": val_uf1,
    }


def _mean(values: Sequence[float]) -> float:
    """The mean; for one value, the value itself (bit for bit)."""
    return float(values[0]) if len(values) == 1 else float(np.mean(values))


def _sample_std(values: Sequence[float]) -> float:
    """The sample standard deviation (n - 1); 0 for one value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def optimistic(progress: Progress, plan: FoldPlan, clips: ClipTable, epochs: int) -> dict[str, Any]:
    """``results["optimistic"]``: the figures the official MMNet scripts print, which
    choose epochs on the test subjects (``OPTIMISTIC_RULE``; :func:`metrics.official_epochs`).

    Returns a dict with ``label``, ``rule``, ``accuracy`` (the sum over subjects of each
    one's most correct predictions in any epoch, over all test clips), ``uf1`` and ``uar``
    (from the pooled counts of each subject's best-F1 epoch),
    ``best_accuracy_epoch_per_subject`` (each subject's first epoch with the most correct
    test predictions), ``best_f1_epoch_per_subject`` and
    ``per_source`` (the same figures per source dataset when there are several; each
    source's clips at the epochs chosen for their subjects).
    """
    labels, num_classes = clips.labels, clips.num_classes
    acc_epoch, f1_epoch = {}, {}
    for f, s in enumerate(plan.subjects):
        preds = np.asarray(progress.folds[s].test_preds[:epochs], int)
        acc_epoch[s], f1_epoch[s] = metrics.official_epochs(
            labels[plan.test_mask[f]], preds, num_classes
        )
    ya, pa, order = pooled(progress, plan, labels, acc_epoch)
    yf, pf, _ = pooled(progress, plan, labels, f1_epoch)  # the same clip order

    def figures(sel):
        # The pooled confusion's diagonal, column and row sums are the summed TP,
        # predicted and actual counts; UF1 = mean 2TP/(predicted + actual) over the
        # classes present, UAR = mean TP/actual over the classes labelled.
        m = metrics.compute(yf[sel], pf[sel], num_classes)
        return {
            "accuracy": float((ya[sel] == pa[sel]).sum() / max(int(sel.sum()), 1)),
            "uf1": m["uf1"],
            "uar": m["uar"],
            "num_samples": int(sel.sum()),
        }

    overall = figures(np.ones(len(ya), bool))
    src = clips.sources[order]
    per_source = {}
    if len(set(src.tolist())) > 1:
        per_source = {name: figures(src == name) for name in sorted(set(src.tolist()))}
    return {
        "label": OPTIMISTIC_LABEL,
        "rule": OPTIMISTIC_RULE,
        "accuracy": overall["accuracy"],
        "uf1": overall["uf1"],
        "uar": overall["uar"],
        "best_accuracy_epoch_per_subject": acc_epoch,
        "best_f1_epoch_per_subject": f1_epoch,
        "per_source": per_source,
    }


def epoch_predictions(
    progress: Progress, plan: FoldPlan, clips: ClipTable, epochs: int, num_seeds: int = 1
) -> dict[str, np.ndarray]:
    """The arrays of ``epoch_predictions.npz``: every test clip (fold order, then clip
    order, as ``predictions.csv``), tested in the fold that leaves its subject out, after
    each epoch. N clips, E epochs, C classes, S = ``num_seeds`` seeds (the run's seeds in
    order, ``results.json``'s ``seeds``):

      id, subject, source (N,) fixed-width unicode; label (N,) int32;
      prediction (S, E, N) int32; probability (S, E, N, C) float32 (NaN for an epoch
      whose probabilities were not recorded: a run resumed from a checkpoint written
      before they were kept).
    """
    num_classes = clips.num_classes
    idx, subj = [], []
    for f, s in enumerate(plan.subjects):
        test = _test_clips(plan, f)
        idx.extend(test.tolist())
        subj.extend([s] * len(test))
    seed_preds, seed_probs = [], []
    for k in range(num_seeds):
        preds, probs = [], []
        for f, s in enumerate(plan.subjects):
            n = len(_test_clips(plan, f))
            rec = progress.folds[record_name(s, k)]
            preds.append(np.asarray(rec.test_preds[:epochs], np.int32).reshape(epochs, n))
            pr = np.full((epochs, n, num_classes), np.nan, np.float32)
            for e, p in enumerate(rec.test_probs[:epochs]):
                pr[e] = np.asarray(p, np.float32).reshape(n, num_classes)
            probs.append(pr)
        seed_preds.append(np.concatenate(preds, axis=1))
        seed_probs.append(np.concatenate(probs, axis=1))
    idx = np.asarray(idx, int)
    return {
        "id": np.asarray([str(x) for x in clips.ids[idx]], dtype=str),
        "subject": np.asarray(subj, dtype=str),
        "source": np.asarray([str(x) for x in clips.sources[idx]], dtype=str),
        "label": clips.labels[idx].astype(np.int32),
        "prediction": np.stack(seed_preds),
        "probability": np.stack(seed_probs),
    }


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``arrays`` as the bytes of an uncompressed ``.npz`` (written through epath)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def metrics_lines(
    progress: Progress, plan: FoldPlan, labels: np.ndarray, seeds: Sequence[int] = ()
) -> list[dict]:
    """The lines of ``metrics.jsonl``: one per model and finished epoch, with the test
    accuracy for the LOSO folds (not for the all-subjects model). ``fold`` is the test
    subject; with several ``seeds``, every line also names its ``seed`` (the
    all-subjects model's is the first)."""
    lines = []
    who = {record_name(s, k): (s, k) for k in range(max(len(seeds), 1)) for s in plan.subjects}
    for name, rec in progress.folds.items():
        s, k = who.get(name, (name, 0))
        f = plan.subjects.index(s) if s in plan.subjects else None
        y = np.asarray(labels)[plan.test_mask[f]] if f is not None else None
        for e, loss in enumerate(rec.train_loss):
            line = {"fold": s, "epoch": e + 1, "train_loss": loss, "grad_norm": rec.grad_norm[e]}
            if e < len(rec.train_steps) and e < len(rec.train_samples):
                line["train_steps"] = rec.train_steps[e]
                line["train_samples"] = rec.train_samples[e]
            if len(seeds) > 1:
                line["seed"] = int(seeds[k])
            if y is not None and e < len(rec.test_preds):
                line["test_accuracy"] = float((np.asarray(rec.test_preds[e]) == y).mean())
                line["test_n"] = len(y)
            lines.append(line)
    return lines


def prediction_rows(
    progress: Progress, plan: FoldPlan, clips: ClipTable, eval_epoch: int | Mapping[str, int]
) -> list[dict[str, Any]]:
    """One row per test clip (fold order, then clip order) with its label and its fold's
    prediction (the first seed's) at ``eval_epoch`` (1-based; or per test subject, as
    results.json's ``selected_epoch_per_subject``); keys are ``PREDICTION_COLUMNS``."""
    rows, names = [], clips.class_names
    for f, s in enumerate(plan.subjects):
        e = eval_epoch[s] if isinstance(eval_epoch, Mapping) else eval_epoch
        preds = progress.folds[s].test_preds[e - 1]
        for i, pr in zip(_test_clips(plan, f), preds, strict=True):
            lab = int(clips.labels[i])
            rows.append(
                {
                    "id": str(clips.ids[i]),
                    "subject": s,
                    "source": str(clips.sources[i]),
                    "label": lab,
                    "prediction": int(pr),
                    "label_name": names[lab],
                    "prediction_name": names[int(pr)],
                }
            )
    return rows


def predictions_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as CSV text with a header (quoted where a field holds a comma or quote)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PREDICTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def read_predictions_csv(text: str) -> list[dict[str, Any]]:
    """Rows of a ``predictions.csv`` text, ``label`` and ``prediction`` as ints."""
    rows = list(csv.DictReader(io.StringIO(text)))
    for r in rows:
        r["label"], r["prediction"] = int(r["label"]), int(r["prediction"])
    return rows
