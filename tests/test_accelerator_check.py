"""``benchmarks/accelerator_check.py --tiny``: every section runs end to end on a CPU and
its figures say what they should (the check itself is meant for a GPU/TPU host)."""

from __future__ import annotations

import json

import pytest

from benchmarks import accelerator_check


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("check") / "check.json"
    assert accelerator_check.main(["--tiny", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_every_section_ran_without_error(report):
    assert report["targets"]["errors"] == []
    for name in accelerator_check.SECTIONS:
        assert name in report and "error" not in report[name], report.get(name)


def test_figures(report):
    parity = report["parity"]
    # float32 against the official PyTorch logits: the parity tests' own bound.
    assert parity["float32_vs_official_pytorch_rel_err"] < 1e-4
    # bf16 rounds every activation to 8 bits of mantissa: close, but not float32's.
    assert 1e-5 < parity["bfloat16_vs_float32_rel_err"] < 0.1
    assert report["fold_loops"]["agree"] is True
    assert report["fold_loops"]["loss_rel_err"] < 1e-3
    for dtype in ("bfloat16", "float32"):
        row = report["mfu"][dtype]
        assert row["samples_per_s"] > 0 and row["gflops_per_s"] > 0
        assert row["mfu_vs_datasheet_bf16"] is None  # a CPU has no datasheet peak here
    assert report["seeds"]["status"] == "not measured"  # the hook: seeds exist, untimed
    assert report["export"]["platform"] == "cpu"
    assert report["export"]["rel_err_vs_model"] < 1e-5
    lo = report["loso"]
    assert lo["status"] == "measured" and lo["wall_s"] > 0
    assert lo["projected_wall_s"] > 0 and lo["groups"] == 1
    assert (lo["subjects"], lo["epochs"], lo["image_size"]) == (3, 2, 32)


def test_bad_section_is_one_error_line(capsys):
    assert accelerator_check.main(["--tiny", "--sections", "parity,nope"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --sections: unknown 'nope'; known: parity,fold_loops,mfu,seeds,export,loso"
    )
