"""Compare finished LOSO runs: one row per run, and paired differences for runs on the
same clips.

Example::

    mmnet compare runs/casme2_seeds runs/casme2_validation --format markdown

Each row: dataset and task, protocol (epoch selection rule, epochs, seeds), accuracy,
UF1 and UAR as mean +- sample std over seeds with the 95% bootstrap interval over test
subjects, and the optimistic UF1 (test-selected) apart. Runs on the same clips also get
UF1 differences with a paired bootstrap interval. docs/training.md ("Comparing runs") says more.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import sys
from typing import Any

import numpy as np
from absl import flags
from etils import epath

from mmnet_jax import cli
from mmnet_jax import workdir as workdir_files
from mmnet_jax.evaluation import metrics
from mmnet_jax.reporting import published, tables

FORMATS = ("markdown", "csv", "latex")
OPTIMISTIC_NOTE = (
    "optimistic UF1: each test subject's best test epoch, as the official code picks it; "
    "it selects on the test subjects, so compare runs by the honest columns"
)
CSV_COLUMNS = (
    "run",
    "dataset",
    "classes",
    "selection",
    "epochs",
    "seeds",
    "accuracy",
    "accuracy_std",
    "uf1",
    "uf1_std",
    "uf1_ci_low",
    "uf1_ci_high",
    "uar",
    "uar_std",
    "uar_ci_low",
    "uar_ci_high",
    "optimistic_uf1",
    "model",
)
PAIRED_COLUMNS = ("run_a", "run_b", "uf1_difference", "ci_low", "ci_high", "subjects")


@dataclasses.dataclass
class Run:
    """A finished run's results.json and, when present, its epoch_predictions.npz."""

    name: str
    results: dict[str, Any]
    arrays: dict[str, np.ndarray] | None
    model: str = "mmnet"  # the registry model (its config.json's; mmnet when absent)

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.results.get("seeds", [self.results.get("seed", 0)])]

    @property
    def rule(self) -> str:
        return self.results.get("selection", {}).get("rule", "last")

    def epochs_of(self, seed_index: int) -> dict[str, int]:
        """The epoch each test subject's fold is scored at, for one seed."""
        seed = str(self.seeds[seed_index])
        chosen = self.results.get("per_seed", {}).get(seed, {}).get("selected_epoch_per_subject")
        if chosen:
            return {s: int(e) for s, e in chosen.items()}
        e = int(self.results["eval_epoch"])
        return {s: e for s in self.results.get("per_fold", {})}

    def subject_confusions(self) -> tuple[list[str], np.ndarray] | None:
        """(sorted test subjects, (S, n, C, C) confusions at the scored epochs), or None
        without an epoch_predictions.npz."""
        if self.arrays is None:
            return None
        subject = self.arrays["subject"]
        y = self.arrays["label"]
        pred = self.arrays["prediction"]
        c = len(self.results["class_names"])
        subjects = sorted(set(subject.tolist()))
        out = np.zeros((len(self.seeds), len(subjects), c, c), np.int64)
        for k in range(len(self.seeds)):
            epoch_of = self.epochs_of(k)
            for i, s in enumerate(subjects):
                sel = subject == s
                out[k, i] = metrics.confusion(y[sel], pred[k, epoch_of[s] - 1][sel], c)
        return subjects, out

    def ci95(self) -> dict | None:
        if "ci95" in self.results:
            return self.results["ci95"]
        conf = self.subject_confusions()
        return metrics.bootstrap_subjects(conf[1]) if conf else None

    def clips(self) -> tuple | None:
        """What makes two runs' tests the same: (clip id, subject, label) of every clip."""
        if self.arrays is None:
            return None
        a = self.arrays
        return tuple(
            sorted(zip(a["id"].tolist(), a["subject"].tolist(), a["label"].tolist(), strict=True))
        )


def load_run(path: str) -> Run:
    """Read a finished run's workdir.

    Raises:
      cli.UserError: the folder is missing, holds no finished run, or cannot be read.
    """
    wd = epath.Path(path)
    if not wd.exists():
        cli.fail(f"run {path} does not exist")
    if not wd.is_dir():
        cli.fail(f"run {path} is not a folder")
    res_file = wd / workdir_files.RESULTS
    if not res_file.exists():
        if (wd / workdir_files.CONFIG).exists():
            cli.fail(f"run {path} is unfinished: no results.json yet")
        cli.fail(f"{path} is not a run's workdir: no results.json")
    try:
        results = json.loads(res_file.read_text())
        for key in ("accuracy", "uf1", "uar", "eval_epoch", "class_names"):
            if key not in results:
                raise ValueError(f"no {key!r}")
    except (OSError, ValueError) as e:
        cli.fail(f"{res_file} cannot be read: {e}")
    arrays = None
    npz = wd / workdir_files.EPOCH_PREDICTIONS
    if npz.exists():
        try:
            with np.load(io.BytesIO(npz.read_bytes())) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            cli.fail(f"{npz} cannot be read: {e}")
    model = "mmnet"
    cfg_file = wd / workdir_files.CONFIG
    if cfg_file.exists():
        try:
            model = str(json.loads(cfg_file.read_text()).get("model", "mmnet"))
        except (OSError, ValueError) as e:
            cli.fail(f"{cfg_file} cannot be read: {e}")
    return Run(str(path).rstrip("/"), results, arrays, model)


# --- rows ----------------------------------------------------------------------------
def row(run: Run) -> dict[str, Any]:
    """One run's figures, keyed by ``CSV_COLUMNS`` (numbers as floats; None if unknown)."""
    r = run.results
    std = r.get("std", {})
    ci = run.ci95() or {}
    return {
        "run": run.name,
        "dataset": r.get("dataset", "?"),
        "classes": len(r["class_names"]),
        "selection": _selection(r),
        "epochs": r.get("epochs"),
        "seeds": len(run.seeds),
        "accuracy": r["accuracy"],
        "accuracy_std": std.get("accuracy", 0.0),
        "uf1": r["uf1"],
        "uf1_std": std.get("uf1", 0.0),
        "uf1_ci_low": ci.get("uf1", [None, None])[0],
        "uf1_ci_high": ci.get("uf1", [None, None])[1],
        "uar": r["uar"],
        "uar_std": std.get("uar", 0.0),
        "uar_ci_low": ci.get("uar", [None, None])[0],
        "uar_ci_high": ci.get("uar", [None, None])[1],
        "optimistic_uf1": r.get("optimistic", {}).get("uf1"),
        "model": run.model,
    }


def paired(runs: list[Run]) -> list[dict[str, Any]]:
    """UF1 differences (A - B) with paired bootstrap intervals, for every two runs on the
    same clips (same ids, subjects and labels), keyed by ``PAIRED_COLUMNS``."""
    out = []
    for a, b in itertools.combinations(runs, 2):
        if a.clips() is None or a.clips() != b.clips():
            continue
        (subjects, ca), (_, cb) = a.subject_confusions(), b.subject_confusions()
        p = metrics.paired_bootstrap(ca, cb)
        out.append(
            {
                "run_a": a.name,
                "run_b": b.name,
                "uf1_difference": p["uf1_difference"],
                "ci_low": p["ci95"][0],
                "ci_high": p["ci95"][1],
                "subjects": len(subjects),
            }
        )
    return out


def _selection(r: dict) -> str:
    """The epoch selection rule in a few words: "epoch 8" (pre-declared, the same for
    every fold) or "best validation UF1 (2 subjects)"."""
    sel = r.get("selection", {})
    if sel.get("rule") == "validation":
        k = sel.get("validation_subjects", "?")
        return f"best validation UF1 ({k} subject{'s' * (k != 1)})"
    return f"epoch {r['eval_epoch']} (pre-declared)"


def _protocol(d: dict) -> str:
    seeds = d["seeds"]
    return f"{d['selection']}, {d['epochs']} epochs, {seeds} seed{'s' * (seeds != 1)}"


def _f(x: Any, digits: int = 4) -> str:
    return "-" if x is None else f"{float(x):.{digits}f}"


def _mean_std_ci(d: dict, key: str, pm: str) -> str:
    text = f"{_f(d[key])} {pm} {_f(d[f'{key}_std'])}"
    if d.get(f"{key}_ci_low") is not None:
        text += f" [{_f(d[f'{key}_ci_low'])}, {_f(d[f'{key}_ci_high'])}]"
    return text


def _cells(d: dict, pm: str) -> list[str]:
    return [
        d["run"],
        f"{d['dataset']}, {d['classes']} classes",
        _protocol(d),
        f"{_f(d['accuracy'])} {pm} {_f(d['accuracy_std'])}",
        _mean_std_ci(d, "uf1", pm),
        _mean_std_ci(d, "uar", pm),
        _f(d["optimistic_uf1"]),
        d["model"],
    ]


HEADER = [
    "run", "dataset, task", "protocol", "accuracy", "UF1", "UAR", "optimistic UF1 *", "model"
]  # fmt: skip
PAIRED_HEADER = ["run A", "run B", "UF1 A - B", "95% interval", "test subjects"]
LEGEND = (
    "accuracy, UF1, UAR: mean ± sample std over seeds [95% bootstrap interval over test subjects]"
)


def markdown(rows: list[dict], pairs: list[dict]) -> str:
    table = tables.table
    lines = table(HEADER, [_cells(d, "±") for d in rows])
    lines += ["", f"{LEGEND}; * {OPTIMISTIC_NOTE}."]
    if pairs:
        lines += ["", "Paired comparisons (runs on the same clips):", ""]
        lines += table(PAIRED_HEADER, [_pair_cells(p) for p in pairs])
    if rows and all(_composite(d["dataset"]) for d in rows):
        lines += ["", *published_lines()]
    return "\n".join(lines) + "\n"


def _composite(dataset: str) -> bool:
    """A run on the MEGC 2019 composite (its clips, or the STSTNet release's flow images
    of them)."""
    return str(dataset).split("/")[0] in (published.COMPOSITE_DATASET, "flow_images")


def published_lines() -> list[str]:
    """The published composite figures, each with its selection rule: beside the runs,
    not comparable with them unless the rule is the same."""
    body = [
        [p["method"], _f(p["uf1"]), _f(p["uar"]), p["selection"]]
        for p in published.PUBLISHED_COMPOSITE
    ]
    return [
        "Published on the MEGC 2019 composite (other code, other flow; each with its epoch "
        "rule: only a rule without the test subject is comparable with the rows above):",
        "",
        *tables.table(["method", "UF1", "UAR", "epoch selection"], body, "lrrl"),
    ]


def _pair_cells(p: dict) -> list[str]:
    return [
        p["run_a"],
        p["run_b"],
        f"{float(p['uf1_difference']):+.4f}",
        f"[{float(p['ci_low']):+.4f}, {float(p['ci_high']):+.4f}]",
        str(p["subjects"]),
    ]


def csv_text(rows: list[dict], pairs: list[dict]) -> str:
    """The runs as CSV (``CSV_COLUMNS``); paired comparisons, if any, follow after an
    empty line as a second CSV table (``PAIRED_COLUMNS``)."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    if pairs:
        out.write("\n")
        w = csv.DictWriter(out, fieldnames=PAIRED_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(pairs)
    return out.getvalue()


_LATEX_ESCAPES = {c: "\\" + c for c in "&%$#_{}"} | {"~": r"\textasciitilde{}", "^": r"\^{}"}


def _tex(text: str) -> str:
    """``text`` with LaTeX's special characters escaped; ``±`` as ``$\\pm$``."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text)).replace("±", "$\\pm$")


def latex(rows: list[dict], pairs: list[dict]) -> str:
    def tabular(header, body, align):
        lines = [f"\\begin{{tabular}}{{{align}}}", "\\hline"]
        lines.append(" & ".join(_tex(h) for h in header) + r" \\")
        lines.append("\\hline")
        lines += [" & ".join(_tex(c) for c in cells) + r" \\" for cells in body]
        return lines + ["\\hline", "\\end{tabular}"]

    lines = tabular(HEADER, [_cells(d, "±") for d in rows], "lll" + "r" * 4 + "l")
    lines.append("% " + _tex(LEGEND.replace("±", "+-")) + "; * " + _tex(OPTIMISTIC_NOTE))
    if pairs:
        lines += ["", *tabular(PAIRED_HEADER, [_pair_cells(p) for p in pairs], "llrrr")]
    return "\n".join(lines) + "\n"


def render(runs: list[Run], fmt: str) -> str:
    """The comparison of ``runs`` in ``fmt`` (one of ``FORMATS``)."""
    rows, pairs = [row(r) for r in runs], paired(runs)
    return {"markdown": markdown, "csv": csv_text, "latex": latex}[fmt](rows, pairs)


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum("format", "markdown", list(FORMATS), "output format", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    if not positional:
        cli.fail("give one or more run workdirs: mmnet compare RUN_DIR... (see --help)")
    runs = [load_run(p) for p in positional]
    sys.stdout.write(render(runs, fv.format))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``mmnet compare RUN_DIR... [--format markdown|csv|latex]``."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
