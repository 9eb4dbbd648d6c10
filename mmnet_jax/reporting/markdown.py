"""The text of ``report.md``: one function per section, each from the run's files
(results.json, config.json, run_info.json) as dicts."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from mmnet_jax.evaluation import metrics
from mmnet_jax.reporting import tables
from mmnet_jax.reporting.figures import (
    CONFUSION_PNG,
    CURVES_PNG,
    FOLD_CURVES_PNG,
    SEEDS_PNG,
    natural_key,
)
from mmnet_jax.reporting.published import (
    COMPOSITE_DATASET,
    PUBLISHED_COMPOSITE,
    paper_result,
)

DATASET_TITLES = {
    "casme2": "CASME II",
    "samm": "SAMM",
    "mmew": "MMEW",
    "casme3": "CAS(ME)^3 part A",
    "smic": "SMIC-HS",
    "megc2019": "MEGC 2019 composite",
    "synthetic_me": "synthetic micro-expressions",
}


# The official code's two model variants (PC depth, MLP ratio, drop-path rate).
_OFFICIAL_VARIANTS = {
    (2, 4.0, 0.0): "the official 5-class variant",
    (3, 2.0, 0.3): "the official 3-class variant",
}


SYNTHETIC_DATASET = "synthetic_me"


SYNTHETIC_NOTICE = (
    "**Synthetic data.** The clips are procedurally generated faces whose onset-to-apex "
    "motion encodes the class: these figures are a sanity check of the pipeline, not "
    "comparable to results on real micro-expression datasets."
)


# --- helpers -------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * float(x):.2f}%"


def _f4(x: float) -> str:
    return f"{float(x):.4f}"


def _table(header: list[str], rows: list[list[Any]], align: str | None = None) -> list[str]:
    """A report table: numbers (every column but the first) right-aligned by default."""
    return tables.table(header, rows, align or "l" + "r" * (len(header) - 1))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def _dataset_base(results: dict) -> str:
    return str(results.get("dataset", "")).split("/")[0]


def _class_names(results: dict, resolved: dict) -> list[str]:
    names = results.get("class_names") or resolved.get("data", {}).get("class_names")
    if names:
        return list(names)
    return list(results.get("per_class", {}))


def _validation(results: dict) -> bool:
    return results.get("selection", {}).get("rule") == "validation"


def _scored_at(results: dict) -> str:
    """Where the honest figures are taken: "epoch 8" or "the selected epochs"."""
    return "the selected epochs" if _validation(results) else f"epoch {results.get('eval_epoch')}"


def _num_seeds(results: dict) -> int:
    return int(results.get("num_seeds", 1))


def _fold_order(results: dict, resolved: dict) -> list[str]:
    per_fold = results.get("per_fold", {})
    order = [s for s in resolved.get("data", {}).get("subjects", []) if s in per_fold]
    rest = sorted((s for s in per_fold if s not in order), key=natural_key)
    return order + rest


# --- Markdown ------------------------------------------------------------------------
def markdown(
    results: dict,
    resolved: dict,
    info: dict,
    figures: dict[str, str],
    final: dict | None = None,
) -> str:
    """The whole of ``report.md``: the sections in order. ``results``, ``resolved`` and
    ``info`` are results.json, config.json and run_info.json; ``figures`` the PNGs
    written (name -> path); ``final`` the all-subjects model's metadata, if any."""
    names = _class_names(results, resolved)
    base = _dataset_base(results)
    e, epochs = results.get("eval_epoch"), results.get("epochs")
    lines = _title(results, names, base, e, epochs)
    lines += _config_section(resolved, results)
    lines += _data_section(results, resolved, names)
    lines += _honest_section(results, resolved, e, epochs)
    lines += _seeds_section(results, figures)
    lines += _per_class_section(results, names, figures)
    lines += _fold_section(results, resolved, e)
    lines += _per_source_section(results)
    lines += _curves_section(figures, e)
    lines += _optimistic_section(results, resolved, base, len(names))
    if final:
        lines += _final_model_section(final, results, resolved)
    lines += _run_section(info)
    return "\n".join(lines).rstrip() + "\n"


def _title(results: dict, names: list[str], base: str, e: Any, epochs: Any) -> list[str]:
    title = DATASET_TITLES.get(base, base or "unknown dataset")
    lines = [
        f"# MMNet LOSO report: {title}, {len(names)} classes",
        "",
        f"Dataset `{results.get('dataset', '?')}`; classes: {', '.join(names)}.",
        "",
        *_headline(results, e, epochs),
        "",
    ]
    if base == SYNTHETIC_DATASET:
        lines += [SYNTHETIC_NOTICE, ""]
    return lines


def _honest_section(results: dict, resolved: dict, e: Any, epochs: Any) -> list[str]:
    """The honest figures' heading, how the epoch was chosen, and their table."""
    if _validation(results):
        sel = results["selection"]
        chosen_epochs = list(results.get("selected_epoch_per_subject", {}).values())
        span = (
            f"The chosen epochs range from {min(chosen_epochs)} to {max(chosen_epochs)} "
            f"of {epochs} (first seed; per fold below). "
            if chosen_epochs
            else ""
        )
        heading = "## Results at the epochs chosen on validation subjects (honest LOSO)"
        how = f"Epoch selection rule `eval.select=validation`: {sel.get('description', '')}. "
        how += span + "No test-set selection was used."
    else:
        run = resolved.get("run_config", {})
        chosen = int(run.get("eval", {}).get("epoch", -1)) if run else -1
        setting = (
            "the last epoch, the default of `eval.epoch`"
            if chosen <= 0
            else f"set by `eval.epoch={chosen}` before training"
        )
        heading = "## Results at the pre-declared epoch (honest LOSO)"
        how = (
            f"Every fold is scored at epoch **{e}** of {epochs} ({setting}), the same epoch "
            "for all folds, fixed before training: no test-set selection was used."
        )
    lines = [
        heading,
        "",
        how + " Metrics are over the test predictions of all folds pooled: accuracy, UF1 "
        "(mean of per-class F1) and UAR (mean of per-class recall).",
        "",
    ]
    if _num_seeds(results) > 1:
        lines += [
            f"With {_num_seeds(results)} seeds, the table's accuracy, UF1 and UAR are the "
            "means over seeds; the per-class, confusion, per-fold and per-source breakdowns "
            f"are the first seed's ({results.get('seed')}).",
            "",
        ]
    if results.get("protocol"):
        lines += [f"Protocol: {results['protocol']}.", ""]
    rows = [
        ["accuracy", _pct(results["accuracy"])],
        ["UF1", _f4(results["uf1"])],
        ["UAR", _f4(results["uar"])],
        ["test clips", results.get("num_samples", "?")],
    ]
    return [*lines, *_table(["metric", "value"], rows), ""]


def _per_class_section(results: dict, names: list[str], figures: dict[str, str]) -> list[str]:
    at = _scored_at(results)
    lines = []
    per_class = results.get("per_class", {})
    if per_class:
        rows = [
            [n, pc["support"], _f4(pc["precision"]), _f4(pc["recall"]), _f4(pc["f1"])]
            for n in names
            if (pc := per_class.get(n)) is not None
        ]
        lines += [f"### Per class ({at})", ""]
        lines += _table(["class", "test clips", "precision", "recall", "F1"], rows)
        lines.append("")
    if CONFUSION_PNG in figures:
        lines += [
            f"![Confusion matrix at {at}]({CONFUSION_PNG})",
            "",
            f"Confusion matrix at {at}: rows are true classes, columns predictions; "
            "cells show counts, shaded by the share of their row.",
            "",
        ]
    return lines


def _per_source_section(results: dict) -> list[str]:
    per_source = results.get("per_source") or {}
    if not per_source:
        return []
    lines = [
        f"### Per source dataset ({_scored_at(results)})",
        "",
        "The same pooled predictions, split by the dataset each clip came from.",
        "",
    ]
    rows = [
        [src, m.get("num_samples", "?"), _pct(m["accuracy"]), _f4(m["uf1"]), _f4(m["uar"])]
        for src, m in sorted(per_source.items())
    ]
    return [*lines, *_table(["source", "n", "accuracy", "UF1", "UAR"], rows), ""]


def _headline(results: dict, e: Any, epochs: Any) -> list[str]:
    """The report's first result line(s): the honest figures, how the epoch was chosen,
    the seeds' spread and the interval."""
    if _validation(results):
        k = results["selection"].get("validation_subjects", "?")
        how = (
            f"each fold at its epoch of best UF1 on {k} held-out validation "
            f"subject{'s' * (k != 1)}; "
            "no test-set selection"
        )
    else:
        how = f"epoch {e} of {epochs}, pre-declared; no test-set selection"
    n = _num_seeds(results)
    if n == 1:
        line = (
            f"**Honest result** ({how}): accuracy **{_pct(results['accuracy'])}**, "
            f"UF1 **{_f4(results['uf1'])}**, UAR **{_f4(results['uar'])}**."
        )
    else:
        std = results.get("std", {})
        line = (
            f"**Honest result** ({how}; mean ± standard deviation over {n} seeds): "
            f"accuracy **{_pct(results['accuracy'])} ± {_pct(std.get('accuracy', 0))}**, "
            f"UF1 **{_f4(results['uf1'])} ± {_f4(std.get('uf1', 0))}**, "
            f"UAR **{_f4(results['uar'])} ± {_f4(std.get('uar', 0))}**."
        )
    out = [line]
    ci = results.get("ci95")
    if ci:
        out += [
            "",
            f"95% interval over test subjects (bootstrap): UF1 {_interval(ci['uf1'])}, "
            f"UAR {_interval(ci['uar'])}.",
        ]
    return out


def _interval(lo_hi: list[float]) -> str:
    return f"[{_f4(lo_hi[0])}, {_f4(lo_hi[1])}]"


def _seeds_section(results: dict, figures: dict[str, str]) -> list[str]:
    """Every seed's figures, their spread (with a plot for several seeds) and the
    bootstrap interval with its method."""
    per_seed = results.get("per_seed") or {}
    ci = results.get("ci95")
    if not per_seed and not ci:
        return []
    n = len(per_seed)
    lines = ["### Seeds and uncertainty", ""]
    if per_seed:
        rows = [
            [sd, _pct(m["accuracy"]), _f4(m["uf1"]), _f4(m["uar"]), _f4(m["optimistic"]["uf1"])]
            for sd, m in per_seed.items()
        ]
        if n > 1:
            std = results.get("std", {})
            rows.append(
                [
                    f"mean ± SD ({n} seeds)",
                    f"{_pct(results['accuracy'])} ± {_pct(std.get('accuracy', 0))}",
                    f"{_f4(results['uf1'])} ± {_f4(std.get('uf1', 0))}",
                    f"{_f4(results['uar'])} ± {_f4(std.get('uar', 0))}",
                    _f4(results.get("optimistic", {}).get("uf1", float("nan"))),
                ]
            )
        lines += _table(["seed", "accuracy", "UF1", "UAR", "optimistic UF1"], rows)
        lines += [
            "",
            f"Each seed trains every fold with its own initialisation, batches and "
            f"augmentation ({n} seed{'s' * (n > 1)}, stacked with the folds in one run); the "
            "standard deviation is the sample standard deviation over seeds (0 for one).",
            "",
        ]
    if SEEDS_PNG in figures:
        lines += [
            f"![Seeds' spread]({SEEDS_PNG})",
            "",
            "Each seed's accuracy, UF1 and UAR (dots), their mean (bar) and the 95% "
            "bootstrap interval over test subjects (whiskers).",
            "",
        ]
    if ci:
        lines += [
            f"**95% interval** over test subjects: UF1 {_interval(ci['uf1'])}, UAR "
            f"{_interval(ci['uar'])}. Method: {ci.get('method', 'bootstrap')}. It measures "
            "how much the figures depend on which subjects were tested, not on the seed.",
            "",
        ]
    return lines


def _config_section(resolved: dict, results: dict) -> list[str]:
    run = resolved.get("run_config", {})
    mc = resolved.get("model_config", {})
    ts = resolved.get("train_settings", {})
    train = {**run.get("train", {}), **{k: v for k, v in ts.items() if k != "augment"}}
    aug = ts.get("augment") or run.get("augment", {})
    m = run.get("model", {})
    depth = mc.get("pc_depth", m.get("pc_depth"))
    ratio = mc.get("pc_mlp_ratio", m.get("pc_mlp_ratio"))
    dpr = mc.get("drop_path_rate", m.get("drop_path_rate"))
    variant = f"MMNet, PC module depth {depth}, MLP ratio {ratio}, "
    variant += f"{mc.get('pc_num_heads', m.get('pc_num_heads', '?'))} heads, drop-path {dpr}"
    try:
        official = _OFFICIAL_VARIANTS.get((int(depth), float(ratio), float(dpr)))
    except (TypeError, ValueError):
        official = None
    if official:
        variant += f" ({official})"
    extras = []
    if "dtype" in mc or "dtype" in m:
        extras.append(f"dtype {mc.get('dtype', m.get('dtype'))}")
    if "conv_impl" in mc:
        extras.append(f"convolutions `{mc['conv_impl']}`")
    if "pc_resize_antialias" in mc:
        extras.append(f"PC resize anti-aliasing {'on' if mc['pc_resize_antialias'] else 'off'}")
    if extras:
        variant += "; " + ", ".join(extras)
    lr = train.get("learning_rate")
    sched = ""
    if train.get("lr_decay") not in (None, 1.0) and train.get("lr_decay_epochs"):
        sched = (
            f", times {train['lr_decay']} after each of the first {train['lr_decay_epochs']} epochs"
        )
    aug_parts = []
    if aug:
        aug_parts.append(f"flip {'on' if aug.get('flip') else 'off'}")
        aug_parts.append(f"rotation ±{aug.get('rotation_deg', 0)}°")
        aug_parts.append(f"crop padding {aug.get('crop_padding', 0)} px")
        jitter = (
            f"on ({aug.get('jitter', '5class')} ranges)" if aug.get("temporal_jitter") else "off"
        )
        aug_parts.append(f"temporal jitter {jitter}")
    image_size = mc.get("image_size", run.get("data", {}).get("image_size", "?"))
    steps = ""
    if "steps_per_epoch" in train:
        k = int(train["steps_per_epoch"])
        if run.get("train", {}).get("schedule", "per_fold") == "per_fold":
            # The program's length: each fold takes its own ceil(n_train / batch) of them.
            steps = (
                f" (each model ceil(its training clips / batch) steps per epoch; the LOSO "
                f"folds at most {k})"
            )
        else:
            steps = f" ({k} step{'s' if k != 1 else ''} per epoch, every fold: wrapped)"
    rows = [
        ["model", variant],
        ["epochs", f"{train.get('epochs', results.get('epochs', '?'))}{steps}"],
        ["evaluation epoch", _epoch_setting(resolved, results)],
        ["batch size", train.get("batch_size", "?")],
        ["optimiser", f"AdamW, learning rate {lr}{sched}"],
        ["weight decay", train.get("weight_decay", "?")],
        ["image size", f"{image_size} px"],
        ["seed", _seed_setting(run, results)],
        ["augmentation", ", ".join(aug_parts) if aug_parts else "?"],
    ]
    folds = run.get("folds", {})
    if folds.get("only"):
        rows.append(["folds", f"only {folds['only']} (a partial run)"])
    return ["## Configuration", "", *_table(["setting", "value"], rows, "ll"), ""]


def _epoch_setting(resolved: dict, results: dict) -> Any:
    if _validation(results):
        k = results["selection"].get("validation_subjects", "?")
        return f"best validation UF1 per fold (eval.select=validation, {k} held out)"
    return resolved.get("eval_epoch", results.get("eval_epoch", "?"))


def _seed_setting(run: dict, results: dict) -> Any:
    seeds = results.get("seeds") or []
    if len(seeds) > 1:
        return f"{seeds[0]} to {seeds[-1]} ({len(seeds)} seeds, num_seeds={len(seeds)})"
    return run.get("seed", results.get("seed", "?"))


def _data_section(results: dict, resolved: dict, names: list[str]) -> list[str]:
    data = resolved.get("data", {})
    counts = results.get("class_counts") or data.get("class_counts") or {}
    total = sum(int(v) for v in counts.values()) or data.get("num_clips", 0)
    subjects = data.get("subjects") or list(results.get("per_fold", {}))
    n_subj = results.get("num_subjects", len(subjects))
    lines = [
        "## Data",
        "",
        f"`{results.get('dataset', data.get('dataset', '?'))}`: {total} clips, "
        f"{n_subj} test subjects (one fold each).",
        "",
    ]
    if counts:
        rows = [
            [n, counts.get(n, 0), _pct(counts.get(n, 0) / total) if total else "-"] for n in names
        ]
        lines += _table(["class", "clips", "share"], rows)
        lines.append("")
        if total:
            biggest, chance = chance_levels(counts, names)
            lines += [
                f"Chance levels: always predicting the largest class ({biggest}) scores "
                f"accuracy {_pct(chance['accuracy'])}, UF1 {_f4(chance['uf1'])} and UAR "
                f"{_f4(chance['uar'])}.",
                "",
            ]
    tested = results.get("num_samples")
    if tested is not None and total and tested != total:
        lines += [f"{tested} of the {total} clips are tested in this run.", ""]
    return lines


def chance_levels(counts: dict[str, int], names: list[str]) -> tuple[str, dict]:
    """(largest class, its metrics) for always predicting the largest class.

    ``counts`` maps class name to clips. The metrics (``accuracy``, ``uf1``, ``uar``)
    come from ``metrics.from_confusion``, so they follow the run's own definitions
    (classes without clips are left out of UF1 and UAR).
    """
    biggest = max(names, key=lambda n: counts.get(n, 0))
    cm = np.zeros((len(names), len(names)), np.int64)
    cm[:, names.index(biggest)] = [int(counts.get(n, 0)) for n in names]
    return biggest, metrics.from_confusion(cm, names)


def _fold_section(results: dict, resolved: dict, e: Any) -> list[str]:
    per_fold = results.get("per_fold", {})
    if not per_fold:
        return []
    order = _fold_order(results, resolved)
    chosen = results.get("selected_epoch_per_subject", {}) if _validation(results) else {}
    rows = []
    for s in order:
        m = per_fold[s]
        rows.append(
            [s, m.get("num_samples", "?"), _pct(m["accuracy"]), _f4(m["uf1"]), _f4(m["uar"])]
            + ([chosen.get(s, "?")] if chosen else [])
        )
    accs = [float(per_fold[s]["accuracy"]) for s in order]
    uf1s = [float(per_fold[s]["uf1"]) for s in order]
    lines = [
        f"### Per fold ({_scored_at(results)}{', first seed' * (_num_seeds(results) > 1)})",
        "",
        "One row per held-out subject. A subject has few clips, often of a few classes "
        "only (UF1 and UAR count the classes present), so these vary widely; the pooled "
        "figures above are the result.",
        "",
    ]
    header = ["subject", "n", "accuracy", "UF1", "UAR"] + (["epoch"] if chosen else [])
    lines += _table(header, rows)
    lines.append("")
    if len(accs) > 1:
        lines += [
            f"Unweighted mean over {len(accs)} folds: accuracy {_pct(statistics.mean(accs))} "
            f"(SD {_pct(statistics.stdev(accs))}), UF1 {_f4(statistics.mean(uf1s))} "
            f"(SD {_f4(statistics.stdev(uf1s))}).",
            "",
        ]
    return lines


def _curves_section(figures: dict[str, str], e: Any) -> list[str]:
    lines = []
    if CURVES_PNG in figures:
        lines += [
            "## Learning curves",
            "",
            f"![Learning curves]({CURVES_PNG})",
            "",
            "Pooled test accuracy, UF1 and UAR of all folds per epoch, and the mean training "
            f"loss; the dashed line marks the evaluation epoch ({e}). The curves are shown "
            "for diagnosis only; no epoch was chosen from them.",
            "",
        ]
    if FOLD_CURVES_PNG in figures:
        lines += [
            f"![Per-fold curves]({FOLD_CURVES_PNG})",
            "",
            "Each fold's test accuracy and training loss per epoch (thin lines); the thick "
            "line is the pooled test accuracy.",
            "",
        ]
    return lines


def _optimistic_section(results: dict, resolved: dict, base: str, c: int) -> list[str]:
    opt = results.get("optimistic")
    lines = ["## For comparison only: optimistic figure and the paper", ""]
    if opt and "uf1" in opt:
        lines += [
            f"**How far the optimistic rule inflates this run** (optimistic minus honest): "
            f"UF1 {float(opt['uf1']) - float(results['uf1']):+.4f}, "
            f"UAR {float(opt['uar']) - float(results['uar']):+.4f}.",
            "",
        ]
    if opt:
        label = opt.get("label", "optimistic")
        lines += _table(
            ["", "accuracy", "UF1", "UAR"],
            [
                [
                    f"honest ({_scored_at(results)})",
                    _pct(results["accuracy"]),
                    _f4(results["uf1"]),
                    _f4(results["uar"]),
                ],
                [label, _pct(opt["accuracy"]), _f4(opt["uf1"]), _f4(opt["uar"])],
            ],
        )
        lines.append("")
        spread = ""
        for key, what in (
            ("best_accuracy_epoch_per_subject", "accuracy"),
            ("best_f1_epoch_per_subject", "F1"),
        ):
            best = list((opt.get(key) or {}).values())
            if best and min(best) == max(best):
                spread += f" Every subject's best-{what} epoch is {best[0]}."
            elif best:
                spread += (
                    f" The best-{what} epochs range from {min(best)} to {max(best)} "
                    f"(median {statistics.median(best):g})."
                )
        lines += [
            f'The line labelled "{label}" is optimistic: it is computed by the official MMNet '
            "scripts' rule, which lets each held-out subject's own test labels choose its "
            "epochs. The accuracy sums, over subjects, the most test clips any epoch got "
            "right; UF1 and UAR pool the per-class counts of each subject's best-F1 epoch "
            "(subject F1: the mean over the classes in its labels or predictions of "
            "2TP/(predicted+actual); ties to the later epoch). That is model selection on "
            "the test set; it favours lucky epochs and overstates what the model would "
            "score on unseen subjects (Varanka et al., TAFFC 2024, measured UF1 gains of "
            f"0.06 to 0.15 from it). It is shown only to compare with published numbers.{spread}",
            "",
        ]
        lines += _side_by_side(results, opt)
    if base in (COMPOSITE_DATASET, "flow_images"):
        lines += _published_composite(results)
    paper = paper_result(base, c)
    if paper:
        task, acc, f1 = paper
        mc = resolved.get("model_config", {})
        size = mc.get("image_size")
        lines += [
            f"Paper (MMNet, IJCAI 2022), {task}: accuracy {acc:.2f}%, F1 {f1:.4f}. "
            "These figures use best-epoch selection on the test subjects, as the official "
            "code does, so they compare with the optimistic line, not the honest one.",
            "",
        ]
        diffs = []
        if size not in (None, 224):
            diffs.append(f"image size {size} px (paper: 224)")
        only = resolved.get("run_config", {}).get("folds", {}).get("only")
        if only:
            diffs.append("only some folds were run")
        if diffs:
            lines += [f"This run differs from the paper's setting: {'; '.join(diffs)}.", ""]
    else:
        lines += [f"No published MMNet figure for this dataset with {c} classes.", ""]
    return lines


def _side_by_side(results: dict, opt: dict) -> list[str]:
    """UF1 and UAR overall and per source dataset, honest beside optimistic, as the MEGC
    2019 tables report them; only for a run with several sources."""
    per_source = results.get("per_source") or {}
    opt_source = opt.get("per_source") or {}
    if not per_source:
        return []
    rows = [
        [
            "all (composite)",
            results.get("num_samples", "?"),
            _f4(results["uf1"]),
            _f4(opt["uf1"]),
            _f4(results["uar"]),
            _f4(opt["uar"]),
        ]
    ]
    for src in sorted(per_source):
        m, o = per_source[src], opt_source.get(src)
        rows.append(
            [
                DATASET_TITLES.get(src, src),
                m.get("num_samples", "?"),
                _f4(m["uf1"]),
                _f4(o["uf1"]) if o else "-",
                _f4(m["uar"]),
                _f4(o["uar"]) if o else "-",
            ]
        )
    header = ["", "n", "UF1 honest", "UF1 optimistic", "UAR honest", "UAR optimistic"]
    return [
        f"UF1 and UAR overall and per source dataset (honest: {_scored_at(results)}):",
        "",
        *_table(header, rows),
        "",
    ]


def _published_composite(results: dict) -> list[str]:
    """The published MEGC 2019 composite figures (``PUBLISHED_COMPOSITE``)."""
    sources = sorted((results.get("per_source") or {}) or ["casme2", "samm", "smic"])
    header = ["method", "UF1", "UAR", *[f"UF1 {DATASET_TITLES.get(s, s)}" for s in sources]]
    header.append("epoch selection")
    rows = []
    for p in PUBLISHED_COMPOSITE:
        per = p.get("per_source_uf1", {})
        rows.append(
            [
                p["method"],
                _f4(p["uf1"]),
                _f4(p["uar"]),
                *[_f4(per[s]) if s in per else "-" for s in sources],
                p["selection"],
            ]
        )
    return [
        "Published figures for the same task (MEGC 2019 composite: 442 clips, 3 classes, "
        "leave-one-subject-out over 68 subjects, UF1 and UAR over the pooled predictions). "
        "MMNet (IJCAI 2022) published no composite figure. Each is shown with its epoch "
        "rule: one that selects on the test subjects compares with the optimistic column, "
        "not the honest one:",
        "",
        *_table(header, rows, "l" + "r" * (len(header) - 2) + "l"),
        "",
    ]


def _final_model_section(final: dict, results: dict, resolved: dict) -> list[str]:
    data = resolved.get("data", {})
    subjects = data.get("subjects") or list(results.get("per_fold", {}))
    counts = results.get("class_counts") or data.get("class_counts") or {}
    clips = sum(int(v) for v in counts.values()) or data.get("num_clips", "?")
    epochs = final["meta"].get("epochs", results.get("epochs", "?"))
    where = f"`{final['path']}`"
    if not final["exists"]:
        where += " (asked for by `final_model=True`, but not there: the run did not finish it)"
    lines = [
        "## All-subjects model",
        "",
        f"Besides the LOSO folds, one model was trained on every subject: all {len(subjects)} "
        f"subjects, {clips} clips of `{results.get('dataset', data.get('dataset', '?'))}`, "
        f"{epochs} epochs, with the same settings. It is the model to deploy; it has no "
        "held-out subject, so it has no test score of its own (the LOSO figures above "
        "estimate how such a model does on new subjects).",
        "",
        f"Saved in {where}.",
    ]
    source = final["meta"].get("source")
    if source:
        lines[-1] += f" Its model.json says: {source}."
    return lines + [""]


def _run_section(info: dict) -> list[str]:
    compile_s = info.get("compile_seconds") or []
    if isinstance(compile_s, (int, float)):
        compile_s = [compile_s]
    devices = list(info.get("devices") or [])
    if len(devices) > 8:
        dev_text = f"{len(devices)} devices ({devices[0]} ... {devices[-1]})"
    else:
        dev_text = ", ".join(devices) if devices else "unknown"
    compile_text = _duration(sum(compile_s)) if compile_s else "unknown"
    if len(compile_s) > 1:
        compile_text += f" over {len(compile_s)} compiled epoch programs"
    rows = []
    for key, name in (("command", "command"), ("commit", "commit"), ("date", "date")):
        if info.get(key):
            value = info[key]
            if isinstance(value, list | tuple):
                value = " ".join(map(str, value))
            rows.append([name, f"`{value}`" if key != "date" else value])
    rows += [
        ["run time", _duration(info.get("seconds"))],
        ["compile time", compile_text],
        ["backend", info.get("backend", "unknown")],
        ["devices", dev_text],
    ]
    if info.get("process_count", 1) != 1:
        rows.append(["processes", info["process_count"]])
    groups = info.get("fold_groups")
    if groups:
        rows.append(["fold groups", f"{len(groups)} (up to {max(map(len, groups))} folds each)"])
    for key, name in (("fold_loop", "fold loop"), ("conv_impl", "convolutions")):
        if key in info:
            rows.append([name, info[key]])
    if "jax_version" in info:
        rows.append(["JAX", info["jax_version"]])
    return ["## Run", "", *_table(["", ""], rows, "ll"), ""]
