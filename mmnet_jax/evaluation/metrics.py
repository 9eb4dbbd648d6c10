"""The field's metrics over pooled LOSO predictions: accuracy, UF1, UAR, per class; the
official MMNet scripts' per-subject epoch choice (:func:`official_epochs`); the epoch
chosen on validation subjects (:func:`validation_epoch`); and bootstrap intervals over
test subjects (:func:`bootstrap_subjects`, :func:`paired_bootstrap`)."""

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


def validation_epoch(
    labels: np.ndarray, preds_by_epoch: np.ndarray, num_classes: int
) -> tuple[int, float]:
    """The epoch a fold is scored at under ``eval.select="validation"``.

    Args:
      labels: (v,) the labels of the fold's validation clips (never its test clips).
      preds_by_epoch: (E, v) its predictions on them after each epoch 1..E.

    Returns:
      ``(epoch, uf1)``: the epoch (1-based) whose predictions have the best UF1 over the
      validation clips pooled, and that UF1. UF1 is compared exactly (as fractions,
      :func:`subject_f1` is the UF1 of ``from_confusion`` exactly), and ties go to the
      later epoch (the one trained longer, as the official rule breaks its ties).
    """
    y = np.asarray(labels)
    best, epoch = Fraction(-1), 0
    for e, p in enumerate(np.asarray(preds_by_epoch)):
        f1 = subject_f1(y, p, num_classes)
        if f1 >= best:
            best, epoch = f1, e + 1
    return epoch, float(best)


# The bootstrap over test subjects: resamples and the seed of its draws (fixed, so that
# a run's interval can be recomputed; see BOOTSTRAP_METHOD).
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BOOTSTRAP_METHOD = (
    "percentile bootstrap over test subjects: {resamples} resamples of the n test subjects "
    "with replacement (numpy.random.default_rng({seed}).integers(0, n, ({resamples}, n)), "
    "subjects in sorted order), each resample's test predictions pooled (a subject drawn "
    "twice counts twice) and scored (UF1, UAR; with several seeds the mean over seeds, "
    "every seed on the same resample); the interval is the 2.5th and 97.5th percentiles "
    "(numpy.percentile, linear)"
)


def uf1_uar(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UF1 and UAR of stacked confusions ``(..., C, C)`` (true, predicted), by the
    definitions of :func:`from_confusion`: F1 = 2TP/(predicted + actual) averaged over
    the classes labelled or predicted, recall averaged over the classes labelled."""
    cm = np.asarray(cm, np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    actual, predicted = cm.sum(-1), cm.sum(-2)
    present, labelled = (actual + predicted) > 0, actual > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2 * tp / (actual + predicted), 0.0)
        recall = np.where(labelled, tp / actual, 0.0)
        uf1 = f1.sum(-1) / present.sum(-1)
        uar = recall.sum(-1) / labelled.sum(-1)
    return np.nan_to_num(uf1), np.nan_to_num(uar)


def _resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n): how often each of n subjects is drawn in each resample."""
    idx = np.random.default_rng(seed).integers(0, n, (resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)


def _resampled(confusions: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UF1 and UAR (resamples,) of the pooled resampled confusions, mean over seeds."""
    pooled = np.einsum("bn,sncd->bscd", weights, np.asarray(confusions, np.float64))
    uf1, uar = uf1_uar(pooled)
    return uf1.mean(1), uar.mean(1)


def _interval(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def bootstrap_subjects(
    confusions: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> dict:
    """95% intervals of UF1 and UAR over test subjects (``BOOTSTRAP_METHOD``).

    Args:
      confusions: (S, n, C, C) per seed and test subject (sorted order), the confusion
        of the subject's test predictions at the epoch its fold is scored at.

    Returns:
      ``{"uf1": [lo, hi], "uar": [lo, hi], "method", "resamples", "seed"}``.
    """
    confusions = np.asarray(confusions)
    uf1, uar = _resampled(confusions, _resample_weights(confusions.shape[1], resamples, seed))
    return {
        "uf1": _interval(uf1),
        "uar": _interval(uar),
        "method": BOOTSTRAP_METHOD.format(resamples=resamples, seed=seed),
        "resamples": int(resamples),
        "seed": int(seed),
    }


def paired_bootstrap(
    confusions_a: np.ndarray,
    confusions_b: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict:
    """UF1 of run A minus run B on the same test subjects, with a 95% interval from the
    same subject resamples applied to both runs (``BOOTSTRAP_METHOD``).

    Args:
      confusions_a, confusions_b: (S_a, n, C, C) and (S_b, n, C, C), the same n subjects
        in the same order (each run's own seeds).

    Returns:
      ``{"uf1_difference", "ci95": [lo, hi], "resamples", "seed"}``; the difference is
      that of the mean-over-seeds UF1 of the pooled predictions.
    """
    a, b = np.asarray(confusions_a), np.asarray(confusions_b)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"unpaired confusions: {a.shape[1:]} and {b.shape[1:]}")
    full = np.ones((1, a.shape[1]))
    diff = _resampled(a, full)[0][0] - _resampled(b, full)[0][0]
    w = _resample_weights(a.shape[1], resamples, seed)
    return {
        "uf1_difference": float(diff),
        "ci95": _interval(_resampled(a, w)[0] - _resampled(b, w)[0]),
        "resamples": int(resamples),
        "seed": int(seed),
    }


def softmax(logits, dtype=np.float64) -> np.ndarray:
    """Softmax over the last axis, computed in ``dtype`` (float64 by default)."""
    z = np.asarray(logits, dtype)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)
