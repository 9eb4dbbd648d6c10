"""Smoke tests of benchmarks/: the real measuring code at tiny sizes; no speed targets."""

import json
import math
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import bench, run
from mmnet_jax import cli

# A small MMNet (same structure, narrow layers) at 32 px: compiles and runs fast.
TINY = dict(stem_width=8, widths=(8, 8, 16, 32), pc_embed_dim=32, pc_num_heads=2, pc_depth=1)


def _positive(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_run_all_tiny(tmp_path):
    opts = run.Options(
        quick=True,
        image_size=32,
        train_batch=2,
        eval_batches=(2,),
        conv_impls=("matmul_grad",),
        repeats=1,
        matmul_size=64,
        conv_batch=1,
        conv_size=8,
        conv_channels=8,
        loso="steps",
        sections=("ceilings", "train", "eval", "loso"),
        model_overrides=TINY,
    )
    res = run.run_all(opts)
    for key in run.HEADLINE_KEYS:
        assert _positive(res[key]), (key, res.get(key))
    for key in ("cpu_model", "jax_version", "backend", "devices"):
        assert res[key], key
    assert res["cpu_cores"] >= 1
    assert _positive(res["host_peak_rss_bytes"])
    assert all(_positive(v) for v in res["compile_seconds"].values())
    train = res["train"][0]
    assert train["conv_impl"] == "matmul_grad" and train["batch_size"] == 2
    assert _positive(train["flops_per_sample"])
    assert res["loso_status"] == "projected" and _positive(res["loso_wall_s"])
    assert [r["what"] for r in res["ceilings"]] == [
        "matmul",
        "conv3x3",
        "conv3x3_weight_grad_matmul_grad",
    ]
    # What run.py writes: JSON-serialisable, and a Markdown table of every section.
    json.loads(json.dumps(res, default=str))
    md = run.to_markdown(res)
    for title in ("## Headline", "## Ceilings", "## Training step", "## Evaluation", "LOSO"):
        assert title in md


def test_cli_options():
    # Dashed spellings (the old documented ones) still parse, beside underscores.
    opts, fv = run.parse_args(
        ["--quick", "--dtype", "float32,bfloat16", "--eval-batches", "8,32", "--json", "x.json"]
    )
    assert opts.dtypes == ("float32", "bfloat16") and opts.eval_batches == (8, 32)
    assert fv.json == "x.json"
    filled = opts.defaults()
    assert filled.train_batch and filled.fold_counts and filled.loso == "steps"
    opts, _ = run.parse_args(["--fold_counts=1,2", "--loso_group", "3", "--sections", "loso"])
    assert opts.fold_counts == (1, 2) and opts.loso_group == 3 and opts.sections == ("loso",)
    with pytest.raises(cli.UserError, match="--sections: unknown nonsense"):
        run.parse_args(["--sections", "nonsense"])


def test_cli_help_and_user_errors(tmp_path, capsys):
    """--help exits 0 with an example; a bad path or value is one error line, exit 2,
    before anything is measured."""
    assert run.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "python benchmarks/run.py --quick" in out and "--train_batch" in out
    missing = tmp_path / "no_such_folder" / "bench.json"
    for argv, names in (
        (["--json", str(missing)], [str(missing), "does not exist"]),
        (["--md", str(missing)], [str(missing)]),
        (["--eval_batches", "8,x"], ["--eval_batches", "8,x"]),
        (["--loso", "sometimes"], ["loso"]),
        (["--no_such_flag"], ["no_such_flag"]),
        (["stray"], ["stray"]),
    ):
        assert run.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), (argv, err)
        assert all(n in err[0] for n in names), (argv, err)
    assert not missing.parent.exists()


def test_profile_step_cli(tmp_path, capsys):
    from benchmarks import profile_step

    assert profile_step.main(["--help"]) == 0
    assert "python benchmarks/profile_step.py --batch 4" in capsys.readouterr().out
    bad = tmp_path / "missing" / "p.json"
    assert profile_step.main(["--json", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --json {bad}: folder {bad.parent} does not exist"]


def test_official_torch_is_jax_free():
    """official_torch.py runs in a torch-only virtualenv: what it imports from this
    repository (benchmarks.common, mmnet_jax.cli, the table builder) must not import JAX
    or the model."""
    code = (
        "import sys; import benchmarks.common, mmnet_jax.cli; "
        "ALLOWED = ('mmnet_jax.cli', 'mmnet_jax.reporting', 'mmnet_jax.reporting.tables'); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jax', 'jaxlib', 'flax', 'optax', 'tensorflow') "
        "or m.startswith('mmnet_jax.') and m not in ALLOWED); print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    pins = (root / "benchmarks" / "requirements-official.txt").read_text()
    lock = (root / "constraints.txt").read_text()  # the tested set (setup.cfg: ranges)
    absl = re.search(r"absl-py==[\w.]+", lock).group(0)
    assert absl in pins.splitlines(), absl


def test_time_calls_and_reference_flops():
    t = bench.time_calls(lambda: 1.0, repeats=3, min_seconds=0.01, max_inner=5)
    assert t["repeats"] == 3 and 1 <= t["inner"] <= 5 and t["median_s"] >= 0
    assert bench.reference_flops(224, train=True) == bench.REFERENCE_TRAIN_FLOPS_224
    assert bench.reference_flops(112, train=False) == bench.REFERENCE_EVAL_FLOPS_224 / 4
    assert bench.datasheet_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert bench.datasheet_bf16_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.datasheet_bf16_tflops("cpu") is None
    lo = bench.loso_from_steps(10.0, 20.0)
    assert lo["steps_per_epoch"] == 8  # 249 clips, 26 subjects: 240 training clips / 32
    assert lo["train_samples"] == 26 * 74 * 8 * 32


@pytest.mark.slow
def test_fold_scaling_tiny():
    """FoldTrainer's epoch with 2 folds stacked, measured. (A whole tiny LOSO through
    bench.loso_from_epochs runs in tests/test_accelerator_check.py's loso section.)"""
    cfg = bench.model_config(32, "float32", "xla", **TINY)
    data = bench.synthetic_clips([2, 2, 3], 32)
    rows = bench.fold_scaling(cfg, data, batch=2, fold_counts=(2,), fold_loop="map", repeats=1)
    assert [r["folds"] for r in rows] == [2]
    assert all(_positive(r["samples_per_s"]) and _positive(r["compile_s"]) for r in rows)


def test_common_helpers():
    """The jax-free helpers official_torch.py shares with run.py."""
    from benchmarks import common

    calls = []
    t = common.time_calls(lambda: calls.append(1), repeats=4, block=lambda out: out)
    assert len(calls) == 5 and t["repeats"] == 4 and t["inner"] == 1  # warm-up + 4
    assert t["min_s"] <= t["median_s"] <= t["max_s"]
    assert common.package_version("numpy") and common.package_version("no-such-pkg-x", "?") == "?"
    assert common.peak_rss_bytes() > 10 * 2**20
    assert 1 <= common.cores_usable() <= (os.cpu_count() or 1)
    assert common.table(["a", "b"], [[1, common.fmt(None)]]) == [
        "| a | b |",
        "| --- | --- |",
        "| 1 | - |",
        "",
    ]
    assert common.ints("4,8,,32") == (4, 8, 32)


def test_profile_summary_from_trace_events():
    """profile_step's bookkeeping on a hand-made trace: two thunks, one overlap, idle time."""
    from benchmarks import profile_step

    hlo = (
        '  %ynn_fusion.1 = f32[4,8]{1,0} fusion(%a), metadata={op_name="jit(step)/jvp()/'
        'conv_general_dilated"}\n'
        '  ROOT %copy.2 = f32[4]{0} copy(%b), metadata={op_name="jit(step)/transpose(jvp())/'
        'slice"}\n'
    )
    instrs = profile_step.hlo_instructions(hlo)
    assert instrs["copy.2"] == ("f32[4]{0}", "jit(step)/transpose(jvp())/slice")
    span = "ThunkExecutor::Execute (wait for completion)"
    events = [
        {"ph": "X", "name": span, "ts": 0, "dur": 10_000},
        {"ph": "X", "name": "ynn_fusion.1", "ts": 1_000, "dur": 5_000},
        {"ph": "X", "name": "copy.2", "ts": 4_000, "dur": 4_000},
        {"ph": "X", "name": "$python frame", "ts": 0, "dur": 9_000},
    ]
    res = profile_step.summarise(events, instrs, steps=1)
    assert res["step_ms"] == 10 and res["thunk_ms"] == 9
    assert res["by_category_ms"] == {"fwd ynn:conv_general_dilated": 5, "bwd slice": 4}
    assert res["thunks_running_ms"] == {"0": 3, "1": 5, "2": 2}


def test_parity_fixture_script_without_torch(tmp_path, capsys):
    """What benchmarks/make_parity_fixtures.py can show without PyTorch: it draws the
    fixtures' exact inputs, writes their exact key layout and recipe sums, and its
    command line answers --help and bad paths (torch is imported only to compute)."""
    from benchmarks import make_parity_fixtures as mpf
    from tests import parity_utils

    for tag in mpf.VARIANTS:
        manifest, arrays = parity_utils.load_case(tag)
        assert mpf.fixture_keys(tag) == list(arrays), tag  # the same keys, in order
        drawn = mpf.inputs(0)
        for key in mpf.fixture_keys(tag):
            if key in drawn:
                np.testing.assert_array_equal(drawn[key], arrays[key], err_msg=key)
                assert drawn[key].dtype == arrays[key].dtype, key
        sums = mpf.recipe_sums(mpf.recipe_weights(manifest, 0))
        for key, value in sums.items():
            np.testing.assert_allclose(value, arrays[key], rtol=1e-12, err_msg=key)
        # The unused head is named as in the official script of that variant.
        assert manifest[-1][0].startswith(mpf.UNUSED_HEAD[tag] + ".")
    assert "torch" not in sys.modules  # imported only by compute()
    assert mpf.main(["--help"]) == 0
    assert "--official_dir PATH/TO/MMNet" in capsys.readouterr().out
    missing = tmp_path / "MMNet"
    for argv, line in (
        ([], "error: --official_dir is required"),
        (["--official_dir", str(missing)], f"error: --official_dir {missing}: no such folder"),
        (
            ["--official_dir", str(tmp_path), "--out", str(missing)],
            f"error: --out {missing}: no such folder",
        ),
        (["--official_dir", str(tmp_path), "--variants", "7"], "error: --variants: unknown 7"),
    ):
        assert mpf.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(line), (argv, err)
