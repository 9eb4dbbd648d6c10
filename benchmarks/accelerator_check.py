"""The accelerator check: one command that says whether a GPU/TPU host runs MMNet right and fast.

    python benchmarks/accelerator_check.py --json check.json            # a GPU/TPU host, < 8 min
    python benchmarks/accelerator_check.py --tiny --json /tmp/c.json     # any CPU, < 1 min

Sections (each one's figures, or its error, in the JSON; the run goes on past a failure):

- ``parity``: a converted official 5-class model (the official state-dict layout, the
  parity fixtures' weights) in bfloat16 against float32, and float32 against the official
  PyTorch logits stored in tests/fixtures: relative errors;
- ``fold_loops``: one epoch of the same folds with ``vmap`` and with ``map``: the losses
  and the evaluation logits agree on this device;
- ``mfu``: one model's training step (224 px, batch 32) in bfloat16 and float32: FLOP/s
  from XLA's cost analysis against the device's datasheet bf16 peak (benchmarks/bench.py);
- ``seeds``: the cost of stacked seeds, when the project has seeds (not yet: reported so);
- ``export``: the converted model exported for this platform (``mmnet_jax.inference.export``),
  loaded back and run: its logits against the model's;
- ``loso``: a CASME II-shaped synthetic LOSO (26 folds, 249 clips, 224 px, 74 epochs):
  measured end to end when the projection from timed epochs fits the time left, else the
  projection, labelled so (``status``).

``--tiny`` shrinks every size (32 px, a few folds and epochs) so the whole check runs on
a CPU in a test. What the figures mean and what was measured: BENCHMARKS.md.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import time
import traceback
from collections.abc import Callable

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks import bench  # noqa: E402
from mmnet_jax import cli
from mmnet_jax.models import MMNetConfig  # noqa: E402
from mmnet_jax.training import (
    fold_trainer,  # noqa: E402
    folds,  # noqa: E402
)

SECTIONS = ("parity", "fold_loops", "mfu", "seeds", "export", "loso")
# The targets for one H100/H200-class GPU.
TARGET_LOSO_S = 120.0
TARGET_BF16_MFU = 0.40


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What each section runs at (the full check, or ``--tiny``)."""

    image_size: int = 224
    train_batch: int = 32
    repeats: int = 3
    min_seconds: float = 0.2
    loop_subjects: int = 8
    loop_clips: int = 4
    loop_batch: int = 8
    loso_subjects: int = bench.CASME2_SHAPE["subjects"]
    loso_clips: int = bench.CASME2_SHAPE["clips"]
    loso_epochs: int = bench.CASME2_SHAPE["epochs"]
    loso_batch: int = bench.CASME2_SHAPE["batch_size"]
    loso_epochs_timed: int = 2
    # MMNetConfig fields changed for the fold-loop, MFU and LOSO sections (--tiny: a
    # narrow, shallow MMNet, so that compiling stays within seconds on a CPU).
    model_overrides: tuple[tuple[str, object], ...] = ()

    def model(self, dtype: str) -> MMNetConfig:
        """The run's own model at this check's size, ``dtype`` and overrides."""
        fields = dict(self.model_overrides)
        conv_impl = fields.pop("conv_impl", fold_trainer.default_conv_impl())
        return bench.model_config(self.image_size, dtype, conv_impl, **fields)


TINY = Sizes(
    image_size=32,
    train_batch=2,
    repeats=1,
    min_seconds=0.0,
    loop_subjects=3,
    loop_clips=2,
    loop_batch=2,
    loso_subjects=3,
    loso_clips=6,
    loso_epochs=2,
    loso_batch=2,
    loso_epochs_timed=1,
    model_overrides=(
        ("stem_width", 8),
        ("widths", (8, 8, 16, 32)),
        ("pc_embed_dim", 32),
        ("pc_num_heads", 2),
        ("pc_depth", 1),
        # XLA's own convolutions: a smaller program than matmul_grad's, compiled faster.
        ("conv_impl", "xla"),
    ),
)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


# --- sections -------------------------------------------------------------------------
def official_model(dtype: str = "float32"):
    """The official 5-class MMNet (224 px) holding the parity fixtures' weights, converted
    from the official state-dict layout; and the fixtures' inputs and PyTorch logits."""
    from mmnet_jax.models.mmnet import params as convert  # noqa: PLC0415
    from tests import parity_utils  # noqa: PLC0415 - the weight recipe (NumPy only)

    manifest, arrays = parity_utils.load_case("5")
    weights = {
        k: v.astype(np.float32) for k, v in parity_utils.recipe_state_dict(manifest, 0).items()
    }
    config = MMNetConfig.official_5class(dtype=dtype)
    model = convert.mmnet_from_torch(weights, config)
    model.eval()
    onset, apex = parity_utils.nhwc(arrays["onset"]), parity_utils.nhwc(arrays["apex"])
    return model, onset, apex, arrays["eval_logits"]


def parity(sizes: Sizes, state: dict) -> dict:
    f32, onset, apex, torch_logits = official_model("float32")
    bf16, *_ = official_model("bfloat16")
    forward = jax.jit(lambda m, o, a: m(o, a).astype(jnp.float32))
    lf = np.asarray(forward(f32, onset, apex))
    lb = np.asarray(forward(bf16, onset, apex))
    state["official"] = (f32, onset, apex, lf)
    return {
        "model": "official 5-class MMNet, 224 px, parity-fixture weights (converted)",
        "float32_vs_official_pytorch_rel_err": _rel(lf, torch_logits),
        "bfloat16_vs_float32_rel_err": _rel(lb, lf),
        "bfloat16_same_argmax": bool((lb.argmax(-1) == lf.argmax(-1)).all()),
    }


def fold_loops(sizes: Sizes, state: dict) -> dict:
    """The same folds, one epoch, with ``vmap`` and with ``map`` on this device."""
    data = bench.synthetic_clips([sizes.loop_clips] * sizes.loop_subjects, sizes.image_size)
    plan = folds.make_plan(data.subjects)
    mesh = fold_trainer.make_mesh()
    group = plan.groups(0, mesh.size)[0]
    out = {}
    for loop in ("vmap", "map"):
        cfg = sizes.model("float32")
        settings = bench.train_settings(sizes.loop_batch, plan.steps_per_epoch(sizes.loop_batch))
        settings = dataclasses.replace(settings, fold_loop=loop)
        ft = fold_trainer.FoldTrainer(cfg, settings, data, plan, seed=0, mesh=mesh)
        st = ft.init(group)
        st, loss, _ = ft.train_epoch(st, ft.train_masks(group))
        idx, valid = ft.test_indices(group)
        logits = fold_trainer.to_host(ft.evaluate(st, idx))[valid]
        out[loop] = (fold_trainer.to_host(loss), logits)
    loss_err = _rel(out["vmap"][0], out["map"][0])
    logit_err = _rel(out["vmap"][1], out["map"][1])
    return {
        "folds": len(group),
        "devices": mesh.size,
        "image_size": sizes.image_size,
        "loss_rel_err": loss_err,
        "logits_rel_err": logit_err,
        # One epoch of float32 training: the two programs order their sums differently.
        "agree": loss_err < 1e-3 and logit_err < 1e-2,
    }


def mfu(sizes: Sizes, state: dict) -> dict:
    """Training-step FLOP/s in bf16 and float32 against the datasheet bf16 peak."""
    kind = jax.devices()[0].device_kind
    peak = bench.datasheet_bf16_tflops(kind)
    rows = {}
    for dtype in ("bfloat16", "float32"):
        cfg = sizes.model(dtype)
        row = bench.train_step_bench(cfg, sizes.train_batch, sizes.repeats, sizes.min_seconds)
        flops = row["gflops_per_s"] or row["reference_gflops_per_s"]
        rows[dtype] = {
            "samples_per_s": row["samples_per_s"],
            "gflops_per_s": flops,
            "flops_from": "xla cost analysis" if row["gflops_per_s"] else "reference count",
            "mfu_vs_datasheet_bf16": flops / (peak * 1e3) if peak else None,
            "compile_s": row["compile_s"],
        }
    return {
        "image_size": sizes.image_size,
        "batch_size": sizes.train_batch,
        "device_kind": kind,
        "datasheet_bf16_tflops": peak,
        "note": None if peak else f"no datasheet peak known for {kind!r}: MFU not computed",
        **rows,
    }


def seeds_stacked_cost(sizes: Sizes, state: dict) -> dict:
    """The cost of training several seeds stacked with the folds.

    The hook for the measurement: seeds (``config.num_seeds``) landed after this check
    was written, so it reports them as present but not measured yet. To fill: time one
    fold group's epoch with ``num_seeds`` 1 and N (``bench.fold_scaling`` times G-model
    epochs) and report the ratio.
    """
    from configs import default  # noqa: PLC0415

    if "num_seeds" not in default.get_config():
        return {"status": "not available", "reason": "the project has no seeds"}
    return {
        "status": "not measured",
        "reason": "config.num_seeds exists, but this check does not time stacked seeds "
        "yet (fill accelerator_check.seeds_stacked_cost)",
    }


def export_check(sizes: Sizes, state: dict) -> dict:
    """The converted model exported for this platform, loaded back and run."""
    import tempfile  # noqa: PLC0415

    from mmnet_jax.inference import export  # noqa: PLC0415

    if "official" not in state:
        model, onset, apex, _ = official_model("float32")
        logits = None
    else:
        model, onset, apex, logits = state["official"]
    if logits is None:
        logits = np.asarray(jax.jit(lambda m, o, a: m(o, a))(model, onset, apex))
    platform = {"gpu": "cuda"}.get(jax.default_backend(), jax.default_backend())
    meta = {"class_names": [f"class{i}" for i in range(5)], "source": "accelerator check"}
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "mmnet.export.zip"
        t0 = time.perf_counter()
        export.export_model(model, meta, path, input_dtype="float32", platforms=(platform,))
        export_s = time.perf_counter() - t0
        loaded = export.load(path)
        t0 = time.perf_counter()
        out = np.asarray(loaded(onset, apex))
        run_s = time.perf_counter() - t0
    return {
        "platform": platform,
        "export_s": export_s,
        "first_call_s": run_s,
        "rel_err_vs_model": _rel(out, logits),
        "same_argmax": bool((out.argmax(-1) == np.asarray(logits).argmax(-1)).all()),
    }


def loso(sizes: Sizes, state: dict, dtype: str, budget_s: float) -> dict:
    """The CASME II-shaped LOSO, measured when its projection fits ``budget_s``."""
    cfg = sizes.model(dtype)
    out = bench.loso_from_epochs(
        cfg,
        0,
        epochs_timed=sizes.loso_epochs_timed,
        measure_if_under_s=budget_s,
        subjects=sizes.loso_subjects,
        clips=sizes.loso_clips,
        epochs=sizes.loso_epochs,
        batch=sizes.loso_batch,
    )
    per_sample = bench.reference_flops(sizes.image_size, train=True)
    peak = bench.datasheet_bf16_tflops(jax.devices()[0].device_kind)
    out["budget_s"] = budget_s
    out["epoch_mfu_vs_datasheet_bf16"] = (
        out["samples_per_s"] * per_sample / (peak * 1e12) if peak else None
    )
    return out


# --- the run --------------------------------------------------------------------------
def run_check(
    sizes: Sizes,
    sections: tuple[str, ...] = SECTIONS,
    budget_s: float = 480.0,
    loso_dtype: str | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> dict:
    """Every section in order, each one's result or error; the LOSO last, measured only
    if its projection fits what is left of ``budget_s``."""
    t0 = time.perf_counter()
    state: dict = {}
    res: dict = {"machine": bench.machine_info(), "sizes": dataclasses.asdict(sizes)}
    accel = jax.default_backend() != "cpu"
    loso_dtype = loso_dtype or ("bfloat16" if accel else "float32")
    runners = {
        "parity": parity,
        "fold_loops": fold_loops,
        "mfu": mfu,
        "seeds": seeds_stacked_cost,
        "export": export_check,
        "loso": lambda s, st: loso(
            s, st, loso_dtype, max(0.0, budget_s - (time.perf_counter() - t0) - 20.0)
        ),
    }
    for name in sections:
        log(f"accelerator check: {name} ({time.perf_counter() - t0:.0f} s so far)")
        s0 = time.perf_counter()
        try:
            res[name] = runners[name](sizes, state)
        except Exception as e:  # noqa: BLE001 - one failing section must not hide the rest
            res[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        res[name]["section_s"] = time.perf_counter() - s0
    res["total_s"] = time.perf_counter() - t0
    res["targets"] = _targets(res)
    return res


def _targets(res: dict) -> dict:
    lo, m = res.get("loso", {}), res.get("mfu", {})
    mfu_bf16 = (m.get("bfloat16") or {}).get("mfu_vs_datasheet_bf16")
    return {
        f"loso_wall_s <= {TARGET_LOSO_S:.0f}": (
            lo["wall_s"] <= TARGET_LOSO_S if lo.get("wall_s") is not None else None
        ),
        "loso_status": lo.get("status"),
        f"bf16_train_step_mfu >= {TARGET_BF16_MFU}": (
            mfu_bf16 >= TARGET_BF16_MFU if mfu_bf16 is not None else None
        ),
        "errors": sorted(k for k, v in res.items() if isinstance(v, dict) and "error" in v),
    }


def summary_lines(res: dict) -> list[str]:
    """A few lines for the terminal; the JSON has everything."""
    m = res["machine"]
    lines = [f"{m['device_count']} x {m['device_kind']} ({m['backend']}), {res['total_s']:.0f} s"]
    p = res.get("parity", {})
    if "bfloat16_vs_float32_rel_err" in p:
        lines.append(
            f"parity: bf16 vs f32 rel err {p['bfloat16_vs_float32_rel_err']:.2e}, f32 vs "
            f"PyTorch {p['float32_vs_official_pytorch_rel_err']:.2e}"
        )
    f = res.get("fold_loops", {})
    if "agree" in f:
        lines.append(f"fold loops: vmap and map agree: {f['agree']} (loss {f['loss_rel_err']:.1e})")
    for dtype in ("bfloat16", "float32"):
        row = res.get("mfu", {}).get(dtype)
        if row:
            u = row["mfu_vs_datasheet_bf16"]
            lines.append(
                f"train step {dtype}: {row['samples_per_s']:.1f} samples/s, "
                f"MFU {'n/a' if u is None else f'{100 * u:.1f}%'}"
            )
    e = res.get("export", {})
    if "rel_err_vs_model" in e:
        lines.append(f"export ({e['platform']}): rel err vs model {e['rel_err_vs_model']:.1e}")
    lo = res.get("loso", {})
    if lo.get("wall_s") is not None:
        lines.append(f"LOSO {lo['status']}: {lo['wall_s']:.0f} s ({lo['method']})")
    lines.append(f"seeds: {res.get('seeds', {}).get('status')}")
    lines.append(f"targets: {json.dumps(res['targets'])}")
    return lines


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("json", None, "write the results here (JSON)", flag_values=fv)
    flags.DEFINE_boolean("tiny", False, "tiny sizes: the whole check on a CPU", flag_values=fv)
    flags.DEFINE_float("budget_s", 480.0, "time budget; the LOSO fits in it", flag_values=fv)
    flags.DEFINE_list("sections", list(SECTIONS), ",".join(SECTIONS), flag_values=fv)
    flags.DEFINE_enum(
        "loso_dtype",
        None,
        ["float32", "bfloat16"],
        "LOSO compute dtype (default: bfloat16 on accelerators, float32 on CPU)",
        flag_values=fv,
    )


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    unknown = [s for s in fv.sections if s not in SECTIONS]
    if unknown:
        cli.fail(f"--sections: unknown {unknown[0]!r}; known: {','.join(SECTIONS)}")
    if fv.json:
        parent = pathlib.Path(fv.json).resolve().parent
        if not parent.is_dir():
            cli.fail(f"--json {fv.json}: no such directory {parent}")
    res = run_check(
        TINY if fv.tiny else Sizes(),
        tuple(fv.sections),
        budget_s=fv.budget_s,
        loso_dtype=fv.loso_dtype,
    )
    print("\n".join(summary_lines(res)))
    if fv.json:
        pathlib.Path(fv.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
