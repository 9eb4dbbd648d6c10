"""A LOSO run's bookkeeping and results, as plain data: no JAX, no files.

:class:`Progress` is what a run has done so far (which fold group and epoch it is at, and
every fold's per-epoch losses and test predictions); it goes into each checkpoint as JSON
(``to_json``/``from_json``), so a resumed run reports exactly what an uninterrupted one
would. The functions below turn a progress, the fold plan and the clips' labels into
what the trainer writes: ``results.json`` (:func:`summarize`), ``metrics.jsonl``
(:func:`metrics_lines`) and ``predictions.csv`` (:func:`prediction_rows`,
:func:`predictions_csv`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmnet_jax import metrics
from mmnet_jax.folds import FoldPlan

OPTIMISTIC_LABEL = "optimistic (best test epoch, as the official code)"
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


@dataclasses.dataclass
class FoldRecord:
    """One model's history, one entry per finished epoch.

    Attributes:
      train_loss, grad_norm: the epoch's mean training loss and gradient norm.
      test_preds: the predicted class of each of the fold's test clips (in clip order);
        empty for the all-subjects model, which has no test clips.
      test_logits: the test clips' logits at the evaluation epoch (rounded to 6 digits),
        or None before that epoch.
      train_steps, train_samples: per epoch, the optimiser steps the model took and the
        training clips it saw (repeats counted); empty in records of older runs.
    """

    train_loss: list[float] = dataclasses.field(default_factory=list)
    grad_norm: list[float] = dataclasses.field(default_factory=list)
    test_preds: list[list[int]] = dataclasses.field(default_factory=list)
    test_logits: list[list[float]] | None = None
    train_steps: list[int] = dataclasses.field(default_factory=list)
    train_samples: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Progress:
    """How far a run is: the fold group being trained, the epochs it has finished, and
    every model's records so far (by test subject, or ``ALL_SUBJECTS_NAME``).

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
        train_steps: int | None = None,
        train_samples: int | None = None,
    ) -> None:
        """Record epoch ``epoch`` (0-based) of model ``name``, dropping any later epochs
        (a resumed run redoes the epochs after its checkpoint)."""
        rec = self.folds.setdefault(name, FoldRecord())
        del rec.train_loss[epoch:], rec.grad_norm[epoch:], rec.test_preds[epoch:]
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
                    train_steps=[int(x) for x in rec.get("train_steps", [])],
                    train_samples=[int(x) for x in rec.get("train_samples", [])],
                )
                for name, rec in d["folds"].items()
            },
            groups=[[int(f) for f in g] for g in d.get("groups", [])],
            epochs=int(d.get("epochs", 0)),
        )


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


def summarize(
    progress: Progress,
    plan: FoldPlan,
    labels: np.ndarray,
    sources: np.ndarray,
    class_names: Sequence[str],
    *,
    eval_epoch: int,
    epochs: int,
    dataset: str,
    seed: int,
) -> dict[str, Any]:
    """The dict of ``results.json``: metrics over the pooled predictions of all folds.

    Args:
      progress: a finished run's progress (every fold has ``epochs`` test predictions).
      plan: the fold plan; ``labels`` (N,) int and ``sources`` (N,) str per clip.
      class_names: label names in label order.
      eval_epoch: the pre-declared evaluation epoch (1-based).

    Raises:
      RuntimeError: some fold has not finished.
    """
    names = list(class_names)
    c = len(names)
    labels = np.asarray(labels)
    subjects = list(plan.subjects)
    missing = [
        s for s in subjects if s not in progress.folds or len(progress.folds[s].test_preds) < epochs
    ]
    if missing:
        raise RuntimeError(f"folds not finished: {missing}")

    def summary(y, p):
        m = metrics.compute(y, p, c, names)
        return {k: m[k] for k in _SUMMARY_KEYS}

    y, p, clips = pooled(progress, plan, labels, {s: eval_epoch for s in subjects})
    res = metrics.compute(y, p, c, names)
    per_fold = {
        s: summary(labels[plan.test_mask[f]], progress.folds[s].test_preds[eval_epoch - 1])
        for f, s in enumerate(subjects)
    }
    src = np.asarray(sources)[clips]
    per_source = {}
    if len(set(src.tolist())) > 1:
        for name in sorted(set(src.tolist())):
            sel = src == name
            per_source[name] = summary(y[sel], p[sel])
    # The official code's selection: each subject's best test-accuracy epoch.
    best = {}
    for f, s in enumerate(subjects):
        yy = labels[plan.test_mask[f]]
        accs = [float((np.asarray(pe) == yy).mean()) for pe in progress.folds[s].test_preds]
        best[s] = int(np.argmax(accs)) + 1
    yo, po, _ = pooled(progress, plan, labels, best)
    opt = metrics.compute(yo, po, c, names)
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
    counts = np.bincount(labels, minlength=c)
    return {
        "protocol": (
            f"leave-one-subject-out over {len(subjects)} subjects; metrics over the pooled "
            f"test predictions of all folds at epoch {eval_epoch} of {epochs} "
            "(pre-declared by eval.epoch; no selection on test data)"
        ),
        "accuracy": res["accuracy"],
        "uf1": res["uf1"],
        "uar": res["uar"],
        "eval_epoch": eval_epoch,
        "epochs": epochs,
        "num_samples": res["num_samples"],
        "per_class": res["per_class"],
        "confusion": res["confusion"],
        "per_fold": per_fold,
        "per_source": per_source,
        "optimistic": {
            "label": OPTIMISTIC_LABEL,
            "accuracy": opt["accuracy"],
            "uf1": opt["uf1"],
            "uar": opt["uar"],
            "best_epoch_per_subject": best,
        },
        "curves": curves,
        "dataset": dataset,
        "class_names": names,
        "class_counts": {n: int(k) for n, k in zip(names, counts, strict=True)},
        "num_subjects": len(subjects),
        "seed": int(seed),
    }


def metrics_lines(progress: Progress, plan: FoldPlan, labels: np.ndarray) -> list[dict]:
    """The lines of ``metrics.jsonl``: one per model and finished epoch, with the test
    accuracy for the LOSO folds (not for the all-subjects model)."""
    lines = []
    for s, rec in progress.folds.items():
        f = plan.subjects.index(s) if s in plan.subjects else None
        y = np.asarray(labels)[plan.test_mask[f]] if f is not None else None
        for e, loss in enumerate(rec.train_loss):
            line = {"fold": s, "epoch": e + 1, "train_loss": loss, "grad_norm": rec.grad_norm[e]}
            if e < len(rec.train_steps) and e < len(rec.train_samples):
                line["train_steps"] = rec.train_steps[e]
                line["train_samples"] = rec.train_samples[e]
            if y is not None and e < len(rec.test_preds):
                line["test_accuracy"] = float((np.asarray(rec.test_preds[e]) == y).mean())
                line["test_n"] = len(y)
            lines.append(line)
    return lines


def prediction_rows(
    progress: Progress,
    plan: FoldPlan,
    labels: np.ndarray,
    ids: np.ndarray,
    sources: np.ndarray,
    class_names: Sequence[str],
    eval_epoch: int,
) -> list[dict[str, Any]]:
    """One row per test clip (fold order, then clip order) with its label and its fold's
    prediction at ``eval_epoch`` (1-based); keys are ``PREDICTION_COLUMNS``."""
    rows = []
    for f, s in enumerate(plan.subjects):
        preds = progress.folds[s].test_preds[eval_epoch - 1]
        for i, pr in zip(_test_clips(plan, f), preds, strict=True):
            lab = int(labels[i])
            rows.append(
                {
                    "id": str(ids[i]),
                    "subject": s,
                    "source": str(sources[i]),
                    "label": lab,
                    "prediction": int(pr),
                    "label_name": class_names[lab],
                    "prediction_name": class_names[int(pr)],
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
