"""Measure mmnet_jax's speed in one run; write JSON and a Markdown table.

    python benchmarks/run.py --quick --json /tmp/bench.json --md /tmp/bench.md
    python benchmarks/run.py --dtype float32,bfloat16 --json bench.json   # e.g. on a GPU

``--quick`` takes under 5 minutes on a 2-core CPU. Sizes left unset take the mode's and
the backend's defaults. What each figure means: benchmarks/README.md.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from mmnet_jax.training import hugepages  # noqa: E402

if __name__ == "__main__":
    hugepages.reexec()  # measure what train.py runs (MMNET_JAX_HUGEPAGES=0 to compare)

import jax  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks import bench, common  # noqa: E402
from mmnet_jax import cli  # noqa: E402
from mmnet_jax.training import fold_trainer  # noqa: E402

SECTIONS = ("ceilings", "train", "eval", "folds", "loso")
HEADLINE_KEYS = (
    "train_samples_per_s",
    "train_gflops_per_s",
    "eval_samples_per_s",
    "conv_peak_gflops_per_s",
    "matmul_peak_gflops_per_s",
)


@dataclasses.dataclass
class Options:
    """Everything one benchmark run measures; ``defaults`` fills what is left as None."""

    quick: bool = False
    dtypes: tuple[str, ...] = ("float32",)
    image_size: int = 224
    train_batch: int | None = None
    eval_batches: tuple[int, ...] | None = None
    conv_impls: tuple[str, ...] = ("xla", "matmul_grad")
    fold_image_size: int | None = None
    fold_counts: tuple[int, ...] | None = None
    fold_loops: tuple[str, ...] | None = None
    fold_batch: int | None = None
    fold_clips_per_subject: int | None = None
    repeats: int | None = None
    min_seconds: float | None = None
    matmul_size: int | None = None
    conv_batch: int | None = None
    conv_size: int = 112
    conv_channels: int = 128
    loso: str | None = None  # steps | epochs | auto | skip
    loso_group: int | None = None
    loso_measure_under_s: float | None = None
    loso_epochs_timed: int | None = None
    sections: tuple[str, ...] = SECTIONS
    # MMNetConfig fields to override (tests shrink the model with it).
    model_overrides: dict = dataclasses.field(default_factory=dict)

    def defaults(self) -> Options:
        """A copy with every None replaced by the mode's and the backend's default."""
        accel = jax.default_backend() != "cpu"
        q = self.quick
        fill = {
            "train_batch": 4 if q else (32 if accel else 16),
            "eval_batches": (8, 32),
            "fold_image_size": 64 if q else (224 if accel else 112),
            "fold_counts": (1, 2, 4) if q else (1, 2, 4, 8),
            # Quick: the run's own choice for this backend; full: both, to compare.
            "fold_loops": ("auto",) if q else ("map", "vmap"),
            "fold_batch": 8 if q else (32 if accel else 16),
            "fold_clips_per_subject": 4 if q else 8,
            "repeats": 3 if q else 5,
            "min_seconds": 0.5 if accel else 0.0,
            "matmul_size": 8192 if accel else 2048,
            "conv_batch": 64 if accel else 8,
            "loso": "steps" if q else "auto",
            # On CPU the folds of a group run one after another ("map"): one fold's epoch
            # predicts a group's; accelerators train every fold at once (the run default).
            "loso_group": 0 if accel else 1,
            "loso_measure_under_s": 0.0 if q else 900.0,
            "loso_epochs_timed": 2 if accel else 1,
        }
        return dataclasses.replace(
            self, **{k: v for k, v in fill.items() if getattr(self, k) is None}
        )


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class _Context:
    """What the sections share: options with defaults filled, and the model choices."""

    o: Options
    dtype: str  # the first dtype: the headline figures' one
    conv_impl: str  # the backend's default conv_impl: the headline figures' one

    def cfg(self, image_size: int, dtype: str, conv_impl: str):
        return bench.model_config(image_size, dtype, conv_impl, **self.o.model_overrides)


def run_all(opts: Options) -> dict:
    """Run the selected sections; returns the JSON-ready result (see README.md)."""
    o = opts.defaults()
    t_start, c_start = time.perf_counter(), time.process_time()
    res: dict = {"schema_version": 1, "mode": "quick" if o.quick else "full"}
    res.update(bench.machine_info())
    res["options"] = dataclasses.asdict(o)
    res.update(section_seconds={}, section_cpu_seconds={}, memory_after={}, compile_seconds={})
    impl = fold_trainer.default_conv_impl()
    ctx = _Context(o, o.dtypes[0], impl if impl in o.conv_impls else o.conv_impls[0])
    steps = {
        "ceilings": _ceilings,
        "train": _train,
        "eval": _eval,
        "folds": _folds,
        "loso": _loso,
    }
    for name in SECTIONS:
        if name not in o.sections or (name == "loso" and o.loso == "skip"):
            continue
        # Process CPU time beside wall time: on a shared machine a section's wall time
        # stretches with the load, its CPU time much less.
        t0, c0 = time.perf_counter(), time.process_time()
        steps[name](ctx, res)
        res["section_seconds"][name] = time.perf_counter() - t0
        res["section_cpu_seconds"][name] = time.process_time() - c0
        res["memory_after"][name] = bench.memory_snapshot()
    res.update(bench.memory_snapshot())
    res["load_average_end"] = common.load_average()
    res["total_seconds"] = time.perf_counter() - t_start
    res["total_cpu_seconds"] = time.process_time() - c_start
    return res


def _ceilings(ctx: _Context, res: dict) -> None:
    o = ctx.o
    conv_shape = (o.conv_batch, o.conv_size, o.conv_channels)
    rows = []
    for dtype in o.dtypes:
        _log(f"ceilings: {o.matmul_size}^2 matmul, 3x3 conv ({dtype})")
        mm = bench.matmul_peak(o.matmul_size, dtype, o.repeats, o.min_seconds)
        conv = bench.conv_peak(*conv_shape, dtype, o.repeats, o.min_seconds)
        rows += [{"what": "matmul", **mm}, conv]
        sfx = "" if dtype == "float32" else f"_{dtype}"
        res[f"matmul_peak{sfx}_gflops_per_s"] = mm["gflops_per_s"]
        res[f"conv_peak{sfx}_gflops_per_s"] = conv["gflops_per_s"]
    for impl in o.conv_impls:
        _log(f"ceilings: 3x3 conv weight gradient ({impl}, {ctx.dtype})")
        rows.append(
            bench.conv_peak(
                *conv_shape, ctx.dtype, max(1, o.repeats - 1), o.min_seconds, wgrad_impl=impl
            )
        )
    res["ceilings"] = rows


def _train(ctx: _Context, res: dict) -> None:
    o = ctx.o
    rows = []
    for dtype in o.dtypes:
        for impl in o.conv_impls:
            _log(f"train step: {o.image_size} px, batch {o.train_batch}, {impl}, {dtype}")
            row = bench.train_step_bench(
                ctx.cfg(o.image_size, dtype, impl), o.train_batch, o.repeats, o.min_seconds
            )
            row.update(_vs_peaks(res, row["gflops_per_s"], dtype))
            rows.append(row)
            res["compile_seconds"][f"train_step_{impl}_{dtype}"] = row["compile_s"]
    res["train"] = rows
    head = _pick(rows, dtype=ctx.dtype, conv_impl=ctx.conv_impl)
    res["train_samples_per_s"] = head["samples_per_s"]
    res["train_gflops_per_s"] = head["gflops_per_s"] or head["reference_gflops_per_s"]
    res["train_headline"] = {k: head[k] for k in ("conv_impl", "dtype", "batch_size")}
    vs = _vs_peaks(res, res["train_gflops_per_s"], ctx.dtype)
    res.update({f"train_{k}": v for k, v in vs.items()})


def _eval(ctx: _Context, res: dict) -> None:
    o = ctx.o
    rows = []
    for dtype in o.dtypes:
        for b in o.eval_batches:
            _log(f"eval: {o.image_size} px, batch {b}, {dtype}")
            cfg = ctx.cfg(o.image_size, dtype, ctx.conv_impl)
            row = bench.eval_bench(cfg, b, o.repeats, o.min_seconds)
            rows.append(row)
            res["compile_seconds"][f"eval_b{b}_{dtype}"] = row["compile_s"]
    res["eval"] = rows
    head = max((r for r in rows if r["dtype"] == ctx.dtype), key=lambda r: r["batch_size"])
    res["eval_samples_per_s"] = head["samples_per_s"]
    res["eval_gflops_per_s"] = head["gflops_per_s"] or head["reference_gflops_per_s"]
    res["eval_headline"] = {"dtype": ctx.dtype, "batch_size": head["batch_size"]}


def _folds(ctx: _Context, res: dict) -> None:
    o = ctx.o
    subjects = max(max(o.fold_counts), 2)
    data = bench.synthetic_clips([o.fold_clips_per_subject] * subjects, o.fold_image_size)
    cfg = ctx.cfg(o.fold_image_size, ctx.dtype, ctx.conv_impl)
    rows = []
    for loop in o.fold_loops:
        _log(
            f"fold-parallel epoch: {o.fold_image_size} px, batch {o.fold_batch}, "
            f"folds {list(o.fold_counts)}, loop {loop}"
        )
        rows += bench.fold_scaling(
            cfg, data, o.fold_batch, o.fold_counts, loop, o.repeats, o.min_seconds
        )
    for r in rows:
        res["compile_seconds"][f"epoch_{r['fold_loop']}_g{r['folds']}"] = r["compile_s"]
    res["fold_scaling"] = rows


def _loso(ctx: _Context, res: dict) -> None:
    o = ctx.o
    shape = bench.CASME2_SHAPE
    if o.loso == "steps":
        if "train_samples_per_s" not in res or "eval_samples_per_s" not in res:
            lo = {
                "status": "skipped",
                "wall_s": None,
                "method": "needs the train and eval sections",
            }
        else:
            _log("LOSO: projecting from the train-step and eval throughputs")
            lo = bench.loso_from_steps(res["train_samples_per_s"], res["eval_samples_per_s"])
            lo["method"] += f" (train step at batch {res['train_headline']['batch_size']})"
    else:
        _log(
            f"LOSO: timing {o.loso_epochs_timed} epoch(s) of a CASME II-shaped fold group "
            f"({o.loso_group or 'all'} folds, {shape['image_size']} px, batch "
            f"{shape['batch_size']})"
        )
        lo = bench.loso_from_epochs(
            ctx.cfg(shape["image_size"], ctx.dtype, ctx.conv_impl),
            o.loso_group,
            epochs_timed=o.loso_epochs_timed,
            measure_if_under_s=o.loso_measure_under_s if o.loso == "auto" else 0.0,
        )
        res["compile_seconds"]["loso_epoch"] = lo["compile_epoch_s"]
    res["loso"] = lo
    res["loso_wall_s"] = lo["wall_s"]
    res["loso_status"] = lo["status"]


def _pick(rows: list[dict], **want) -> dict:
    for r in rows:
        if all(r.get(k) == v for k, v in want.items()):
            return r
    return rows[0]


def _vs_peaks(res: dict, gflops: float | None, dtype: str) -> dict:
    """Achieved FLOP/s over the ceilings measured in this run (and the datasheet)."""
    if not gflops:
        return {}
    sfx = "" if dtype == "float32" else f"_{dtype}"
    out = {}
    for peak in ("conv", "matmul"):
        p = res.get(f"{peak}_peak{sfx}_gflops_per_s")
        if p:
            out[f"vs_{peak}_peak"] = gflops / p
    sheet = res.get("datasheet_bf16_tflops")
    if sheet:
        out["vs_datasheet_bf16"] = gflops / (sheet * 1e3)
    return out


# --- Markdown ---------------------------------------------------------------------------
def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def to_markdown(res: dict) -> str:
    """The result of ``run_all`` as Markdown tables."""
    la = res.get("load_average") or []
    lines = [
        f"# mmnet_jax benchmarks ({res['mode']} mode)",
        "",
        f"{res['cpu_model']}, {res['cpu_cores']} cores ({res['cpu_cores_usable']} usable); "
        f"backend **{res['backend']}**, {res['device_count']} x {res['device_kind']}; "
        f"jax {res['jax_version']}, flax {res['flax_version']}. Load average at start "
        f"{'/'.join(f'{x:.1f}' for x in la)}, at end "
        f"{'/'.join(f'{x:.1f}' for x in res.get('load_average_end') or [])}. "
        f"Benchmark wall time {res['total_seconds']:.0f} s ({res['total_cpu_seconds']:.0f} "
        "CPU-s). Figures are medians of timed repeats; compile times are excluded.",
        "",
    ]
    hp = res.get("hugepages") or {}
    if hp.get("thp_mode"):
        asked = (
            "asked for (glibc.malloc.hugetlb=1)"
            if hp.get("glibc_malloc_hugetlb")
            else "not asked for"
        )
        lines += [f"Transparent huge pages: kernel mode `{hp['thp_mode']}`, {asked}.", ""]
    if res.get("datasheet_bf16_tflops"):
        lines += [f"Datasheet dense bf16 peak: {res['datasheet_bf16_tflops']} TFLOP/s.", ""]
    lines += ["## Headline", ""]
    lines += common.table(
        ["figure", "value"], [[k, common.fmt(res.get(k), 2)] for k in HEADLINE_KEYS]
    )
    if res.get("ceilings"):
        lines += ["## Ceilings", ""]
        lines += common.table(
            ["what", "shape", "dtype", "GFLOP/s", "median s", "compile s"],
            [
                [
                    r["what"],
                    "x".join(map(str, r["shape"])),
                    r["dtype"],
                    common.fmt(r["gflops_per_s"]),
                    common.fmt(r["timing"]["median_s"], 4),
                    common.fmt(r["compile_s"], 2),
                ]
                for r in res["ceilings"]
            ],
        )
    if res.get("train"):
        lines += ["## Training step (one model: forward, backward, AdamW; donated)", ""]
        lines += common.table(
            [
                "conv_impl",
                "dtype",
                "px",
                "batch",
                "samples/s",
                "GFLOP/s",
                "GFLOP/sample (XLA)",
                "XLA / reference",
                "vs conv peak",
                "vs matmul peak",
                "vs datasheet bf16",
                "compile s",
            ],
            [
                [
                    r["conv_impl"],
                    r["dtype"],
                    r["image_size"],
                    r["batch_size"],
                    common.fmt(r["samples_per_s"], 2),
                    common.fmt(r["gflops_per_s"]),
                    common.fmt(r["flops_per_sample"] and r["flops_per_sample"] / 1e9, 2),
                    common.fmt(r["flops_vs_reference"], 3),
                    _pct(r.get("vs_conv_peak")),
                    _pct(r.get("vs_matmul_peak")),
                    _pct(r.get("vs_datasheet_bf16")),
                    common.fmt(r["compile_s"]),
                ]
                for r in res["train"]
            ],
        )
    if res.get("eval"):
        lines += ["## Evaluation (one model, forward in eval mode)", ""]
        lines += common.table(
            ["dtype", "px", "batch", "samples/s", "GFLOP/s", "GFLOP/sample (XLA)", "compile s"],
            [
                [
                    r["dtype"],
                    r["image_size"],
                    r["batch_size"],
                    common.fmt(r["samples_per_s"], 2),
                    common.fmt(r["gflops_per_s"]),
                    common.fmt(r["flops_per_sample"] and r["flops_per_sample"] / 1e9, 2),
                    common.fmt(r["compile_s"]),
                ]
                for r in res["eval"]
            ],
        )
    if res.get("fold_scaling"):
        lines += ["## Fold-parallel epoch (FoldTrainer, folds stacked)", ""]
        lines += common.table(
            [
                "fold_loop",
                "folds",
                "px",
                "batch x steps",
                "samples/s",
                "vs first row",
                "epoch s",
                "compile s",
            ],
            [
                [
                    r["fold_loop"],
                    r["folds"],
                    r["image_size"],
                    f"{r['batch_size']} x {r['steps_per_epoch']}",
                    common.fmt(r["samples_per_s"], 2),
                    common.fmt(r["throughput_vs_first"], 2),
                    common.fmt(r["epoch_s"], 2),
                    common.fmt(r["compile_s"]),
                ]
                for r in res["fold_scaling"]
            ],
        )
    if res.get("loso"):
        lo = res["loso"]
        lines += ["## CASME II-shaped LOSO on synthetic data", ""]
        if lo.get("wall_s") is None:
            lines += [f"Skipped: {lo.get('method')}.", ""]
        else:
            lines += [
                f"**{lo['status'].upper()}**: {lo['wall_s'] / 3600:.2f} h "
                f"({lo['subjects']} subjects, {lo['clips']} clips, {lo['epochs']} epochs, "
                f"batch {lo['batch_size']}, {lo['steps_per_epoch']} steps per epoch); "
                f"{lo['method']}."
                + (
                    f" Projected beforehand: {lo['projected_wall_s'] / 3600:.2f} h."
                    if lo["status"] == "measured"
                    else ""
                ),
                "",
            ]
    lines += ["## Memory and compilation", ""]
    mem = [["host peak RSS (GiB)", common.fmt(res["host_peak_rss_bytes"] / 2**30, 2)]]
    dm = res.get("device_memory")
    if dm:
        for k, v in dm.items():
            mem.append([f"device {k} (GiB)", common.fmt(v / 2**30, 2)])
    else:
        mem.append(["device memory", "not reported by this backend"])
    mem += [[f"compile {k} (s)", common.fmt(v)] for k, v in res["compile_seconds"].items()]
    lines += common.table(["what", "value"], mem)
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------
def _define(fv: flags.FlagValues) -> None:
    def integer(name, help_):
        flags.DEFINE_integer(name, None, help_, flag_values=fv)

    def number(name, help_):
        flags.DEFINE_float(name, None, help_, flag_values=fv)

    flags.DEFINE_boolean("quick", False, "under 5 minutes on a 2-core CPU", flag_values=fv)
    flags.DEFINE_string("json", None, "write the results here (JSON)", flag_values=fv)
    flags.DEFINE_string("md", None, "write the Markdown tables here (also printed)", flag_values=fv)
    flags.DEFINE_list("dtype", ["float32"], "e.g. float32,bfloat16", flag_values=fv)
    flags.DEFINE_integer("image_size", 224, "train/eval image size", flag_values=fv)
    integer("train_batch", "train-step batch (quick 4)")
    flags.DEFINE_list("eval_batches", None, "e.g. 8,32", flag_values=fv)
    flags.DEFINE_list("conv_impls", ["xla", "matmul_grad"], "conv_impl values", flag_values=fv)
    integer("fold_image_size", "fold-parallel epoch size (quick 64)")
    flags.DEFINE_list("fold_counts", None, "folds per group, e.g. 1,2,4,8", flag_values=fv)
    flags.DEFINE_list("fold_loops", None, "auto, map, vmap (comma list)", flag_values=fv)
    integer("fold_batch", "fold-parallel epoch batch")
    integer("fold_clips_per_subject", "synthetic clips per subject")
    integer("repeats", "timed samples per figure (median)")
    number("min_seconds", "least seconds per timed sample")
    integer("matmul_size", "matmul ceiling size n")
    integer("conv_batch", "conv ceiling batch")
    flags.DEFINE_enum(
        "loso",
        None,
        ["steps", "epochs", "auto", "skip"],
        "LOSO wall time: projected from steps (quick) or epochs; auto also measures the "
        "whole run when projected under --loso_measure_under_s",
        flag_values=fv,
    )
    integer("loso_group", "folds per group (0: all)")
    number("loso_measure_under_s", "measure the LOSO run when projected under this")
    integer("loso_epochs_timed", "epochs timed for the LOSO projection")
    flags.DEFINE_list("sections", list(SECTIONS), ",".join(SECTIONS), flag_values=fv)


def _writable(path: str | None, name: str) -> None:
    """Refuse an output path whose folder is missing before measuring for minutes."""
    if path and not pathlib.Path(path).resolve().parent.is_dir():
        cli.fail(f"--{name} {path}: folder {pathlib.Path(path).parent} does not exist")


def options_from_flags(fv: flags.FlagValues) -> Options:
    """The benchmark :class:`Options` of parsed flags (raises ``cli.UserError``)."""
    unknown = sorted(set(fv.sections) - set(SECTIONS))
    if unknown:
        cli.fail(f"--sections: unknown {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    return Options(
        quick=fv.quick,
        dtypes=tuple(fv.dtype),
        image_size=fv.image_size,
        train_batch=fv.train_batch,
        eval_batches=common.flag_ints(fv, "eval_batches"),
        conv_impls=tuple(fv.conv_impls),
        fold_image_size=fv.fold_image_size,
        fold_counts=common.flag_ints(fv, "fold_counts"),
        fold_loops=tuple(fv.fold_loops) if fv.fold_loops else None,
        fold_batch=fv.fold_batch,
        fold_clips_per_subject=fv.fold_clips_per_subject,
        repeats=fv.repeats,
        min_seconds=fv.min_seconds,
        matmul_size=fv.matmul_size,
        conv_batch=fv.conv_batch,
        loso=fv.loso,
        loso_group=fv.loso_group,
        loso_measure_under_s=fv.loso_measure_under_s,
        loso_epochs_timed=fv.loso_epochs_timed,
        sections=tuple(fv.sections),
    )


def parse_args(argv: list[str]) -> tuple[Options, flags.FlagValues]:
    """(Options, parsed flags) of a command line (raises ``cli.UserError``)."""
    fv = flags.FlagValues()
    _define(fv)
    cli.no_positional(cli.parse(__doc__, fv, argv) or [])
    return options_from_flags(fv), fv


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    opts = options_from_flags(fv)
    _writable(fv.json, "json")
    _writable(fv.md, "md")
    res = run_all(opts)
    md = to_markdown(res)
    print(md)
    if fv.json:
        pathlib.Path(fv.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
    if fv.md:
        pathlib.Path(fv.md).write_text(md + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
