"""``benchmarks/accelerator_check.py`` on a CPU: its JSON survives a kill, its budget skips
what will not fit, its sections' figures say what they should (``--tiny``), and the
programs lowered for cuda and tpu have the convolutions the platform defaults promise."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import pytest

from benchmarks import accelerator_check

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _read(path: pathlib.Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@pytest.mark.slow
def test_killed_check_keeps_its_finished_sections(tmp_path):
    """SIGKILL once the first section is written: the file is whole, valid JSON."""
    out = tmp_path / "check.json"
    proc = subprocess.Popen(
        [sys.executable, "benchmarks/accelerator_check.py", "--tiny", "--budget_s", "120"]
        + ["--json", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            res = _read(out)  # renamed into place whole: never half a file
            if res and res["sections"]:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the check ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    res = json.loads(out.read_text())
    assert res["jax_version"] == jax.__version__ and "cpu" in res["device"]
    assert "targets" not in res  # killed before the end
    parity = res["sections"]["parity"]
    # float32 against the official PyTorch logits: the parity tests' own bound.
    assert parity["float32_highest"]["rel_err_vs_official_pytorch"] < 1e-4
    assert parity["float32_default"]["rel_err_vs_official_pytorch"] < 1e-4  # no TF32 on CPU
    # bf16 rounds every activation to 8 bits of mantissa: close, but not float32's.
    assert 1e-5 < parity["bfloat16_vs_float32_highest_rel_err"] < 0.1
    assert parity["float32_highest"]["compile_s"] > 0


def test_no_budget_skips_every_section(tmp_path):
    out = tmp_path / "check.json"
    assert accelerator_check.main(["--tiny", "--budget_s", "0", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["sections"] == {}
    assert [s["section"] for s in res["skipped"]] == list(accelerator_check.SECTIONS)
    assert all("s left" in s["reason"] for s in res["skipped"])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("check") / "check.json"
    sections = ("train", "loso", "seeds", "memory", "export")
    accelerator_check.run_check(accelerator_check.TINY, sections, budget_s=900, out=str(out))
    return json.loads(out.read_text())


@pytest.mark.slow
def test_sections(report):
    sec = report["sections"]
    assert report["skipped"] == [] and report["targets"]["errors"] == []
    (row,) = sec["train"]["rows"]  # --tiny: the row of the CPU's defaults only
    assert (row["dtype"], row["fold_loop"], row["conv_impl"], row["folds"]) == (
        "float32",
        "map",
        "matmul_grad",
        3,
    )
    assert row["samples_per_s"] > 0 and row["compile_s"] > 0
    assert row["mfu_vs_datasheet_bf16"] is None  # a CPU has no datasheet peak here
    assert row["memory_per_model_bytes"] > 0
    lo = sec["loso"]
    # The LOSO reuses the compiled program of the train row with the same settings.
    assert lo["status"] == "measured" and lo["wall_s"] > 0 and lo["reused_train_row"]
    assert (lo["subjects"], lo["epochs"], lo["image_size"]) == (3, 2, 32)
    assert (lo["fold_loop"], lo["conv_impl"]) == ("map", "matmul_grad")
    seeds = sec["seeds"]
    assert seeds["models"] == 6 and seeds["ratio_vs_one_seed"] > 0
    assert sec["memory"]["per_model_bytes"][0]["memory_per_model_bytes"] > 0
    assert sec["export"]["platform"] == "cpu"
    assert sec["export"]["rel_err_vs_model"] < 1e-5


def test_lowering_counts_for_cuda_and_tpu(tmp_path):
    """The GPU default has no grouped weight gradient; vmap/xla has them (the count can
    fail); the export and the evaluation are forward passes; TPU keeps XLA's convs."""
    out = tmp_path / "lowering.json"
    argv = ["--lower_only", "--tiny", "--platforms", "cuda,tpu", "--json", str(out)]
    assert accelerator_check.main(argv) == 0
    low = json.loads(out.read_text())["lowering"]
    cuda, tpu = low["cuda"], low["tpu"]
    assert (cuda["train_epoch"]["fold_loop"], cuda["train_epoch"]["conv_impl"]) == (
        "vmap",
        "matmul_grad",
    )
    assert cuda["train_epoch"]["grouped"] > 0  # folds batched: grouped forward convs
    assert cuda["train_epoch"]["grouped_weight_gradients"] == 0
    ref = cuda["train_epoch_vmap_xla"]
    assert ref["grouped_weight_gradients"] > 0
    for platform in (cuda, tpu):
        assert platform["export"]["convolutions"] > 0 and platform["export"]["grouped"] == 0
        assert platform["evaluate"]["grouped_weight_gradients"] == 0
    assert (tpu["train_epoch"]["fold_loop"], tpu["train_epoch"]["conv_impl"]) == ("vmap", "xla")
    assert tpu["train_epoch"]["grouped_weight_gradients"] > 0  # TPUs run them natively


def test_bad_section_is_one_error_line(capsys):
    assert accelerator_check.main(["--tiny", "--sections", "parity,nope"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --sections: unknown 'nope'; known: parity,train,loso,seeds,memory,export"
    )
