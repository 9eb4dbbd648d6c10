"""mmnet compare on made-up finished workdirs: rows, formats, pairs, errors.

(The command on two real runs, a two-seed one and a seed-1 one, is in test_seeds.py.)"""

import csv
import io
import json

import numpy as np
import pytest

from mmnet_jax.evaluation import results
from mmnet_jax.reporting import compare
from tests.test_selection import _run, _summary, _table


def _workdir(path, data_seed=0, num_seeds=2, validation=1, labels=None):
    reps, labels, subjects, progress = _run(
        num_seeds=num_seeds, validation=validation, data_seed=data_seed, labels=labels
    )
    out = _summary(reps, labels, subjects, progress)
    ids = np.asarray([f"{s}/clip{i}" for i, s in enumerate(subjects)])
    arrays = results.epoch_predictions(progress, reps.plan, _table(labels, ids), 4, num_seeds)
    path.mkdir()
    (path / "results.json").write_text(json.dumps(out))
    (path / "config.json").write_text("{}")
    (path / "epoch_predictions.npz").write_bytes(results.npz_bytes(arrays))
    return out, labels


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs: A (2 seeds, validation) and B (1 seed, last epoch) on the same clips,
    C on other labels (not paired with them)."""
    root = tmp_path_factory.mktemp("compare")
    a, labels = _workdir(root / "run_a", data_seed=0)
    b, _ = _workdir(root / "run_b", data_seed=1, num_seeds=1, validation=0, labels=labels)
    c, _ = _workdir(root / "run_c", data_seed=2, labels=(labels + 1) % 3)
    return root, {"run_a": a, "run_b": b, "run_c": c}


def _main(argv, capsys):
    status = compare.main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_markdown_rows_and_the_pair(runs, capsys):
    root, res = runs
    status, out, err = _main([root / "run_a", root / "run_b", root / "run_c"], capsys)
    assert status == 0, err
    lines = out.split("Paired comparisons")[0].splitlines()
    for name, r in res.items():
        (row,) = [x for x in lines if x.startswith(f"| {root / name} |")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "made_up, 3 classes"
        assert cells[4].startswith(f"{r['uf1']:.4f} ± {r['std']['uf1']:.4f} [")
        assert f"[{r['ci95']['uf1'][0]:.4f}, {r['ci95']['uf1'][1]:.4f}]" in cells[4]
        assert cells[6] == f"{r['optimistic']['uf1']:.4f}"
    assert "best validation UF1 (1 subject), 4 epochs, 2 seeds" in out
    assert "epoch 4 (pre-declared), 4 epochs, 1 seed" in out
    assert "optimistic UF1: each test subject's best test epoch" in out
    # One pair: A and B test the same clips; C has other labels.
    paired = out.split("Paired comparisons")[1].splitlines()
    pairs = [x for x in paired if x.startswith(f"| {root / 'run_a'} | {root / 'run_b'} |")]
    assert len(pairs) == 1 and "run_c" not in out.split("Paired comparisons")[1]
    diff = float(pairs[0].split("|")[3])
    assert diff == pytest.approx(res["run_a"]["uf1"] - res["run_b"]["uf1"], abs=5e-5)


def test_csv_and_latex(runs, capsys):
    root, res = runs
    status, out, _ = _main([root / "run_a", root / "run_b", "--format", "csv"], capsys)
    assert status == 0
    table, pairs = out.split("\n\n")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [r["run"] for r in rows] == [str(root / "run_a"), str(root / "run_b")]
    for r, name in zip(rows, ("run_a", "run_b"), strict=True):
        assert float(r["uf1"]) == res[name]["uf1"]
        assert float(r["uf1_ci_low"]) == res[name]["ci95"]["uf1"][0]
        assert float(r["optimistic_uf1"]) == res[name]["optimistic"]["uf1"]
    (pair,) = list(csv.DictReader(io.StringIO(pairs)))
    assert float(pair["ci_low"]) <= float(pair["uf1_difference"]) <= float(pair["ci_high"])
    status, out, _ = _main([root / "run_a", "--format=latex"], capsys)
    assert status == 0 and out.startswith("\\begin{tabular}")
    assert "run\\_a" in out and "$\\pm$" in out


def test_errors_name_the_workdir(runs, tmp_path, capsys):
    root, _ = runs
    missing = tmp_path / "nope"
    status, out, err = _main([root / "run_a", missing], capsys)
    assert (status, out, err) == (2, "", f"error: run {missing} does not exist\n")
    unfinished = tmp_path / "half"
    unfinished.mkdir()
    (unfinished / "config.json").write_text("{}")
    status, _, err = _main([unfinished], capsys)
    assert (status, err) == (2, f"error: run {unfinished} is unfinished: no results.json yet\n")
    status, _, err = _main([], capsys)
    assert status == 2 and err.startswith("error: give one or more run workdirs")
    status, _, err = _main([root / "run_a", "--format", "html"], capsys)
    assert status == 2 and len(err.splitlines()) == 1 and "html" in err
    status, out, _ = _main(["--help"], capsys)
    assert status == 0 and "mmnet compare runs/" in out and "--format" in out
