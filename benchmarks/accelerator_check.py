"""The accelerator check: whether a GPU/TPU host runs MMNet right and fast, in a time budget.

    python benchmarks/accelerator_check.py --budget_s 420 --json check.json   # GPU/TPU host
    python benchmarks/accelerator_check.py --tiny --json /tmp/c.json          # any CPU
    python benchmarks/accelerator_check.py --lower_only --platforms cuda,tpu --json low.json

It runs on whatever JAX the machine has (jax, flax, optax and numpy; no TFDS, no
ml-collections). Sections, in order of priority, so that a budget cut keeps the most
important figures:

- ``parity``: a converted official 5-class model (the official state-dict layout, the
  parity fixtures' weights, 224 px) against the official PyTorch logits, in float32 and
  bfloat16, at the default matmul precision (TF32 on NVIDIA) and at "highest";
- ``train``: train samples/s and MFU of the fold trainer's epoch at 224 px, CASME II
  shaped (26 subjects, 249 clips, batch 32), bf16 then float32, for ``map/xla`` and
  ``vmap/matmul_grad`` at 4 and 26 folds and ``vmap/xla`` (the slow path on GPU) at 4;
  each row with its compile time and the memory XLA plans per fold;
- ``loso``: the CASME II-shaped LOSO (26 folds x 74 epochs x 249 clips) with the
  platform's defaults: measured when it fits the time left, else projected from the
  timed epochs (``status`` says which);
- ``seeds``: the LOSO's cost with 5 seeds stacked against 1;
- ``memory``: bytes per fold of each compiled training program, the device's peak;
- ``export``: the converted model exported for this platform, loaded back and run.

The JSON (``--json``) is written after every section and every training row, atomically
(a temporary file renamed over it): ``{"device", "jax_version", "sections": {name:
{...}}, "skipped": [{"section", "reason"}]}``. Before each section and row the time left
is checked against what it is expected to cost (compile times already seen); what will
not fit is skipped and named in ``skipped``. ``--lower_only`` compiles nothing: it lowers
the training epoch (the platform's defaults), the evaluation, the export and, for
reference, the ``vmap/xla`` epoch for each of ``--platforms`` and counts their
convolutions into ``OUT["lowering"][platform][program]``. ``--tiny`` shrinks every size
so that the check runs on a CPU in a test. Figures: BENCHMARKS.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import sys
import tempfile
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
from mmnet_jax.training import fold_trainer, folds, lowering  # noqa: E402

SECTIONS = ("parity", "train", "loso", "seeds", "memory", "export")
PROGRAMS = ("train_epoch", "evaluate", "export", "train_epoch_vmap_xla")
LOWER_FOLDS = 4  # --lower_only's folds (subjects of its synthetic data): any G > 1 shows it
# Targets for one H100/H200-class GPU.
TARGET_LOSO_S = 120.0
TARGET_BF16_MFU = 0.40
TARGET_SEEDS_RATIO = 2.5


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What each section runs at (the full check, or ``--tiny``)."""

    image_size: int = 224
    subjects: int = bench.CASME2_SHAPE["subjects"]
    clips: int = bench.CASME2_SHAPE["clips"]
    epochs: int = bench.CASME2_SHAPE["epochs"]
    batch: int = bench.CASME2_SHAPE["batch_size"]
    fold_counts: tuple[int, int] = (4, 26)  # (few, all) folds in the train rows
    seeds: int = 5
    epochs_timed: int = 2
    # A first guess of one compilation (seconds), before any was seen.
    compile_guess_s: float = 60.0
    # Only the row the LOSO reuses (the platform's defaults, all folds), not all of
    # ``train_rows``.
    default_row_only: bool = False
    # MMNetConfig fields changed everywhere but in ``parity`` (--tiny: a narrow, shallow
    # MMNet, so that compiling stays within seconds on a CPU).
    model_overrides: tuple[tuple[str, object], ...] = ()

    def model(self, dtype: str, conv_impl: str) -> MMNetConfig:
        return bench.model_config(self.image_size, dtype, conv_impl, **dict(self.model_overrides))


TINY = Sizes(
    image_size=32,
    subjects=3,
    clips=9,
    epochs=2,
    batch=2,
    fold_counts=(2, 3),
    seeds=2,
    epochs_timed=1,
    compile_guess_s=5.0,
    default_row_only=True,
    model_overrides=(
        ("stem_width", 8),
        ("widths", (8, 8, 16, 32)),
        ("pc_embed_dim", 32),
        ("pc_num_heads", 2),
        ("pc_depth", 1),
    ),
)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def train_rows(sizes: Sizes) -> list[tuple[str, str, str, int]]:
    """``(dtype, fold_loop, conv_impl, folds)`` of the train section, most important first."""
    few, all_ = sizes.fold_counts
    if sizes.default_row_only:
        return [(_loso_dtype(), *_defaults(), all_)]
    per_dtype = [
        ("vmap", "matmul_grad", all_),
        ("map", "xla", all_),
        ("vmap", "xla", few),  # XLA:GPU's slow grouped weight gradients: a few folds only
        ("vmap", "matmul_grad", few),
        ("map", "xla", few),
    ]
    return [(dtype, *row) for dtype in ("bfloat16", "float32") for row in per_dtype]


# --- the budget and the output file ---------------------------------------------------
class Check:
    """The check's state: the clock, the JSON so far, what later sections reuse."""

    def __init__(self, sizes: Sizes, budget_s: float, out: str | None, log: Callable):
        self.sizes = sizes
        self.budget_s = budget_s
        self.out = out
        self.log = log
        self.t0 = time.perf_counter()
        self.compile_seen: list[float] = []
        self.trainers: dict[tuple, dict] = {}  # (dtype, loop, impl, folds) -> timed row
        self.data = None
        device = jax.devices()[0]
        self.res: dict = {
            "device": f"{jax.device_count()} x {device.device_kind} ({jax.default_backend()})",
            "jax_version": jax.__version__,
            "budget_s": budget_s,
            "machine": bench.machine_info(),
            "sizes": dataclasses.asdict(sizes),
            "sections": {},
            "skipped": [],
        }

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def compile_estimate(self) -> float:
        return max(self.compile_seen) if self.compile_seen else self.sizes.compile_guess_s

    def fits(self, section: str, need_s: float) -> bool:
        """Whether ``need_s`` fits in the time left; if not, ``section`` is skipped."""
        left = self.left()
        if need_s <= left:
            return True
        self.skip(section, f"needs about {need_s:.0f} s, {max(left, 0):.0f} s left")
        return False

    def skip(self, section: str, reason: str) -> None:
        self.res["skipped"].append({"section": section, "reason": reason})
        self.log(f"accelerator check: skipped {section}: {reason}")
        self.write()

    def write(self) -> None:
        """The JSON so far (``write_json``)."""
        self.res["elapsed_s"] = time.perf_counter() - self.t0
        if self.out:
            write_json(self.out, self.res)

    def casme2_data(self):
        if self.data is None:
            s = self.sizes
            self.data = bench.synthetic_clips(
                bench.casme2_like_counts(s.subjects, s.clips), s.image_size
            )
        return self.data


def write_json(out: str, res: dict) -> None:
    """``res`` as JSON in ``out``, atomically: a temporary file beside it, renamed over it,
    so that a reader (or a kill) never finds half a file."""
    path = pathlib.Path(out)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(res, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)


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


def parity(check: Check) -> dict:
    out: dict = {"model": "official 5-class MMNet, 224 px, parity-fixture weights (converted)"}
    logits = {}
    # bfloat16 operands are rounded whatever the precision: "highest" changes float32 only.
    for dtype, precision in (
        ("float32", "default"),
        ("float32", "highest"),
        ("bfloat16", "default"),
    ):
        model, onset, apex, torch_logits = official_model(dtype)
        with jax.default_matmul_precision(precision):
            fn = jax.jit(lambda m, o, a: m(o, a).astype(jnp.float32))
            t0 = time.perf_counter()
            compiled = fn.lower(model, onset, apex).compile()
            compile_s = time.perf_counter() - t0
            lg = np.asarray(compiled(model, onset, apex))
        check.compile_seen.append(compile_s)
        logits[dtype, precision] = lg
        if dtype == "float32":
            check.official = (model, onset, apex)  # for the export section
        out[f"{dtype}_{precision}"] = {
            "rel_err_vs_official_pytorch": _rel(lg, torch_logits),
            "same_argmax_as_pytorch": bool((lg.argmax(-1) == torch_logits.argmax(-1)).all()),
            "compile_s": compile_s,
        }
    ref = logits["float32", "highest"]
    out["bfloat16_vs_float32_highest_rel_err"] = _rel(logits["bfloat16", "default"], ref)
    out["float32_default_vs_highest_rel_err"] = _rel(logits["float32", "default"], ref)
    return out


def _timed_group(check: Check, dtype: str, loop: str, impl: str, count: int, seeds: int = 1):
    """Compile and time the epoch (and evaluation) of one group of ``count`` folds x
    ``seeds`` seeds on the CASME II-shaped data; returns the trainer, the group and the
    figures."""
    s = check.sizes
    data = check.casme2_data()
    plan = folds.make_plan(data.subjects)
    mesh = fold_trainer.make_mesh()
    settings = bench.train_settings(s.batch, plan.steps_per_epoch(s.batch), loop)
    settings = dataclasses.replace(settings, epochs=s.epochs)
    replicas = folds.make_replicas(plan, data.subjects, 0, seeds, 0)
    ft = fold_trainer.FoldTrainer(
        s.model(dtype, impl), settings, data, plan, seed=0, mesh=mesh, replicas=replicas
    )
    group = replicas.groups(count * seeds, mesh.size)[0]
    compiled, t = bench.time_group(ft, group, s.epochs_timed)
    check.compile_seen.append(t["compile_epoch_s"])
    epoch_s = t["epoch_s"]
    samples = len(group) * settings.steps_per_epoch * settings.batch_size
    per_sample = bench.reference_flops(s.image_size, train=True)
    peak = bench.datasheet_bf16_tflops(jax.devices()[0].device_kind)
    flops = samples * per_sample / epoch_s
    mem = bench.memory_of(compiled)
    row = {
        "dtype": dtype,
        "fold_loop": loop,
        "conv_impl": impl,
        "folds": count,
        "seeds": seeds,
        "models": len(group),
        "steps_per_epoch": settings.steps_per_epoch,
        "batch_size": settings.batch_size,
        "compile_s": t["compile_epoch_s"],
        "init_s": t["init_s"],
        "epoch_s": epoch_s,
        "epoch_times_s": t["epoch_times_s"],
        "eval_s": t["eval_s"],
        "eval_compile_s": t["compile_eval_s"],
        "samples_per_s": samples / epoch_s,
        "gflops_per_s": flops / 1e9,
        "flops_from": "reference count per sample (43.3 GFLOP at 224 px, by area)",
        "mfu_vs_datasheet_bf16": flops / (peak * 1e12) if peak else None,
        "memory": mem,
        "memory_per_model_bytes": (
            (mem["argument_bytes"] + mem["output_bytes"] + mem["temp_bytes"] - mem["alias_bytes"])
            / len(group)
            if mem
            else None
        ),
    }
    return ft, group, row


def train(check: Check) -> dict:
    out: dict = {"image_size": check.sizes.image_size, "rows": []}
    check.res["sections"]["train"] = out
    for dtype, loop, impl, count in train_rows(check.sizes):
        name = f"train {dtype} {loop}/{impl} x{count}"
        # Compile, two timed epochs and two evaluations: at most about 1.5 compilations.
        if not check.fits(name, 1.5 * check.compile_estimate()):
            continue
        check.log(f"accelerator check: {name} ({check.left():.0f} s left)")
        try:
            ft, group, row = _timed_group(check, dtype, loop, impl, count)
        except Exception as e:  # noqa: BLE001 - e.g. out of memory: the next rows still run
            out["rows"].append(
                {"dtype": dtype, "fold_loop": loop, "conv_impl": impl, "folds": count}
                | {"error": f"{type(e).__name__}: {str(e)[:2000]}"}
            )
            check.write()
            continue
        out["rows"].append(row)
        check.trainers[dtype, loop, impl, count] = {"ft": ft, "group": group, "row": row}
        check.write()
    return out


def _defaults() -> tuple[str, str]:
    return fold_trainer.platform_defaults()


def _loso_dtype() -> str:
    return "bfloat16" if jax.default_backend() != "cpu" else "float32"


def _projection(row: dict, groups: int, epochs: int) -> float:
    per_epoch = row["epoch_s"] + row["eval_s"]
    return row["compile_s"] + row["eval_compile_s"] + groups * (row["init_s"] + epochs * per_epoch)


def loso(check: Check) -> dict:
    """The CASME II-shaped LOSO with the platform's defaults, all folds in one group."""
    s = check.sizes
    loop, impl = _defaults()
    dtype = _loso_dtype()
    key = (dtype, loop, impl, s.fold_counts[1])
    if key in check.trainers:
        timed = check.trainers[key]
        ft, group, row = timed["ft"], timed["group"], timed["row"]
        reused = True
    else:
        if not check.fits("loso", 1.5 * check.compile_estimate()):
            return {"status": "skipped"}
        ft, group, row = _timed_group(check, dtype, loop, impl, s.fold_counts[1])
        reused = False
    projected = _projection(row, 1, s.epochs)
    out = {
        "status": "projected",
        "method": f"from {len(row['epoch_times_s'])} timed epoch(s) of the {len(group)}-fold "
        f"group (median) and one evaluation, x {s.epochs} epochs, plus the compile times",
        "subjects": s.subjects,
        "clips": s.clips,
        "epochs": s.epochs,
        "image_size": s.image_size,
        "batch_size": s.batch,
        "dtype": dtype,
        "fold_loop": loop,
        "conv_impl": impl,
        "folds_per_group": len(group),
        "reused_train_row": reused,
        "epoch_s": row["epoch_s"],
        "eval_s": row["eval_s"],
        "compile_s": row["compile_s"] + row["eval_compile_s"],
        "samples_per_s": row["samples_per_s"],
        "mfu_vs_datasheet_bf16": row["mfu_vs_datasheet_bf16"],
        "projected_wall_s": projected,
        "wall_s": projected,
    }
    # Measured end to end (the compile times already paid are added) when it fits.
    remaining = projected - out["compile_s"]
    if remaining <= check.left() - 5:
        check.log(f"accelerator check: LOSO measured (about {remaining:.0f} s)")
        out["wall_s"] = bench.run_loso(ft, [group], s.epochs) + out["compile_s"]
        out["status"] = "measured"
        out["method"] = (
            "measured: every epoch of the group through FoldTrainer (init, train, "
            "evaluate, losses and logits fetched; no checkpoints or report), plus the "
            "measured compile times"
        )
    else:
        check.res["skipped"].append(
            {"section": "loso measurement", "reason": f"about {remaining:.0f} s, projected"}
        )
    check.loso_row = row
    return out


def seeds(check: Check) -> dict:
    """The LOSO with ``sizes.seeds`` seeds stacked on the fold axis against one seed."""
    s = check.sizes
    loop, impl = _defaults()
    dtype = _loso_dtype()
    one = getattr(check, "loso_row", None)
    if one is None:
        return {"status": "skipped", "reason": "no one-seed LOSO figures to compare with"}
    folds_all = s.fold_counts[1]
    models = folds_all * s.seeds
    # The group that fits: from the one-seed program's memory per model.
    limit = _device_limit_bytes()
    per_model = one["memory_per_model_bytes"]
    fit = models
    if per_model and limit:
        fit = max(1, min(models, int(0.85 * limit // per_model)))
    groups = math.ceil(models / fit)
    per_group_folds = math.ceil(models / groups / s.seeds)
    if not check.fits("seeds", 1.5 * check.compile_estimate()):
        return {"status": "skipped"}
    ft, group, row = _timed_group(check, dtype, loop, impl, per_group_folds, s.seeds)
    del ft  # its device data and programs
    many = _projection(row, groups, s.epochs)
    base = _projection(one, 1, s.epochs)
    return {
        "seeds": s.seeds,
        "folds": folds_all,
        "models": models,
        "groups": groups,
        "models_per_group": row["models"],
        "dtype": dtype,
        "fold_loop": loop,
        "conv_impl": impl,
        "epoch_s": row["epoch_s"],
        "one_seed_epoch_s": one["epoch_s"],
        "compile_s": row["compile_s"],
        "projected_loso_s": many,
        "one_seed_projected_loso_s": base,
        "ratio_vs_one_seed": many / base,
        # The training alone (no compilation): seeds x the epochs of one seed's group.
        "epoch_ratio_vs_one_seed": groups * row["epoch_s"] / one["epoch_s"],
        "memory_per_model_bytes": row["memory_per_model_bytes"],
        "method": "both LOSO times projected from timed epochs of their own programs",
    }


def _device_limit_bytes() -> int | None:
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory statistics
        stats = {}
    return int(stats["bytes_limit"]) if "bytes_limit" in stats else None


def memory(check: Check) -> dict:
    rows = [r for r in check.res["sections"].get("train", {}).get("rows", []) if "epoch_s" in r]
    return {
        "per_model_bytes": [
            {
                k: r[k]
                for k in ("dtype", "fold_loop", "conv_impl", "folds", "memory_per_model_bytes")
            }
            for r in rows
        ],
        "device": bench.memory_snapshot()["device_memory"],
        "device_limit_bytes": _device_limit_bytes(),
        "note": "XLA's plan per compiled program (arguments + outputs + temporaries - "
        "aliases) over its models; the data is replicated, so it does not scale with folds",
    }


def export_check(check: Check) -> dict:
    """The converted model exported for this platform, loaded back and run."""
    from mmnet_jax.inference import export  # noqa: PLC0415

    model, onset, apex = getattr(check, "official", None) or official_model("float32")[:3]
    logits = np.asarray(jax.jit(lambda m, o, a: m(o, a))(model, onset, apex))
    platform = fold_trainer.platform_name()
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
        "same_argmax": bool((out.argmax(-1) == logits.argmax(-1)).all()),
    }


RUNNERS: dict[str, Callable[[Check], dict]] = {
    "parity": parity,
    "train": train,
    "loso": loso,
    "seeds": seeds,
    "memory": memory,
    "export": export_check,
}
# Sections that compile (at least) one program; the others cost nothing to speak of.
_COMPILING = ("parity", "train", "loso", "seeds", "export")


def run_check(
    sizes: Sizes,
    sections: tuple[str, ...] = SECTIONS,
    budget_s: float = 420.0,
    out: str | None = None,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> dict:
    """Every section in order, each one's figures or error, within ``budget_s``."""
    check = Check(sizes, budget_s, out, log)
    check.write()
    for name in sections:
        need = check.compile_estimate() if name in _COMPILING else 0.0
        if not check.fits(name, need):
            continue
        log(f"accelerator check: {name} ({check.left():.0f} s left)")
        s0 = time.perf_counter()
        try:
            res = RUNNERS[name](check)
        except Exception as e:  # noqa: BLE001 - one failing section must not hide the rest
            res = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        res["section_s"] = time.perf_counter() - s0
        check.res["sections"][name] = res
        check.write()
    check.res["targets"] = _targets(check.res["sections"])
    check.write()
    return check.res


def _targets(sections: dict) -> dict:
    lo, se = sections.get("loso", {}), sections.get("seeds", {})
    loop, impl = _defaults()
    rows = sections.get("train", {}).get("rows", [])
    head = [
        r
        for r in rows
        if (r.get("dtype"), r.get("fold_loop"), r.get("conv_impl")) == ("bfloat16", loop, impl)
        and r.get("mfu_vs_datasheet_bf16") is not None
    ]
    mfu = max((r["mfu_vs_datasheet_bf16"] for r in head), default=None)
    return {
        f"loso_wall_s <= {TARGET_LOSO_S:.0f}": (
            lo["wall_s"] <= TARGET_LOSO_S if lo.get("wall_s") is not None else None
        ),
        "loso_status": lo.get("status"),
        f"bf16_train_mfu >= {TARGET_BF16_MFU}": mfu >= TARGET_BF16_MFU if mfu else None,
        f"seeds_ratio <= {TARGET_SEEDS_RATIO}": (
            se["ratio_vs_one_seed"] <= TARGET_SEEDS_RATIO if "ratio_vs_one_seed" in se else None
        ),
        "errors": sorted(k for k, v in sections.items() if "error" in v)
        + [
            f"train {r['dtype']} {r['fold_loop']}/{r['conv_impl']} x{r['folds']}"
            for r in rows
            if "error" in r
        ],
    }


# --- lowering only ----------------------------------------------------------------------
def lower_programs(sizes: Sizes, platform: str) -> dict:
    """Per program, the convolutions of its lowering for ``platform`` (nothing compiled)."""
    from mmnet_jax.inference import export  # noqa: PLC0415

    loop, impl = fold_trainer.platform_defaults(platform)
    data = bench.synthetic_clips([2] * LOWER_FOLDS, sizes.image_size)
    plan = folds.make_plan(data.subjects)
    mesh = fold_trainer.make_mesh()
    texts = {}
    for program, (lp, im) in (
        ("train_epoch", (loop, impl)),
        ("train_epoch_vmap_xla", ("vmap", "xla")),
    ):
        settings = bench.train_settings(2, plan.steps_per_epoch(2), lp)
        ft = fold_trainer.FoldTrainer(sizes.model("float32", im), settings, data, plan, 0, mesh)
        group = plan.groups(0, mesh.size)[0]
        state = ft.init(group)
        texts[program] = ft.lower_epoch(state, ft.train_masks(group), platform).as_text()
        if program == "train_epoch":
            test_idx, _ = ft.test_indices(group)
            texts["evaluate"] = ft.lower_evaluate(state, test_idx, platform).as_text()
            model = ft.model_of(state, 0)
    exported = export.export_program(model, input_dtype="uint8", platforms=(platform,))
    texts["export"] = exported.mlir_module()
    out = {p: lowering.conv_counts(texts[p]) for p in PROGRAMS}
    out["train_epoch"] |= {"fold_loop": loop, "conv_impl": impl}
    return out


def lower_only(sizes: Sizes, platforms: tuple[str, ...], out: str | None) -> dict:
    device = jax.devices()[0]
    res = {
        "device": f"{jax.device_count()} x {device.device_kind} ({jax.default_backend()})",
        "jax_version": jax.__version__,
        "image_size": sizes.image_size,
        "folds": LOWER_FOLDS,
        "lowering": {},
    }
    for platform in platforms:
        res["lowering"][fold_trainer.platform_name(platform)] = lower_programs(sizes, platform)
    if out:
        write_json(out, res)
    return res


# --- the command ------------------------------------------------------------------------
def summary_lines(res: dict) -> list[str]:
    """A few lines for the terminal; the JSON has everything."""
    if "lowering" in res:
        return [
            f"{platform} {program}: {json.dumps(counts)}"
            for platform, programs in res["lowering"].items()
            for program, counts in programs.items()
            if isinstance(counts, dict)
        ]
    sec = res["sections"]
    lines = [f"{res['device']}, jax {res['jax_version']}, {res['elapsed_s']:.0f} s"]
    p = sec.get("parity", {})
    for key in ("float32_default", "float32_highest", "bfloat16_default"):
        if key in p:
            lines.append(f"parity {key}: rel err {p[key]['rel_err_vs_official_pytorch']:.2e}")
    for r in sec.get("train", {}).get("rows", []):
        name = f"train {r['dtype']} {r['fold_loop']}/{r['conv_impl']} x{r['folds']}"
        if "error" in r:
            lines.append(f"{name}: {r['error'][:120]}")
            continue
        u = r["mfu_vs_datasheet_bf16"]
        mfu = "n/a" if u is None else f"{100 * u:.1f}%"
        lines.append(
            f"{name}: {r['samples_per_s']:.0f} samples/s, MFU {mfu}, compile {r['compile_s']:.0f} s"
        )
    lo = sec.get("loso", {})
    if lo.get("wall_s") is not None:
        lines.append(f"LOSO {lo['status']}: {lo['wall_s']:.0f} s")
    se = sec.get("seeds", {})
    if "ratio_vs_one_seed" in se:
        lines.append(f"{se['seeds']} seeds: {se['ratio_vs_one_seed']:.2f} x one seed's LOSO")
    e = sec.get("export", {})
    if "rel_err_vs_model" in e:
        lines.append(f"export ({e['platform']}): rel err vs model {e['rel_err_vs_model']:.1e}")
    lines += [f"skipped {s['section']}: {s['reason']}" for s in res["skipped"]]
    if "targets" in res:
        lines.append(f"targets: {json.dumps(res['targets'])}")
    return lines


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "json", None, "write the results here (JSON), after every section", flag_values=fv
    )
    flags.DEFINE_boolean("tiny", False, "tiny sizes: the whole check on a CPU", flag_values=fv)
    flags.DEFINE_float(
        "budget_s", 420.0, "time budget in seconds; what will not fit is skipped", flag_values=fv
    )
    flags.DEFINE_list("sections", list(SECTIONS), ",".join(SECTIONS), flag_values=fv)
    flags.DEFINE_boolean(
        "lower_only",
        False,
        "only lower the programs for --platforms and count convolutions",
        flag_values=fv,
    )
    flags.DEFINE_list("platforms", ["cuda", "tpu"], "platforms for --lower_only", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    unknown = [s for s in fv.sections if s not in SECTIONS]
    if unknown:
        cli.fail(f"--sections: unknown {unknown[0]!r}; known: {','.join(SECTIONS)}")
    bad = [
        p
        for p in fv.platforms
        if fold_trainer.platform_name(p) not in fold_trainer.PLATFORM_DEFAULTS
    ]
    if bad:
        cli.fail(
            f"--platforms: unknown {bad[0]!r}; known: {','.join(fold_trainer.PLATFORM_DEFAULTS)}"
        )
    if fv.json:
        parent = pathlib.Path(fv.json).resolve().parent
        if not parent.is_dir():
            cli.fail(f"--json {fv.json}: no such directory {parent}")
    sizes = TINY if fv.tiny else Sizes()
    if fv.lower_only:
        res = lower_only(
            TINY if fv.tiny else dataclasses.replace(sizes, image_size=64),
            tuple(fv.platforms),
            fv.json,
        )
    else:
        res = run_check(sizes, tuple(fv.sections), budget_s=fv.budget_s, out=fv.json)
    print("\n".join(summary_lines(res)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
