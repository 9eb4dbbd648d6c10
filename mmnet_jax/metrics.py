"""The field's metrics over pooled LOSO predictions: accuracy, UF1, UAR, per class; and
the official MMNet scripts' per-subject epoch choice (:func:`official_epochs`)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(true, predicted) counts, (num_classes, num_classes) int64."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(labels, int), np.asarray(preds, int)), 1)
    return cm


def from_confusion(cm: np.ndarray, class_names: list[str] | None = None) -> dict:
    """Accuracy, UF1 (macro F1), UAR (mean recall) and per-class figures from counts.

    Classes absent from both labels and predictions are left out of UF1 and UAR (they
    would be 0/0); a class that is present but never predicted right counts as 0,
    as scikit-learn counts it.
    """
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    support = cm.sum(1)
    predicted = cm.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (support + predicted) > 0
    total = cm.sum()
    names = class_names or [str(i) for i in range(len(cm))]
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "uf1": float(f1[present].mean()) if present.any() else 0.0,
        "uar": float(recall[support > 0].mean()) if (support > 0).any() else 0.0,
        "num_samples": int(total),
        "per_class": {
            n: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, n in enumerate(names)
        },
        "confusion": cm.astype(np.int64).tolist(),
    }


def compute(
    labels: np.ndarray, preds: np.ndarray, num_classes: int, class_names: list[str] | None = None
) -> dict:
    """All metrics of ``from_confusion`` for label and prediction vectors."""
    return from_confusion(confusion(labels, preds, num_classes), class_names)


def class_counts(
    labels: np.ndarray, preds: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: (true positives, times predicted, times labelled), each (num_classes,) int."""
    cm = confusion(labels, preds, num_classes)
    return np.diag(cm).copy(), cm.sum(0), cm.sum(1)


def subject_f1(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> Fraction:
    """The official MMNet scripts' F1 of one test subject, as an exact fraction: the mean,
    over the classes that occur in ``labels`` or ``preds``, of 2 TP / (predicted + actual).

    Exact, so that epochs whose F1 is equal compare equal (the tie rule of
    :func:`official_epochs` depends on it).
    """
    tp, predicted, actual = class_counts(labels, preds, num_classes)
    present = [c for c in range(num_classes) if predicted[c] + actual[c] > 0]
    if not present:
        return Fraction(0)
    terms = [Fraction(2 * int(tp[c]), int(predicted[c] + actual[c])) for c in present]
    return sum(terms, Fraction(0)) / len(present)


def official_epochs(
    labels: np.ndarray, preds_by_epoch: np.ndarray, num_classes: int
) -> tuple[int, int]:
    """The two epochs the official MMNet scripts pick for one test subject (1-based).

    Args:
      labels: (n,) the subject's test labels.
      preds_by_epoch: (E, n) its predicted classes after each epoch 1..E.

    Returns:
      ``(accuracy_epoch, f1_epoch)``: the first epoch with the most correct predictions
      (the scripts keep a new maximum only when it is larger, ``>``), and the last epoch
      with the best :func:`subject_f1` (they keep an epoch whose F1 is ``>=`` the best so
      far, so ties go to the later epoch).
    """
    y = np.asarray(labels)
    preds = np.asarray(preds_by_epoch)
    correct = (preds == y[None]).sum(1)
    accuracy_epoch = int(np.argmax(correct)) + 1  # the first maximum
    best, f1_epoch = Fraction(-1), 0
    for e, p in enumerate(preds):
        f1 = subject_f1(y, p, num_classes)
        if f1 >= best:
            best, f1_epoch = f1, e + 1
    return accuracy_epoch, f1_epoch
