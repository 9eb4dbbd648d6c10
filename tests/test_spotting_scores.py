"""Spotting and STRS scores against the public STRS-Metric scorer, RUN on every case
(tests/fixtures/strs_cases.json, written by tests/fixtures/make_strs_cases.py), and the
``mmnet evaluate-spotting`` command end to end. No JAX."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mmnet_jax import commands
from mmnet_jax.evaluation import spotting
from mmnet_jax.evaluation.spotting import Interval

CASES = json.loads((Path(__file__).parent / "fixtures" / "strs_cases.json").read_text())["cases"]
BY_NAME = {c["name"]: c for c in CASES}
TOL = 1e-12

# The scorer's result keys -> ours (to_dict paths).
SCORER_KEYS = {
    "STRS": ("strs",),
    "TP spotting": ("spotting", "tp"),
    "FP spotting": ("spotting", "fp"),
    "FN spotting": ("spotting", "fn"),
    "Precision spotting": ("spotting", "precision"),
    "Recall spotting": ("spotting", "recall"),
    "F1-score spotting": ("spotting", "f1"),
    "TP analysis": ("analysis", "tp"),
    "FP analysis": ("analysis", "fp"),
    "FN analysis": ("analysis", "fn"),
    "Precision analysis": ("analysis", "precision"),
    "Recall analysis": ("analysis", "recall"),
    "F1-score analysis": ("analysis", "f1"),
    "UF1 analysis": ("analysis", "uf1"),
    "UAR analysis": ("analysis", "uar_strs_metric"),
}
KEYS = {
    "strs": None,
    "spotting": ["tp", "fp", "fn", "precision", "recall", "f1"],
    "analysis": ["tp", "fp", "fn", "precision", "recall", "f1", "uf1", "uar", "uar_strs_metric"],
}


def rows(case: dict, which: str) -> list[Interval]:
    return [Interval(*r) for r in case[which]]


def score(case: dict) -> spotting.StrsScores:
    return spotting.strs_scores(rows(case, "gt"), rows(case, "pred"), case["iou"], case["emotions"])


def get(d: dict, path: tuple) -> float:
    for k in path:
        d = d[k]
    return d


def expected(case: dict) -> dict:
    """The scorer's figures as our keys, with the one documented change where it does not
    raise: an analysis F1 of 0/0 (its NaN, a NumPy warning) is 0, and STRS with it."""
    out = {path: case["scorer"][k] for k, path in SCORER_KEYS.items()}
    p, r = out[("analysis", "precision")], out[("analysis", "recall")]
    if p + r == 0:
        assert math.isnan(out[("analysis", "f1")]) and case["warnings"]
        out[("analysis", "f1")] = 0.0
        out[("strs",)] = 0.0
    out[("analysis", "uar")] = 0.0 if case["uar"] is None else case["uar"]
    return out


def assert_close(ours: dict, want: dict, name: str) -> None:
    for path, v in want.items():
        got = get(ours, path)
        if isinstance(v, float) and math.isnan(v):
            assert math.isnan(got), (name, path, got)
        else:
            assert got == pytest.approx(v, abs=TOL, rel=0), (name, path, got, v)
            if path[-1] in ("tp", "fp", "fn"):
                assert isinstance(got, int), (name, path)


SCORED = [c["name"] for c in CASES if c["raised"] is None]
RAISED = [c["name"] for c in CASES if c["raised"] is not None]


@pytest.mark.parametrize("name", SCORED)
def test_scores_equal_the_public_scorer(name):
    case = BY_NAME[name]
    ours = score(case).to_dict()
    assert_close(ours, expected(case), name)
    # The spotting part alone is the same.
    alone = spotting.spotting_scores(rows(case, "gt"), rows(case, "pred"), iou=case["iou"])
    assert alone.to_dict() == ours["spotting"]


@pytest.mark.parametrize("name", SCORED)
def test_matching_pairs_equal_the_scorer(name):
    case = BY_NAME[name]
    m = spotting.match(rows(case, "gt"), rows(case, "pred"), case["iou"])
    assert sorted([g, p] for g, p, _ in m.pairs) == case["pairs"]


def test_the_cases_cover_the_quirks():
    """The fixtures hold what they are said to hold (so the comparisons above mean it)."""
    assert len(CASES) >= 25 and len(RAISED) == 2
    assert round(BY_NAME["readme_example"]["scorer"]["STRS"], 4) == 0.2
    assert BY_NAME["main_example"]["scorer"]["TP spotting"] == 159
    for name in ("multi_tp", "random_1", "random_3"):  # one prediction, several TPs
        preds = [p for _, p in BY_NAME[name]["pairs"]]
        assert len(set(preds)) < len(preds), name
    # the one-valued quirk: all right with one emotion scores 0, with two 1
    assert BY_NAME["all_right_one_emotion"]["scorer"]["Precision analysis"] == 0
    assert BY_NAME["all_right_two_emotions"]["scorer"]["STRS"] == 1
    random = [c for c in CASES if c["name"].startswith("random_")]
    assert len(random) == 8 and {c["iou"] for c in random} == {0.5, 0.3}
    assert all(len({(r[0], r[1]) for r in c["gt"] + c["pred"]}) >= 12 for c in random)
    subjects = {r[0] for c in random for r in c["gt"]}
    assert {"001", "01", "1"} <= subjects  # distinct ids


def test_multi_tp_and_greedy_order():
    gt = [Interval("01", "v", 0, 60, "a"), Interval("01", "v", 20, 100, "b")]
    pred = [Interval("01", "v", 0, 100, "a")]
    m = spotting.match(gt, pred)
    assert [(g, p) for g, p, _ in m.pairs] == [(0, 0), (1, 0)] and not m.false_positives
    s = spotting.spotting_scores(gt, pred)
    assert (s.tp, s.fp, s.fn, s.precision) == (2, 0, 0, 1.0)
    # the first prediction in row order takes the interval, not the best IoU
    gt = [Interval("s", "v", 100, 199)]
    pred = [Interval("s", "v", 100, 154), Interval("s", "v", 100, 199)]
    m = spotting.match(gt, pred)
    assert m.pairs == ((0, 0, 0.55),) and m.false_positives == (1,)


def test_iou_frames_inclusive():
    a = Interval("s", "v", 0, 9)
    assert spotting.iou(a, Interval("s", "v", 5, 14)) == 5 / 15
    assert spotting.iou(a, Interval("s", "v", 10, 20)) == 0
    assert spotting.iou(Interval("s", "v", 3, 3), Interval("s", "v", 3, 3)) == 1
    assert spotting.iou(Interval("s", "v", 5, 4), Interval("s", "v", 5, 4)) == 0  # empty


def test_where_the_scorer_raises_our_values():
    """No spotted pair (the scorer: KeyError 'gt'): spotting as counted, analysis 0,
    STRS 0."""
    for name in RAISED:
        case = BY_NAME[name]
        assert case["raised"] == "KeyError: 'gt'"
        d = score(case).to_dict()
        assert d["strs"] == 0 and set(d["analysis"].values()) == {0}
    d = score(BY_NAME["no_true_positive"]).to_dict()
    assert d["spotting"] == dict(tp=0, fp=1, fn=1, precision=0, recall=0, f1=0)
    # no prediction: the scorer scores no subject at all (coverage rule), so FN 0 too
    assert score(BY_NAME["no_predictions"]).spotting.fn == 0


def test_nan_where_nothing_is_analysed():
    """``emotions=()`` or no ground truth: the means over no emotion stay NaN (the
    scorer's too, without raising)."""
    for name, spotting_f1 in (("empty_analysis_set", 1), ("no_ground_truth", 0)):
        case = BY_NAME[name]
        assert case["raised"] is None and math.isnan(case["scorer"]["STRS"])
        s = score(case)
        assert math.isnan(s.strs) and math.isnan(s.analysis.f1) and math.isnan(s.analysis.uf1)
        assert s.spotting.f1 == spotting_f1


def test_coverage_all_counts_every_video():
    case = BY_NAME["coverage"]
    gt, pred = rows(case, "gt"), rows(case, "pred")
    assert spotting.uncounted(gt, pred) == (1, 2)
    ours = spotting.spotting_scores(gt, pred)
    every = spotting.spotting_scores(gt, pred, coverage="all")
    assert (every.tp, every.fp, every.fn) == (ours.tp, ours.fp + 2, ours.fn + 1)
    with pytest.raises(ValueError, match="coverage"):
        spotting.spotting_scores(gt, pred, coverage="some")


# --- the command ---------------------------------------------------------------------
def _files(tmp_path, case):
    gt, pred = tmp_path / f"{case['name']}_gt.csv", tmp_path / f"{case['name']}_pred.csv"
    gt.write_text(case["gt_csv"])
    pred.write_text(case["pred_csv"])
    return str(gt), str(pred)


def test_command_equals_the_scorer_on_every_case(tmp_path, capsys):
    for case in CASES:
        gt, pred = _files(tmp_path, case)
        out = tmp_path / f"{case['name']}.json"
        argv = ["evaluate-spotting", "--gt", gt, "--pred", pred, "--json", str(out)]
        argv += [f"--iou={case['iou']}"]
        if case["emotions"] is not None:
            argv += [f"--emotions={','.join(case['emotions'])}"]
        assert commands.main(argv) == 0, capsys.readouterr().err
        d = json.loads(out.read_text())
        assert list(d) == list(KEYS) and all(list(d[k]) == v for k, v in KEYS.items() if v)
        if case["raised"] is None:
            want = expected(case)
            if math.isnan(want[("strs",)]):  # NaN is written as null
                assert d["strs"] is None
                continue
            assert_close(d, want, case["name"])
        else:
            assert d == score(case).to_dict()
    printed = capsys.readouterr().out
    assert "STRS 0.2000" in printed and "STRS 0.3862" in printed  # README, main.py


def test_command_prints_a_table_and_notes_the_coverage(tmp_path, capsys):
    gt, pred = _files(tmp_path, BY_NAME["coverage"])
    assert commands.main(["evaluate-spotting", "--gt", gt, "--pred", pred]) == 0
    out, err = capsys.readouterr()
    assert "spotting" in out and "analysis UF1" in out and "STRS 0.2667" in out
    assert err.startswith("note: not counted") and "1 ground-truth" in err and "2 pred" in err
    assert commands.main(["evaluate-spotting", "--gt", gt, "--pred", pred, "--coverage=all"]) == 0
    assert "coverage all" in capsys.readouterr().out


HEADER = "subject,video,onset,offset,emotion\n"


def _error(capsys, *argv) -> str:
    assert commands.main(["evaluate-spotting", *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("subject,video,onset,offset\n1,v,0,10\n", "no column 'emotion'"),
        (HEADER + "1,v,0,10,a\n1,v,20,15,a\n", "row 2 (line 3): offset 15 < onset 20"),
        (HEADER + "1,v,0,10.5,a\n", "row 1 (line 2): offset '10.5' is not a whole"),
        (HEADER + "1,v,x,10,a\n", "onset 'x' is not a whole"),
        (HEADER + ",v,0,10,a\n", "empty subject"),
        ("", "is empty: no header row"),
    ],
)  # fmt: skip
def test_command_bad_input_is_one_error_line(tmp_path, capsys, text, says):
    good, _ = _files(tmp_path, BY_NAME["readme_example"])
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    line = _error(capsys, "--gt", good, "--pred", str(bad))
    assert str(bad) in line and says in line, line


def test_command_user_mistakes(tmp_path, capsys):
    gt, pred = _files(tmp_path, BY_NAME["readme_example"])
    assert "missing.csv cannot be read" in _error(capsys, "--gt", gt, "--pred", "missing.csv")
    assert "--pred is required" in _error(capsys, "--gt", gt)
    assert "--iou" in _error(capsys, "--gt", gt, "--pred", pred, "--iou=0")
    assert "does not exist" in _error(capsys, "--gt", gt, "--pred", pred, "--json=no/such/x.json")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00subject")
    assert "cannot be read" in _error(capsys, "--gt", str(binary), "--pred", pred)


def test_command_reads_ids_as_text_and_ignores_extra_columns(tmp_path):
    from mmnet_jax.reporting import evaluate_spotting  # noqa: PLC0415

    path = tmp_path / "p.csv"
    path.write_text(
        "\ufeffsubject,video,track,onset,apex,offset,type,score,onset_s,offset_s,emotion,probability\n"
        "006,EP01,0,10,12,20.0,micro,0.9,0.05,0.1,,0.2\n"
        "\n"
        "6,EP01,1,-3,0,4,macro,0.5,0,0.02,surprise,0.7\n"
        "6,EP02,1,5,5,5,macro,0.5,0,0.02,NA,0.7\n",
        encoding="utf-8",
    )
    got = evaluate_spotting.read_intervals(str(path))
    assert got == [
        Interval("006", "EP01", 10, 20, None),
        Interval("6", "EP01", -3, 4, "surprise"),
        Interval("6", "EP02", 5, 5, None),  # NA: pandas' NaN, no emotion
    ]
