"""The report's figures (PNG files in the workdir): confusion matrix, learning curves,
per-fold curves, the seeds' spread. Matplotlib with the Agg backend, imported when a
figure is drawn."""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import numpy as np
from etils import epath

from mmnet_jax import workdir as workdir_files

CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "learning_curves.png"
FOLD_CURVES_PNG = "per_fold_curves.png"
SEEDS_PNG = "seeds_spread.png"


def natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]


# --- figures -------------------------------------------------------------------------
def _new_figure(width: float, height: float):
    # A figure with its own Agg canvas: no pyplot, no global backend change.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: epath.Path) -> None:
    """``fig`` as a PNG at ``path`` (local or remote: the bytes go through epath)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.1)
    path.write_bytes(buf.getvalue())


def write_figures(wd: epath.Path, results: dict) -> dict[str, str]:
    """Write the PNGs; returns {file name: path} of those written."""
    out = {}
    names = results.get("class_names") or list(results.get("per_class", {}))
    if results.get("confusion") and names:
        path = wd / CONFUSION_PNG
        _confusion_figure(results["confusion"], names, results.get("eval_epoch"), path)
        out[CONFUSION_PNG] = str(path)
    curves = results.get("curves") or {}
    if curves.get("epoch"):
        path = wd / CURVES_PNG
        _curves_figure(curves, results.get("eval_epoch"), len(names), path)
        out[CURVES_PNG] = str(path)
    per_seed = results.get("per_seed") or {}
    if len(per_seed) > 1:
        path = wd / SEEDS_PNG
        _seeds_figure(per_seed, results.get("ci95"), results, path)
        out[SEEDS_PNG] = str(path)
    folds = _read_fold_metrics(wd / workdir_files.METRICS, results.get("seed"))
    if folds:
        path = wd / FOLD_CURVES_PNG
        _fold_curves_figure(folds, curves, results.get("eval_epoch"), path)
        out[FOLD_CURVES_PNG] = str(path)
    return out


def _confusion_figure(cm: list[list[int]], names: list[str], epoch: Any, path) -> None:
    cm = np.asarray(cm, dtype=np.int64)
    c = len(names)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    longest = max((len(n) for n in names), default=1)
    side = max(3.2, 0.85 * c + 1.5)
    label_room = 0.07 * min(longest, 24)
    fig = _new_figure(side + label_room + 1.0, side + label_room)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fontsize = 12 if c <= 4 else 10
    for i in range(c):
        for j in range(c):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{100 * share[i, j]:.0f}%" if cm[i, j] else "0",
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if share[i, j] > 0.55 else "black",
            )
    tilt = longest > 6 or c > 5
    ax.set_xticks(range(c), names, rotation=35 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (epoch {epoch}, {int(cm.sum())} clips)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    _save(fig, path)


def _curves_figure(curves: dict, epoch: Any, num_classes: int, path) -> None:
    x = list(curves["epoch"])
    fig = _new_figure(8.0, 6.5)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    marker = "o" if len(x) <= 30 else None
    styles = (("accuracy", "accuracy", "-"), ("uf1", "UF1", "--"), ("uar", "UAR", "-."))
    for key, label, ls in styles:
        if curves.get(key):
            ax1.plot(x, curves[key], ls, marker=marker, markersize=3, label=label)
    if num_classes:
        ax1.axhline(1 / num_classes, color="grey", lw=0.8, ls=":", label="chance UAR")
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_ylabel("pooled test metric")
    ax1.grid(alpha=0.3)
    loss = curves.get("train_loss") or []
    if loss:
        ax2.plot(x[: len(loss)], loss, color="tab:red", marker=marker, markersize=3)
        finite = [v for v in loss if v is not None and math.isfinite(v) and v > 0]
        if finite and max(finite) / min(finite) > 100:
            ax2.set_yscale("log")
    ax2.set_ylabel("training loss\n(mean over folds)")
    ax2.set_xlabel("epoch")
    ax2.grid(alpha=0.3)
    if epoch is not None:
        for ax in (ax1, ax2):
            ax.axvline(epoch, color="black", ls="--", lw=1)
        ax1.plot([], [], color="black", ls="--", lw=1, label=f"evaluation epoch ({epoch})")
    ax1.legend(loc="best", fontsize=9)
    ax1.set_title("Pooled LOSO test metrics per epoch (not used to choose an epoch)")
    _integer_ticks(ax2, x)
    _save(fig, path)


def _integer_ticks(ax, x: list) -> None:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(x) == 1:
        ax.set_xlim(x[0] - 1, x[0] + 1)


def _seeds_figure(per_seed: dict, ci: dict | None, results: dict, path) -> None:
    fig = _new_figure(5.0, 3.2)
    ax = fig.add_subplot()
    keys = (("accuracy", "accuracy"), ("uf1", "UF1"), ("uar", "UAR"))
    for i, (key, _) in enumerate(keys):
        values = [float(m[key]) for m in per_seed.values()]
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        ax.bar(i, float(results[key]), width=0.5, color="tab:blue", alpha=0.25)
        ax.scatter([i + o for o in offsets], values, color="tab:blue", s=18, zorder=3)
        if ci and key in ci:
            lo, hi = ci[key]
            ax.errorbar(
                i + 0.3, results[key], yerr=[[results[key] - lo], [hi - results[key]]],
                fmt="none", ecolor="black", capsize=4, lw=1,
            )  # fmt: skip
    ax.set_xticks(range(len(keys)), [label for _, label in keys])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("pooled test metric")
    ax.set_title(f"{len(per_seed)} seeds: each seed (dots), mean (bar), 95% interval")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def _read_fold_metrics(
    path: epath.Path, seed: Any = None
) -> dict[str, dict[str, dict[int, float]]]:
    """{fold: {"acc": {epoch: accuracy}, "loss": {epoch: loss}}} from ``metrics.jsonl``
    (the lines of seed ``seed`` only, when lines name their seed)."""
    if not path.exists():
        return {}
    folds: dict[str, dict[str, dict[int, float]]] = {}
    try:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if "test_accuracy" not in rec:  # the all-subjects model has no test clips
                continue
            if "seed" in rec and seed is not None and int(rec["seed"]) != int(seed):
                continue
            f = folds.setdefault(str(rec["fold"]), {"acc": {}, "loss": {}})
            f["acc"][int(rec["epoch"])] = float(rec["test_accuracy"])
            if rec.get("train_loss") is not None:
                f["loss"][int(rec["epoch"])] = float(rec["train_loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return folds


def _fold_curves_figure(folds: dict, curves: dict, epoch: Any, path) -> None:
    n = len(folds)
    fig = _new_figure(8.0, 6.5)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    alpha = max(0.12, min(0.8, 2.0 / math.sqrt(n)))
    lw = 1.0 if n <= 12 else 0.6
    legend = n <= 12
    xs = set()
    for name in sorted(folds, key=natural_key):
        f = folds[name]
        e = sorted(f["acc"])
        xs.update(e)
        (line,) = ax1.plot(
            e, [f["acc"][i] for i in e], lw=lw, alpha=alpha, label=name if legend else None
        )
        le = sorted(f["loss"])
        ax2.plot(le, [f["loss"][i] for i in le], lw=lw, alpha=alpha, color=line.get_color())
    if curves.get("epoch") and curves.get("accuracy"):
        ax1.plot(curves["epoch"], curves["accuracy"], color="black", lw=2.2, label="pooled")
    if epoch is not None:
        for ax in (ax1, ax2):
            ax.axvline(epoch, color="black", ls="--", lw=1)
    ax1.set_ylim(-0.03, 1.03)
    ax1.set_ylabel("test accuracy")
    ax1.set_title(f"Per-fold test accuracy ({n} folds, thin lines) and pooled (thick)")
    ax1.grid(alpha=0.3)
    if legend:
        ax1.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    else:
        ax1.legend(loc="best", fontsize=9)
    ax2.set_ylabel("training loss")
    ax2.set_xlabel("epoch")
    ax2.grid(alpha=0.3)
    _integer_ticks(ax2, sorted(xs))
    _save(fig, path)
