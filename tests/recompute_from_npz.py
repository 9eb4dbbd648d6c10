"""Recompute a run's figures from ``epoch_predictions.npz`` alone and compare them with
its ``results.json`` (to 1e-6; the chosen epochs exactly).

    python tests/recompute_from_npz.py WORKDIR

Independent of the package on purpose: NumPy and the standard library only, the metric
definitions and the official selection rule written again from their descriptions
(issue 12), so that a mistake in ``mmnet_jax.results`` or ``mmnet_jax.metrics`` is not
repeated here. From results.json it reads only ``eval_epoch`` (a setting, fixed before
training) and the figures it checks. Exit status 0 when every figure agrees, 1 when one
does not (each disagreement printed), 2 for a missing or unreadable file.
"""

from __future__ import annotations

import json
import os
import sys
from fractions import Fraction

import numpy as np

TOLERANCE = 1e-6


def counts(y, p, c):
    """Per class: true positives, times predicted, times labelled."""
    y, p = np.asarray(y), np.asarray(p)
    tp = np.array([int(((y == k) & (p == k)).sum()) for k in range(c)])
    predicted = np.array([int((p == k).sum()) for k in range(c)])
    actual = np.array([int((y == k).sum()) for k in range(c)])
    return tp, predicted, actual


def figures_from_counts(tp, predicted, actual):
    """UF1: mean over classes labelled or predicted of 2TP/(predicted+actual); UAR: mean
    over labelled classes of TP/actual."""
    present = (predicted + actual) > 0
    labelled = actual > 0
    uf1 = float(np.mean(2 * tp[present] / (predicted + actual)[present])) if present.any() else 0.0
    uar = float(np.mean(tp[labelled] / actual[labelled])) if labelled.any() else 0.0
    return uf1, uar


def figures(y, p, c):
    y, p = np.asarray(y), np.asarray(p)
    uf1, uar = figures_from_counts(*counts(y, p, c))
    return {"accuracy": float((y == p).mean()) if len(y) else 0.0, "uf1": uf1, "uar": uar}


def subject_f1(y, p, c):
    """Exact, so that equal F1s tie."""
    tp, predicted, actual = counts(y, p, c)
    ks = [k for k in range(c) if predicted[k] + actual[k] > 0]
    terms = [Fraction(2 * int(tp[k]), int(predicted[k] + actual[k])) for k in ks]
    return sum(terms, Fraction(0)) / max(len(ks), 1)


def recompute(arrays, eval_epoch: int, seed_index: int = 0) -> dict:
    """The figures of results.json from the npz's arrays (a mapping of name to array)."""
    subject = np.asarray(arrays["subject"])
    source = np.asarray(arrays["source"]) if "source" in arrays else None
    y = np.asarray(arrays["label"])
    pred = np.asarray(arrays["prediction"])[seed_index]  # (E, N)
    c = int(np.asarray(arrays["probability"]).shape[-1])
    e_count = pred.shape[0]
    subjects = list(dict.fromkeys(subject.tolist()))  # first-seen order
    out = figures(y, pred[eval_epoch - 1], c)
    out["per_fold"] = {
        s: figures(y[subject == s], pred[eval_epoch - 1][subject == s], c) for s in subjects
    }
    out["per_source"] = {}
    if source is not None and len(set(source.tolist())) > 1:
        for name in sorted(set(source.tolist())):
            sel = source == name
            out["per_source"][name] = figures(y[sel], pred[eval_epoch - 1][sel], c)
    curves = [figures(y, pred[e], c) for e in range(e_count)]
    out["curves"] = {k: [m[k] for m in curves] for k in ("accuracy", "uf1", "uar")}

    # The official rule, per subject: the most correct predictions over the epochs (the
    # first epoch reaching it); the epoch of best subject F1, ties to the later one.
    acc_epoch, f1_epoch = {}, {}
    for s in subjects:
        sel = subject == s
        best_correct, best_f1 = -1, Fraction(-1)
        for e in range(e_count):
            correct = int((pred[e][sel] == y[sel]).sum())
            if correct > best_correct:
                best_correct, acc_epoch[s] = correct, e + 1
            f1 = subject_f1(y[sel], pred[e][sel], c)
            if f1 >= best_f1:
                best_f1, f1_epoch[s] = f1, e + 1
    p_acc = np.empty_like(y)
    p_f1 = np.empty_like(y)
    for s in subjects:
        sel = subject == s
        p_acc[sel] = pred[acc_epoch[s] - 1][sel]
        p_f1[sel] = pred[f1_epoch[s] - 1][sel]

    def optimistic(sel):
        uf1, uar = figures_from_counts(*counts(y[sel], p_f1[sel], c))
        accuracy = float((y[sel] == p_acc[sel]).sum() / sel.sum())
        return {"accuracy": accuracy, "uf1": uf1, "uar": uar}

    opt = optimistic(np.ones(len(y), bool))
    opt["best_accuracy_epoch_per_subject"] = acc_epoch
    opt["best_f1_epoch_per_subject"] = f1_epoch
    opt["per_source"] = {}
    if out["per_source"]:
        opt["per_source"] = {n: optimistic(source == n) for n in out["per_source"]}
    out["optimistic"] = opt
    return out


def compare(mine: dict, theirs: dict, where: str = "") -> list[str]:
    """Disagreements between the recomputed dict and results.json's, as lines: numbers
    to TOLERANCE, integers (epochs) exactly, every recomputed key present in theirs."""
    bad = []
    for k, v in mine.items():
        path = f"{where}{k}"
        if k not in theirs:
            bad.append(f"{path}: missing from results.json")
        elif isinstance(v, dict):
            bad += compare(v, theirs[k], path + ".")
        elif isinstance(v, list):
            if len(v) != len(theirs[k]):
                bad.append(f"{path}: {len(v)} values, results.json has {len(theirs[k])}")
            else:
                bad += [
                    f"{path}[{i}]: {a} recomputed, {b} in results.json"
                    for i, (a, b) in enumerate(zip(v, theirs[k], strict=True))
                    if abs(a - b) > TOLERANCE
                ]
        elif isinstance(v, int):
            if v != theirs[k]:
                bad.append(f"{path}: {v} recomputed, {theirs[k]} in results.json")
        elif abs(v - theirs[k]) > TOLERANCE:
            bad.append(f"{path}: {v!r} recomputed, {theirs[k]!r} in results.json")
    return bad


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/recompute_from_npz.py WORKDIR", file=sys.stderr)
        return 2
    npz_path = os.path.join(argv[0], "epoch_predictions.npz")
    try:
        with np.load(npz_path) as z:  # no allow_pickle: the file must not need it
            arrays = {k: z[k] for k in z.files}
        with open(os.path.join(argv[0], "results.json")) as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mine = recompute(arrays, int(results["eval_epoch"]))
    bad = compare(mine, results)
    for line in bad:
        print(line)
    n = len(arrays["label"])
    print(
        f"{'MISMATCH' if bad else 'OK'}: {n} clips, {arrays['prediction'].shape[1]} epochs; "
        f"honest UF1 {mine['uf1']:.6f}, optimistic UF1 {mine['optimistic']['uf1']:.6f}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
