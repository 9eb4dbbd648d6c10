"""Where one MMNet training step spends its time on XLA:CPU, op by op.

    python benchmarks/profile_step.py --batch 4 --out /tmp/mmnet_profile

Traces a few calls of the benchmark's training step (``bench.make_train_step`` over the
fold trainer's ``train_step``: forward, backward, AdamW; the run's optimiser) with
``jax.profiler``, maps every executed thunk to the HLO instruction it runs (from XLA's
dump of the optimised module) and prints, per step: milliseconds by (forward/backward,
operation), the largest thunks, and how much of the step had no thunk, one, or several
running. ``--json`` keeps the same figures.
benchmarks/NOTES.md quotes its output; profile before changing anything for speed.

It sets ``XLA_FLAGS`` (thunk trace events and the HLO dump) before JAX starts, so run it
as its own process. CPU only: accelerator traces name their kernels differently.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import pathlib
import re
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402  (imports neither JAX nor the model)

# Trace events and HLO names that are not thunks of the step.
_NOT_THUNKS = re.compile(r"(\$|ThunkExecutor|Pjit|Slinky|PjRt|Tfrt|Threadpool|end: |Wait for)")
_INSTR = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ([\w\-]+)\((.*)$", re.M)


def _set_flags(dump_dir: str) -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_cpu_enable_xprof_traceme=true --xla_dump_to={dump_dir} "
        "--xla_dump_hlo_pass_re=NONE"
    ).strip()


def hlo_instructions(text: str) -> dict[str, tuple[str, str]]:
    """Instruction name -> (shape, op_name metadata) of an optimised HLO module's text."""
    out = {}
    for m in _INSTR.finditer(text):
        name, shape, _, rest = m.groups()
        op_name = re.search(r'op_name="([^"]*)"', rest)
        out[name] = (shape, op_name.group(1) if op_name else "")
    return out


def categorise(name: str, op_name: str) -> tuple[str, str]:
    """(phase, kind): "bwd" for ops JAX's autodiff transposed; the op's primitive, with
    "ynn:" for thunks run by the YNNPACK library."""
    phase = "bwd" if "transpose(" in op_name else "fwd"
    kind = op_name.split("/")[-1] if op_name else name.split(".")[0]
    return phase, ("ynn:" if name.startswith("ynn") else "") + kind


def summarise(events: list[dict], instrs: dict, steps: int) -> dict:
    """Per-step figures from the trace events of ``steps`` executions."""
    thunks = [
        e
        for e in events
        if e.get("ph") == "X" and not _NOT_THUNKS.match(e["name"]) and e["name"] in instrs
    ]
    by_cat: dict[tuple[str, str], float] = collections.defaultdict(float)
    by_thunk: dict[str, float] = collections.defaultdict(float)
    for e in thunks:
        shape, op_name = instrs[e["name"]]
        ms = e["dur"] / 1e3 / steps
        by_cat[categorise(e["name"], op_name)] += ms
        by_thunk[f"{e['name']} {shape} {op_name.split('/')[-1]}"] += ms
    # Concurrency over the executions' own spans.
    spans = [e for e in events if e.get("name") == "ThunkExecutor::Execute (wait for completion)"]
    running: dict[int, float] = collections.defaultdict(float)
    for span in spans:
        lo, hi = span["ts"], span["ts"] + span["dur"]
        inside = [e for e in thunks if lo <= e["ts"] <= hi]
        edges = sorted(
            [(e["ts"], 1) for e in inside] + [(min(hi, e["ts"] + e["dur"]), -1) for e in inside]
        )
        level, last = 0, lo
        for t, d in edges:
            running[level] += (t - last) / 1e3
            level, last = level + d, t
        running[level] += (hi - last) / 1e3
    step_ms = sum(s["dur"] for s in spans) / 1e3 / max(1, len(spans))
    return {
        "step_ms": step_ms,
        "thunk_ms": sum(by_cat.values()),
        "by_category_ms": {
            f"{p} {k}": v for (p, k), v in sorted(by_cat.items(), key=lambda kv: -kv[1])
        },
        "top_thunks_ms": dict(sorted(by_thunk.items(), key=lambda kv: -kv[1])[:25]),
        "thunks_running_ms": {str(k): v / max(1, len(spans)) for k, v in sorted(running.items())},
    }


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_integer("batch", 4, "training batch", flag_values=fv)
    flags.DEFINE_integer("image_size", 224, "image size (px)", flag_values=fv)
    flags.DEFINE_string("conv_impl", "matmul_grad", "xla or matmul_grad", flag_values=fv)
    flags.DEFINE_string("dtype", "float32", "float32 or bfloat16", flag_values=fv)
    flags.DEFINE_integer("steps", 2, "traced steps (after a warm-up)", flag_values=fv)
    flags.DEFINE_string("out", "/tmp/mmnet_profile", "trace and HLO dump here", flag_values=fv)
    flags.DEFINE_string("json", None, "write the figures here", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if fv.json and not pathlib.Path(fv.json).resolve().parent.is_dir():
        cli.fail(f"--json {fv.json}: folder {pathlib.Path(fv.json).parent} does not exist")
    profile(fv.batch, fv.image_size, fv.conv_impl, fv.dtype, fv.steps, fv.out, fv.json)
    return 0


def profile(
    batch: int,
    image_size: int,
    conv_impl: str,
    dtype: str,
    steps: int,
    out_dir: str,
    json_path: str | None = None,
) -> dict:
    """Trace ``steps`` training steps and return the figures of :func:`summarise`."""
    from mmnet_jax.training import hugepages  # noqa: PLC0415

    hugepages.reexec()  # as train.py runs
    out = pathlib.Path(out_dir).resolve()
    _set_flags(str(out / "hlo"))

    import jax  # noqa: PLC0415  (after XLA_FLAGS is set)

    from benchmarks import bench  # noqa: PLC0415
    from mmnet_jax.training import fold_trainer  # noqa: PLC0415

    cfg = bench.model_config(image_size, dtype, conv_impl)
    graphdef, _, params, rest = bench._split_model(cfg)
    tx = fold_trainer.make_optimizer(bench.train_settings(batch, steps_per_epoch=8))
    state = (params, rest, jax.jit(tx.init)(params))
    onset, apex, labels = bench._inputs(cfg, batch)
    step = jax.jit(bench.make_train_step(graphdef, tx), donate_argnums=(0,))
    compiled = step.lower(state, onset, apex, labels).compile()
    state, loss = compiled(state, onset, apex, labels)
    jax.block_until_ready(loss)
    t0 = time.perf_counter()
    with jax.profiler.trace(str(out / "trace"), create_perfetto_trace=True):
        for _ in range(steps):
            state, loss = compiled(state, onset, apex, labels)
            jax.block_until_ready(loss)
    wall = (time.perf_counter() - t0) / steps  # includes the profiler's own work
    dumps = sorted(glob.glob(str(out / "hlo" / "*jit_step.cpu_after_optimizations.txt")))
    traces = sorted(glob.glob(str(out / "trace" / "**" / "*.trace.json.gz"), recursive=True))
    if not dumps or not traces:
        cli.fail(f"no HLO dump or trace under {out} (is the backend CPU?)")
    instrs = hlo_instructions(pathlib.Path(dumps[-1]).read_text())
    with gzip.open(traces[-1]) as f:
        events = json.load(f)["traceEvents"]
    res = summarise(events, instrs, steps)
    res.update(
        batch=batch,
        image_size=image_size,
        conv_impl=conv_impl,
        dtype=dtype,
        steps=steps,
        out=out_dir,
        json=json_path,
        traced_wall_s=wall,
        samples_per_s=batch * 1e3 / res["step_ms"],
    )
    print(
        f"step {res['step_ms']:.0f} ms (traced, {res['samples_per_s']:.2f} samples/s), "
        f"thunks {res['thunk_ms']:.0f} ms"
    )
    print(
        "running at once (ms): "
        + ", ".join(f"{k}: {v:.0f}" for k, v in res["thunks_running_ms"].items())
    )
    for k, v in list(res["by_category_ms"].items())[:20]:
        print(f"{v:8.1f} ms  {k}")
    print("largest thunks:")
    for k, v in list(res["top_thunks_ms"].items())[:12]:
        print(f"{v:8.1f} ms  {k}")
    if json_path:
        pathlib.Path(json_path).write_text(json.dumps(res, indent=1))
    return res


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
