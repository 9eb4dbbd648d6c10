"""The field's metrics over pooled LOSO predictions: accuracy, UF1, UAR, per class."""

from __future__ import annotations

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
