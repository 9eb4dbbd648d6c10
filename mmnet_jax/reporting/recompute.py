"""``mmnet recompute WORKDIR``: a run's figures recomputed from ``epoch_predictions.npz``
alone and compared with its ``results.json`` (to 1e-6; the chosen epochs exactly).

    mmnet recompute runs/synthetic

Independent of the rest of the package on purpose: NumPy and the standard library only
(and the command-line style of :mod:`mmnet_jax.cli`), the metric definitions, the
official selection rule and the bootstrap written again from their descriptions, so
that a mistake in ``mmnet_jax.evaluation.results`` or
``mmnet_jax.evaluation.metrics`` is not repeated here. From results.json it reads only settings
(``eval_epoch``, ``seeds``, the ``ci95`` resamples and seed) and the epoch each fold is
scored at (``selected_epoch_per_subject``, per seed under ``per_seed``: chosen on
validation subjects, whose predictions the npz does not hold), and checks the figures:
every seed's (``per_seed``), their mean and sample standard deviation (the top level),
the first seed's breakdowns, and the bootstrap interval. Exit status 0 when every figure
agrees, 5 when one does not (each disagreement printed), 2 for a missing or unreadable
file.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction

import numpy as np

from mmnet_jax import cli
from mmnet_jax import workdir as workdir_files

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


def scored(pred, subject, epoch_of):
    """Each clip's prediction at the epoch (1-based) its subject's fold is scored at."""
    out = np.empty(pred.shape[1], pred.dtype)
    for s, e in epoch_of.items():
        out[subject == s] = pred[e - 1][subject == s]
    return out


def recompute(arrays, eval_epoch: int, seed_index: int = 0, epoch_of=None) -> dict:
    """The figures of results.json from the npz's arrays (a mapping of name to array),
    each subject's fold scored at ``epoch_of[subject]`` (default: ``eval_epoch``)."""
    subject = np.asarray(arrays["subject"])
    source = np.asarray(arrays["source"]) if "source" in arrays else None
    y = np.asarray(arrays["label"])
    pred = np.asarray(arrays["prediction"])[seed_index]  # (E, N)
    c = int(np.asarray(arrays["probability"]).shape[-1])
    e_count = pred.shape[0]
    subjects = list(dict.fromkeys(subject.tolist()))  # first-seen order
    epoch_of = epoch_of or {s: eval_epoch for s in subjects}
    missing = sorted(set(subjects) - set(epoch_of))
    if missing:
        raise ValueError(f"no scored epoch for test subjects {missing}")
    p_scored = scored(pred, subject, epoch_of)
    out = figures(y, p_scored, c)
    out["per_fold"] = {s: figures(y[subject == s], p_scored[subject == s], c) for s in subjects}
    out["per_source"] = {}
    if source is not None and len(set(source.tolist())) > 1:
        for name in sorted(set(source.tolist())):
            sel = source == name
            out["per_source"][name] = figures(y[sel], p_scored[sel], c)
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


def bootstrap(arrays, epochs_by_seed, resamples: int, seed: int) -> dict:
    """The 95% interval of UF1 and UAR by the documented method: ``resamples`` draws of
    the n test subjects (sorted) with replacement, ``default_rng(seed).integers(0, n,
    (resamples, n))``; each draw's clips pooled (a subject drawn twice counts twice),
    UF1 and UAR per seed, their mean over seeds; the 2.5th and 97.5th percentiles."""
    subject = np.asarray(arrays["subject"])
    y = np.asarray(arrays["label"])
    c = int(np.asarray(arrays["probability"]).shape[-1])
    subjects = sorted(set(subject.tolist()))
    n = len(subjects)
    preds = [
        scored(np.asarray(arrays["prediction"])[k], subject, epochs_by_seed[k])
        for k in range(len(epochs_by_seed))
    ]
    draws = np.random.default_rng(seed).integers(0, n, (resamples, n))
    uf1s, uars = [], []
    for draw in draws:
        sel = np.concatenate([np.flatnonzero(subject == subjects[i]) for i in draw])
        per_seed = [figures_from_counts(*counts(y[sel], p[sel], c)) for p in preds]
        uf1s.append(np.mean([f[0] for f in per_seed]))
        uars.append(np.mean([f[1] for f in per_seed]))
    return {
        "uf1": [float(v) for v in np.percentile(uf1s, [2.5, 97.5])],
        "uar": [float(v) for v in np.percentile(uars, [2.5, 97.5])],
    }


def recompute_run(arrays, results: dict) -> dict:
    """Everything :func:`compare` checks in a results.json: per seed, the mean and sample
    standard deviation over seeds, the first seed's breakdowns, the interval."""
    eval_epoch = int(results["eval_epoch"])
    seeds = [int(s) for s in results.get("seeds", [results.get("seed", 0)])]
    if np.asarray(arrays["prediction"]).shape[0] != len(seeds):
        raise ValueError(
            f"the npz holds {np.asarray(arrays['prediction']).shape[0]} seeds, "
            f"results.json {len(seeds)}"
        )
    per_seed_in = results.get("per_seed", {})
    epochs_by_seed, runs = [], []
    for k, sd in enumerate(seeds):
        chosen = per_seed_in.get(str(sd), {}).get("selected_epoch_per_subject")
        if chosen is None and k == 0:
            chosen = results.get("selected_epoch_per_subject")
        epoch_of = {s: int(e) for s, e in chosen.items()} if chosen else None
        runs.append(recompute(arrays, eval_epoch, k, epoch_of))
        epochs_by_seed.append(epoch_of or {s: eval_epoch for s in set(arrays["subject"].tolist())})
    out = dict(runs[0], optimistic=dict(runs[0]["optimistic"]))
    headline = ("accuracy", "uf1", "uar")
    for m in headline:
        values = [r[m] for r in runs]
        out[m] = float(np.mean(values))
        if len(runs) > 1:
            out["optimistic"][m] = float(np.mean([r["optimistic"][m] for r in runs]))
    if "per_seed" in results:
        out["per_seed"] = {
            str(sd): {
                **{m: r[m] for m in headline},
                "per_fold": r["per_fold"],
                "optimistic": {m: r["optimistic"][m] for m in headline},
            }
            for sd, r in zip(seeds, runs, strict=True)
        }
    if "std" in results:
        out["std"] = {
            m: float(np.std([r[m] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
            for m in headline
        }
    if "ci95" in results:
        ci = results["ci95"]
        out["ci95"] = bootstrap(arrays, epochs_by_seed, int(ci["resamples"]), int(ci["seed"]))
    if "selected_epoch_per_subject" in results:
        out["selected_epoch_per_subject"] = epochs_by_seed[0]
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


def _define(fv) -> None:
    del fv  # no flags: the workdir is the one positional argument


def _body(fv, positional: list[str]) -> int:
    if len(positional) != 1:
        cli.fail("give the run's workdir: mmnet recompute WORKDIR")
    workdir = positional[0]
    npz_path = os.path.join(workdir, workdir_files.EPOCH_PREDICTIONS)
    try:
        with np.load(npz_path) as z:  # no allow_pickle: the file must not need it
            arrays = {k: z[k] for k in z.files}
        with open(os.path.join(workdir, workdir_files.RESULTS)) as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        cli.fail(str(e))
    missing = [k for k in ("eval_epoch", "ci95") if k not in results]
    missing += [k for k in ("label", "subject", "prediction") if k not in arrays]
    if missing:
        cli.fail(f"{workdir}: not a finished run's files: {', '.join(missing)} missing")
    try:
        mine = recompute_run(arrays, results)
    except ValueError as e:
        cli.fail(f"{workdir}: {e}")
    bad = compare(mine, results)
    for line in bad:
        print(line)
    n = len(arrays["label"])
    s, e = arrays["prediction"].shape[:2]
    print(
        f"{'MISMATCH' if bad else 'OK'}: {n} clips, {e} epochs, {s} seed{'s' * (s > 1)}; "
        f"honest UF1 {mine['uf1']:.6f}, optimistic UF1 {mine['optimistic']['uf1']:.6f}"
    )
    return cli.EXIT_MISMATCH if bad else cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 when every figure agrees, 5 when one does not, 2 for a bad workdir."""
    return cli.run(__doc__, _define, _body, argv)
