"""``mmnet evaluate-spotting``: spotting and spot-then-recognise (STRS) scores of predicted
intervals against ground truth, as the public STRS-Metric scorer computes them.

    mmnet evaluate-spotting --gt gt.csv --pred pred.csv --json scores.json

Both files are CSVs with the scorer's columns ``subject,video,onset,offset,emotion``
(a header row, any column order, other columns ignored; subject and video read as text,
so ``006`` is not ``6``; frames whole numbers, both ends included; an empty emotion is
none). Prints a small table and, with ``--json``, writes the figures: ``strs``,
``spotting`` (tp, fp, fn, precision, recall, f1), ``analysis`` (tp, fp, fn, precision,
recall, f1, uf1, uar, uar_strs_metric); a NaN is written as null. The scorer's rules
and quirks, and where it fails: docs/spotting.md.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Sequence

from absl import flags

from mmnet_jax import cli
from mmnet_jax.evaluation import spotting

COLUMNS = ("subject", "video", "onset", "offset", "emotion")
# The cells pandas reads as NaN (pandas.read_csv's default na_values, as the scorer's
# main.py reads its files): an emotion spelled so is no emotion.
NA_VALUES = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
     "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null"]
)  # fmt: skip


def _frame(text: str, where: str, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)  # 10.0, as pandas reads a column with a decimal point
        if value.is_integer():
            return int(value)
    except ValueError:
        pass
    cli.fail(f"{where}: {column} {text.strip()!r} is not a whole frame number")


def read_intervals(path: str) -> list[spotting.Interval]:
    """The intervals of a CSV in the scorer's format, in file order.

    Raises:
      cli.UserError: the file cannot be read, lacks a column, or has a bad row (named).
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                cli.fail(f"{path} is empty: no header row ({','.join(COLUMNS)})")
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                cli.fail(
                    f"{path} has no column {', '.join(map(repr, missing))} (it needs "
                    f"{','.join(COLUMNS)}; found {','.join(header) or 'none'})"
                )
            at = {c: header.index(c) for c in COLUMNS}
            out, row = [], 0
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue  # blank lines are skipped, as pandas skips them
                row += 1
                where = f"{path}, row {row} (line {reader.line_num})"
                cell = {c: cells[i] if i < len(cells) else "" for c, i in at.items()}
                for c in ("subject", "video"):
                    if not cell[c].strip():
                        cli.fail(f"{where}: empty {c}")
                onset = _frame(cell["onset"], where, "onset")
                offset = _frame(cell["offset"], where, "offset")
                if offset < onset:
                    cli.fail(f"{where}: offset {offset} < onset {onset}")
                emotion = None if cell["emotion"] in NA_VALUES else cell["emotion"]
                out.append(
                    spotting.Interval(cell["subject"], cell["video"], onset, offset, emotion)
                )
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        cli.fail(f"{path} cannot be read: {cli.one_line(e)}")
    return out


def _f(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4f}"


def table(s: spotting.StrsScores, iou: float, coverage: str) -> str:
    """The figures as a small text table."""
    rows = [("spotting", s.spotting), ("analysis", s.analysis)]
    w = max(2, *(len(str(getattr(r, k))) for _, r in rows for k in ("tp", "fp", "fn")))
    lines = [
        f"STRS-Metric scores (IoU >= {iou:g}, coverage {coverage})",
        f"{'':8}  {'TP':>{w}}  {'FP':>{w}}  {'FN':>{w}}  precision  recall      F1",
    ]
    for name, r in rows:
        lines.append(
            f"{name:8}  {r.tp:>{w}}  {r.fp:>{w}}  {r.fn:>{w}}  {_f(r.precision):>9}"
            f"  {_f(r.recall):>6}  {_f(r.f1):>6}"
        )
    a = s.analysis
    lines += [
        f"analysis UF1 {_f(a.uf1)}, UAR {_f(a.uar)} (mean recall), "
        f'STRS-Metric "UAR" {_f(a.uar_strs_metric)} (mean precision)',
        f"STRS {_f(s.strs)}",
    ]
    return "\n".join(lines) + "\n"


def _json_ready(d):
    if isinstance(d, dict):
        return {k: _json_ready(v) for k, v in d.items()}
    return None if isinstance(d, float) and math.isnan(d) else d


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("gt", None, "ground-truth intervals, a CSV; required", flag_values=fv)
    flags.DEFINE_string("pred", None, "predicted intervals, a CSV; required", flag_values=fv)
    flags.DEFINE_string("json", None, "write the figures to this JSON file", flag_values=fv)
    flags.DEFINE_float("iou", spotting.IOU_THRESHOLD, "spotting IoU threshold, in (0, 1]",
                       flag_values=fv)  # fmt: skip
    flags.DEFINE_list(
        "emotions", None, "the emotions analysed, comma-separated (default: the ground "
        "truth's; the scorer's analysis_emotion)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_enum(
        "coverage", "strs-metric", list(spotting.COVERAGES), "which videos are scored: "
        "the scorer's (videos with ground truth of subjects with a prediction) or all",
        flag_values=fv,
    )  # fmt: skip


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    for name in ("gt", "pred"):
        if not getattr(fv, name):
            cli.fail(f"--{name} is required: a CSV with columns {','.join(COLUMNS)}")
    if not 0 < fv.iou <= 1:
        cli.fail(f"--iou must lie in (0, 1], not {fv.iou:g}")
    gt, pred = read_intervals(fv.gt), read_intervals(fv.pred)
    scores = spotting.strs_scores(gt, pred, fv.iou, fv.emotions, fv.coverage)
    if fv.coverage == "strs-metric":
        n_gt, n_pred = spotting.uncounted(gt, pred)
        if n_gt or n_pred:
            cli.note(
                f"not counted, by the scorer's rule: {n_gt} ground-truth interval(s) of "
                f"subjects with no prediction, {n_pred} prediction(s) in videos without "
                "ground truth (--coverage all counts them)"
            )
    sys.stdout.write(table(scores, fv.iou, fv.coverage))
    if fv.json:
        text = json.dumps(_json_ready(scores.to_dict()), indent=2) + "\n"
        parent = os.path.dirname(fv.json)
        if parent and not os.path.isdir(parent):
            cli.fail(f"--json {fv.json}: the folder {parent} does not exist")
        try:
            with open(fv.json, "w") as f:
                f.write(text)
        except OSError as e:
            cli.fail(f"--json {fv.json} cannot be written: {cli.one_line(e)}")
        print(f"wrote {fv.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``mmnet evaluate-spotting --gt GT.csv --pred PRED.csv [--json OUT.json]``."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
