"""The measurements behind ``benchmarks/run.py``, each importable and usable alone.

Timing method, everywhere: compile ahead of time (timed apart, never inside a speed
figure), one warm-up call, then ``repeats`` timed samples, each of ``inner`` back-to-back
calls closed by ``jax.block_until_ready``; a figure is the MEDIAN sample. ``inner`` grows
until a sample lasts ``min_seconds`` (1 for the slow CPU calls), so that dispatch does
not dominate fast accelerator calls. Inputs are random, never zeros.

Figures, and where their FLOPs come from:

- ceilings: a jitted ``n x n`` matmul (``2 n^3`` FLOPs) and a 3x3 NHWC convolution
  (``2 B H W Cin Cout 9``), plus that convolution's weight gradient with XLA's own
  derivative and with ``conv_impl="matmul_grad"``;
- MMNet: one jitted training step of one model (forward, backward, AdamW update,
  donated state) and one jitted forward pass in eval mode; FLOPs from XLA's cost
  analysis of the compiled program, cross-checked against the reference count of 43
  (train) and 14.4 (eval) GFLOP per sample at 224 px;
- fold-parallel: ``FoldTrainer``'s compiled epoch with G folds stacked;
- LOSO wall time: projected from measured epochs (or single steps), or measured.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from benchmarks import common
from mmnet_jax.data.records import ClipArrays
from mmnet_jax.models import MMNet, MMNetConfig, conv_ops
from mmnet_jax.training import fold_trainer, folds, hugepages, recipe

# Reference cost of MMNet per sample at 224 px (forward ~14.4 GFLOP: convolutions 11.8,
# linear layers 2.5; forward + backward ~43). Other sizes scale about with the area.
REFERENCE_TRAIN_FLOPS_224 = common.REFERENCE_TRAIN_FLOPS_224
REFERENCE_EVAL_FLOPS_224 = common.REFERENCE_EVAL_FLOPS_224

# Datasheet dense bfloat16 tensor-core peaks (TFLOP/s), matched against device_kind in
# this order (the more specific names first). Quoted beside the measured ceilings only.
DATASHEET_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
)

# CASME II 5-class as the official recipe trains it: 26 subjects, 249 clips,
# 74 epochs, batch 32, 224 px.
CASME2_SHAPE = {"subjects": 26, "clips": 249, "epochs": 74, "batch_size": 32, "image_size": 224}


# --- timing ---------------------------------------------------------------------------
def time_calls(call: Callable[[], Any], **kw) -> dict:
    """``common.time_calls`` blocking on JAX's asynchronous results (see there)."""
    return common.time_calls(call, block=jax.block_until_ready, **kw)


def compile_timed(jitted, *args) -> tuple[Any, float]:
    """``jitted.lower(*args).compile()`` and the seconds it took."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def flops_of(compiled) -> float | None:
    """FLOPs of a compiled program from XLA's cost analysis (None where unavailable).

    XLA counts a multiply-add as 2 FLOPs. A loop body is counted once, not per trip.
    """
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - not every backend implements it
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    if not cost or "flops" not in cost:
        return None
    flops = float(cost["flops"])
    return flops if flops > 0 else None


def memory_of(compiled) -> dict | None:
    """Bytes XLA plans for a compiled program: arguments, outputs, temporaries, aliases."""
    try:
        m = compiled.memory_analysis()
        return {
            "argument_bytes": int(m.argument_size_in_bytes),
            "output_bytes": int(m.output_size_in_bytes),
            "temp_bytes": int(m.temp_size_in_bytes),
            "alias_bytes": int(m.alias_size_in_bytes),
        }
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


# --- machine and memory ---------------------------------------------------------------
def datasheet_bf16_tflops(device_kind: str) -> float | None:
    """The datasheet dense bf16 peak of a known accelerator, else None."""
    for name, tflops in DATASHEET_BF16_TFLOPS:
        if name.lower() in device_kind.lower():
            return tflops
    return None


def machine_info() -> dict:
    """CPU, cores, library versions, backend and devices, load average (a noise hint)."""
    devices = jax.devices()
    kind = devices[0].device_kind
    return {
        "cpu_model": common.cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": common.cores_usable(),
        "python_version": platform.python_version(),
        "jax_version": jax.__version__,
        "jaxlib_version": common.package_version("jaxlib", "unknown"),
        "flax_version": flax.__version__,
        "optax_version": optax.__version__,
        "numpy_version": np.__version__,
        "backend": jax.default_backend(),
        "device_kind": kind,
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "devices": [str(d) for d in devices],
        "datasheet_bf16_tflops": datasheet_bf16_tflops(kind),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "hugepages": hugepages.status(),
        "load_average": common.load_average(),
    }


def memory_snapshot() -> dict:
    """Peak host RSS of this process so far, and the first device's memory statistics."""
    try:
        stats = jax.local_devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - backends without memory statistics
        stats = None
    device = None
    if stats:
        keep = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit", "largest_alloc_size")
        device = {k: int(stats[k]) for k in keep if k in stats}
    return {"host_peak_rss_bytes": common.peak_rss_bytes(), "device_memory": device}


# --- ceilings -------------------------------------------------------------------------
def _normal(key, shape, dtype, scale=1.0):
    return (jax.random.normal(key, shape, jnp.float32) * scale).astype(dtype)


def matmul_peak(
    n: int = 2048, dtype: str = "float32", repeats: int = 5, min_seconds: float = 0.2
) -> dict:
    """Throughput of a jitted ``(n, n) @ (n, n)`` matmul: the machine's dense ceiling."""
    ka, kb = jax.random.split(jax.random.key(1))
    a, b = _normal(ka, (n, n), dtype), _normal(kb, (n, n), dtype)
    compiled, compile_s = compile_timed(jax.jit(jnp.matmul), a, b)
    t = time_calls(lambda: compiled(a, b), repeats=repeats, min_seconds=min_seconds)
    flops = 2.0 * n**3
    return {
        "shape": [n, n, n],
        "dtype": dtype,
        "flops": flops,
        "gflops_per_s": flops / t["median_s"] / 1e9,
        "compile_s": compile_s,
        "timing": t,
    }


def conv_peak(
    batch: int = 8,
    size: int = 112,
    channels: int = 128,
    dtype: str = "float32",
    repeats: int = 5,
    min_seconds: float = 0.2,
    wgrad_impl: str | None = None,
) -> dict:
    """Throughput of a jitted 3x3 NHWC convolution ``(B, S, S, C) -> (B, S, S, C)``.

    With ``wgrad_impl`` ("xla" or "matmul_grad") the weight gradient of that convolution
    is timed instead (the same FLOPs): the part of a training step XLA:CPU runs slowly.
    """
    kx, kw, kg = jax.random.split(jax.random.key(2), 3)
    x = _normal(kx, (batch, size, size, channels), dtype)
    w = _normal(kw, (3, 3, channels, channels), dtype, scale=(9 * channels) ** -0.5)
    if wgrad_impl is None:
        fn, args = (lambda x_, w_: conv_ops.conv2d(x_, w_, 1, 1)), (x, w)
    else:
        g = _normal(kg, (batch, size, size, channels), dtype)

        def fn(x_, w_, g_):
            _, vjp = jax.vjp(lambda v: conv_ops.conv2d(x_, v, 1, 1, wgrad_impl), w_)
            return vjp(g_)[0]

        args = (x, w, g)
    compiled, compile_s = compile_timed(jax.jit(fn), *args)
    t = time_calls(lambda: compiled(*args), repeats=repeats, min_seconds=min_seconds)
    flops = 2.0 * batch * size * size * channels * channels * 9
    return {
        "what": "conv3x3" if wgrad_impl is None else f"conv3x3_weight_grad_{wgrad_impl}",
        "shape": [batch, size, size, channels, channels],
        "dtype": dtype,
        "flops": flops,
        "xla_flops": flops_of(compiled),
        "gflops_per_s": flops / t["median_s"] / 1e9,
        "compile_s": compile_s,
        "timing": t,
    }


# --- MMNet ----------------------------------------------------------------------------
def model_config(
    image_size: int = 224, dtype: str = "float32", conv_impl: str = "xla", **overrides
) -> MMNetConfig:
    """The run's own model (``recipe.OFFICIAL_MODEL``, as configs/default.py: the official
    CASME II 5-class MMNet) at ``image_size``, with ``dtype``, ``conv_impl`` and any other
    MMNetConfig field set."""
    return dataclasses.replace(
        recipe.OFFICIAL_MODEL, image_size=image_size, dtype=dtype, conv_impl=conv_impl, **overrides
    )


def train_settings(
    batch_size: int, steps_per_epoch: int, fold_loop: str = "auto"
) -> fold_trainer.TrainSettings:
    """The run's own settings (``TrainSettings.official``, as configs/default.py) with
    another batch size and fold loop ("auto": this backend's default)."""
    return fold_trainer.TrainSettings.official(
        steps_per_epoch, batch_size=batch_size, fold_loop=fold_loop
    )


def reference_flops(image_size: int, train: bool) -> float:
    """The reference per-sample cost (``REFERENCE_*_224``) scaled with the image area."""
    ref = REFERENCE_TRAIN_FLOPS_224 if train else REFERENCE_EVAL_FLOPS_224
    return ref * (image_size / 224) ** 2


_INIT_FNS: dict[MMNetConfig, Callable] = {}


def _split_model(cfg: MMNetConfig):
    """Train and eval graphdefs of ``cfg``, and freshly initialised params and state.

    The initialisation is one jitted program per architecture (the fold trainer's
    ``INIT_PRNG_IMPL`` keys, which XLA compiles several times faster than threefry ones),
    compiled once and rerun for fresh arrays (the train step donates what it gets):
    ``dtype`` and ``conv_impl`` change the computation, not the parameters.
    """
    abstract = nnx.eval_shape(lambda: MMNet(cfg, rngs=nnx.Rngs(0)))
    abstract.train()
    graphdef_train = nnx.split(abstract, nnx.Param, ...)[0]
    graphdef_eval = fold_trainer.eval_graphdef(cfg)[0]
    arch = dataclasses.replace(cfg, dtype="float32", conv_impl="xla")
    if arch not in _INIT_FNS:

        def init(key):
            model = MMNet(arch, rngs=nnx.Rngs(key))
            model.train()
            return nnx.split(model, nnx.Param, ...)[1:]

        _INIT_FNS[arch] = jax.jit(init)
    params, rest = _INIT_FNS[arch](jax.random.key(0, impl=fold_trainer.INIT_PRNG_IMPL))
    return graphdef_train, graphdef_eval, params, rest


def _inputs(cfg: MMNetConfig, batch: int, seed: int = 3):
    """Random normalised frames (B, S, S, 3) float32 and labels (B,) int32."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    shape = (batch, cfg.image_size, cfg.image_size, 3)
    onset = jax.random.normal(k1, shape, jnp.float32)
    apex = onset + 0.1 * jax.random.normal(k2, shape, jnp.float32)  # subtle motion
    labels = jax.random.randint(k3, (batch,), 0, cfg.num_classes, jnp.int32)
    return onset, apex, labels


def make_train_step(graphdef, tx: optax.GradientTransformation):
    """The fold trainer's ``train_step`` for one model, with its state in one argument
    (so that it can be donated): ``step((params, rest, opt_state), onset, apex, labels)
    -> ((params, rest, opt_state), loss)``. The same computation as one fold of
    FoldTrainer's epoch, without the batch drawing and augmentation."""

    def step(state, onset, apex, labels):
        params, rest, opt_state, loss, _ = fold_trainer.train_step(
            graphdef, tx, *state, (onset, apex), labels
        )
        return (params, rest, opt_state), loss

    return step


def train_step_bench(
    cfg: MMNetConfig, batch: int, repeats: int = 3, min_seconds: float = 0.0
) -> dict:
    """Samples/s and FLOP/s of one model's jitted training step (AdamW, donated state)."""
    graphdef, _, params, rest = _split_model(cfg)
    tx = fold_trainer.make_optimizer(train_settings(batch, steps_per_epoch=8))
    state = (params, rest, jax.jit(tx.init)(params))
    onset, apex, labels = _inputs(cfg, batch)
    jitted = jax.jit(make_train_step(graphdef, tx), donate_argnums=(0,))
    compiled, compile_s = compile_timed(jitted, state, onset, apex, labels)
    holder = [state]
    losses = []

    def call():
        holder[0], loss = compiled(holder[0], onset, apex, labels)
        losses.append(loss)
        return holder[0], loss

    t = time_calls(call, repeats=repeats, min_seconds=min_seconds)
    if not np.isfinite(float(losses[-1])):
        raise FloatingPointError(f"training loss became {float(losses[-1])}")
    return _throughput_row(cfg, batch, compiled, compile_s, t, train=True)


def eval_bench(cfg: MMNetConfig, batch: int, repeats: int = 3, min_seconds: float = 0.0) -> dict:
    """Samples/s and FLOP/s of one model's jitted forward pass in eval mode."""
    _, graphdef, params, rest = _split_model(cfg)
    onset, apex, _ = _inputs(cfg, batch)

    def forward(params, rest, onset, apex):
        return nnx.merge(graphdef, params, rest)(onset, apex)

    compiled, compile_s = compile_timed(jax.jit(forward), params, rest, onset, apex)
    t = time_calls(
        lambda: compiled(params, rest, onset, apex), repeats=repeats, min_seconds=min_seconds
    )
    return _throughput_row(cfg, batch, compiled, compile_s, t, train=False)


def _throughput_row(cfg, batch, compiled, compile_s, t, train: bool) -> dict:
    flops = flops_of(compiled)
    per_sample = flops / batch if flops else None
    ref = reference_flops(cfg.image_size, train)
    return {
        "image_size": cfg.image_size,
        "batch_size": batch,
        "dtype": cfg.dtype,
        "conv_impl": cfg.conv_impl,
        "samples_per_s": batch / t["median_s"],
        "step_s": t["median_s"],
        "flops_per_sample": per_sample,
        "reference_flops_per_sample": ref,
        "flops_vs_reference": per_sample / ref if per_sample else None,
        "gflops_per_s": per_sample * batch / t["median_s"] / 1e9 if per_sample else None,
        # The same with the reference count, for backends whose cost analysis misses
        # library calls (compare flops_vs_reference).
        "reference_gflops_per_s": ref * batch / t["median_s"] / 1e9,
        "compile_s": compile_s,
        "memory": memory_of(compiled),
        "timing": t,
    }


# --- fold-parallel training -----------------------------------------------------------
def synthetic_clips(
    clips_per_subject: Sequence[int],
    image_size: int,
    frames: int = 2,
    num_classes: int = 5,
    seed: int = 0,
) -> ClipArrays:
    """Random uint8 clips, ``clips_per_subject[i]`` of them for subject ``i``.

    Frames are (N, frames, S, S, 3) uint8 (element 0 the labelled frame); every clip may
    jitter over all stored neighbours.
    """
    rng = np.random.default_rng(seed)
    n = int(sum(clips_per_subject))
    shape = (n, frames, image_size, image_size, 3)
    subjects = np.concatenate(
        [np.full(c, f"sub{i:02d}") for i, c in enumerate(clips_per_subject)]
    ).astype(str)
    ids = np.asarray([f"{s}_clip{i:03d}" for i, s in enumerate(subjects)])
    return ClipArrays(
        onset_frames=rng.integers(0, 256, shape, dtype=np.uint8),
        apex_frames=rng.integers(0, 256, shape, dtype=np.uint8),
        jitter=np.full(n, frames - 1, np.int32),
        labels=rng.integers(0, num_classes, n).astype(np.int32),
        subjects=subjects,
        ids=ids,
        sources=np.full(n, "bench"),
        class_names=[f"class{i}" for i in range(num_classes)],
        dataset="bench",
    )


def casme2_like_counts(subjects: int = 26, clips: int = 249) -> list[int]:
    """Clips per subject spread as evenly as possible (CASME II's real spread is uneven)."""
    base, extra = divmod(clips, subjects)
    return [base + 1] * extra + [base] * (subjects - extra)


def fold_scaling(
    cfg: MMNetConfig,
    data: ClipArrays,
    batch: int,
    fold_counts: Sequence[int],
    fold_loop: str,
    repeats: int = 2,
    min_seconds: float = 0.0,
) -> list[dict]:
    """Samples/s of FoldTrainer's compiled epoch with G folds stacked, for each G.

    One row per fold count: the epoch trains G folds x steps x batch samples (with
    on-device augmentation), on a mesh of every device.
    """
    plan = folds.make_plan(data.subjects)
    mesh = fold_trainer.make_mesh()
    settings = train_settings(batch, plan.steps_per_epoch(batch), fold_loop)
    ft = fold_trainer.FoldTrainer(cfg, settings, data, plan, seed=0, mesh=mesh)
    counts = [g for g in fold_counts if g <= plan.num_folds]

    def first_folds(g: int) -> list[int]:  # the first g folds, padded to the devices
        n = min(-(-g // mesh.size) * mesh.size, plan.num_folds)
        return folds.padded(list(range(n)), -(-n // mesh.size) * mesh.size)

    # Initialise the largest group once (one compilation) and take the smaller groups
    # from it: a fold's initial state depends on its plan index only.
    largest = first_folds(max(counts))
    t0 = time.perf_counter()
    full_state = jax.block_until_ready(ft.init(largest))
    init_s = time.perf_counter() - t0
    rows = []
    for g in counts:
        group = first_folds(g)
        if group == largest[: len(group)]:
            n = len(group)
            state = jax.tree.map(
                lambda x, n=n: jax.device_put(jnp.copy(x[:n]), ft.fold_sharding), full_state
            )
        else:
            state = ft.init(group)
        masks = ft.train_masks(group)
        ft.compiled_epoch(state, masks)
        compile_s = ft.compile_seconds
        holder = [state]

        def call(holder=holder, masks=masks):
            holder[0], loss, _ = ft.train_epoch(holder[0], masks)
            return holder[0], loss

        t = time_calls(call, repeats=repeats, min_seconds=min_seconds)
        samples = len(group) * settings.steps_per_epoch * batch
        rows.append(
            {
                "folds": len(group),
                "fold_loop": settings.fold_loop,
                "conv_impl": cfg.conv_impl,
                "dtype": cfg.dtype,
                "image_size": cfg.image_size,
                "batch_size": batch,
                "steps_per_epoch": settings.steps_per_epoch,
                "samples_per_epoch": samples,
                "epoch_s": t["median_s"],
                "samples_per_s": samples / t["median_s"],
                "compile_s": compile_s,
                "timing": t,
            }
        )
        del holder, state
    del full_state
    for r in rows:
        r["init_largest_group_s"] = init_s
        # Throughput relative to the smallest group: G when G folds cost one fold's time.
        r["throughput_vs_first"] = r["samples_per_s"] / rows[0]["samples_per_s"]
    return rows


# --- a whole LOSO run -----------------------------------------------------------------
def loso_from_steps(
    train_samples_per_s: float,
    eval_samples_per_s: float,
    subjects: int = CASME2_SHAPE["subjects"],
    clips: int = CASME2_SHAPE["clips"],
    epochs: int = CASME2_SHAPE["epochs"],
    batch: int = CASME2_SHAPE["batch_size"],
    eval_chunk: int = 16,
) -> dict:
    """A LOSO run's wall time PROJECTED from single-model step throughputs.

    Counts the samples the run trains (folds x epochs x steps x batch) and evaluates
    (folds x epochs x padded test clips); ignores compilation, augmentation and how
    folds share the machine.
    """
    counts = casme2_like_counts(subjects, clips)
    steps = math.ceil((clips - min(counts)) / batch)
    test_padded = math.ceil(max(counts) / eval_chunk) * eval_chunk
    train_samples = subjects * epochs * steps * batch
    eval_samples = subjects * epochs * test_padded
    seconds = train_samples / train_samples_per_s + eval_samples / eval_samples_per_s
    return {
        "status": "projected",
        "method": "from the single-model train-step and eval throughputs "
        "(no compilation, augmentation or fold-parallel effects)",
        "subjects": subjects,
        "clips": clips,
        "epochs": epochs,
        "batch_size": batch,
        "steps_per_epoch": steps,
        "train_samples": train_samples,
        "eval_samples": eval_samples,
        "wall_s": seconds,
    }


def loso_from_epochs(
    cfg: MMNetConfig,
    group_size: int,
    epochs_timed: int = 2,
    measure_if_under_s: float = 0.0,
    subjects: int = CASME2_SHAPE["subjects"],
    clips: int = CASME2_SHAPE["clips"],
    epochs: int = CASME2_SHAPE["epochs"],
    batch: int = CASME2_SHAPE["batch_size"],
    fold_loop: str = "auto",
) -> dict:
    """A CASME II-shaped LOSO run on synthetic data: projected from timed epochs, and
    measured end to end when the projection is under ``measure_if_under_s``.

    ``group_size`` folds train at once (0: all). If the group does not fit in device
    memory it is halved until it does. The projection is
    ``groups x (init + epochs x (epoch + eval))`` plus one compilation per group shape.
    """
    data = synthetic_clips(casme2_like_counts(subjects, clips), cfg.image_size)
    plan = folds.make_plan(data.subjects)
    mesh = fold_trainer.make_mesh()
    settings = train_settings(batch, plan.steps_per_epoch(batch), fold_loop)
    settings = dataclasses.replace(settings, epochs=epochs)
    size = group_size or plan.num_folds
    while True:
        try:
            ft, est = _time_group_epochs(cfg, settings, data, plan, mesh, size, epochs_timed)
            break
        except Exception as e:
            oom = isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in str(e)
            if not oom or size <= mesh.size:
                raise
            size = max(mesh.size, size // 2)
            print(f"LOSO: {e}; retrying with {size} folds per group", file=sys.stderr)
    groups = plan.groups(size, mesh.size)  # all of one size (balanced), as a run's
    size = len(groups[0])
    shapes = len({len(g) for g in groups})
    per_epoch = est["epoch_s"] + est["eval_s"]
    projected = len(groups) * (est["init_s"] + epochs * per_epoch) + shapes * (
        est["compile_epoch_s"] + est["compile_eval_s"]
    )
    out = {
        "status": "projected",
        "method": f"from {est['epochs_timed']} timed epoch(s) of a {size}-fold group "
        f"(median), scaled to {len(groups)} group(s) x {epochs} epochs",
        "subjects": subjects,
        "clips": clips,
        "epochs": epochs,
        "batch_size": batch,
        "image_size": cfg.image_size,
        "steps_per_epoch": settings.steps_per_epoch,
        "group_size": size,
        "groups": len(groups),
        "fold_loop": settings.fold_loop,
        "conv_impl": cfg.conv_impl,
        "dtype": cfg.dtype,
        **est,
        "wall_s": projected,
        "projected_wall_s": projected,
    }
    if 0 < projected <= measure_if_under_s:
        # The trainer that timed the first epochs has compiled already: its measured
        # compile times are added, not paid twice.
        compiled_s = est["compile_epoch_s"] + est["compile_eval_s"]
        out["wall_s"] = run_loso(ft, groups, epochs) + compiled_s
        out["status"] = "measured"
        out["method"] = (
            "measured: every group and epoch through FoldTrainer (init, train, evaluate, "
            "fetch losses and logits; no checkpoints or report), plus the measured "
            "compile times"
        )
    return out


def _time_group_epochs(
    cfg, settings, data, plan, mesh, size, epochs_timed
) -> tuple[fold_trainer.FoldTrainer, dict]:
    """Init, compile and time the first ``epochs_timed`` epochs and one evaluation of the
    first group; returns the trainer (compiled) and the timings."""
    from mmnet_jax.training import trainer  # noqa: PLC0415 - the run's module (Orbax): not at import

    ft = fold_trainer.FoldTrainer(cfg, settings, data, plan, seed=0, mesh=mesh)
    group = plan.groups(size, mesh.size)[0]
    compiled, timings = time_group(
        ft, group, epochs_timed, lambda c: trainer.check_memory(c, len(group), mesh.size)
    )
    return ft, timings


def time_group(ft: fold_trainer.FoldTrainer, group: list[int], epochs_timed: int, check=None):
    """Init, compile and time ``epochs_timed`` epochs and two evaluations of one group
    (the first evaluation compiles); ``check(compiled)`` runs after compiling. Returns
    the compiled epoch and the timings (seconds; samples/s from the median epoch)."""
    t0 = time.perf_counter()
    state = jax.block_until_ready(ft.init(group))
    init_s = time.perf_counter() - t0
    masks = ft.train_masks(group)
    compiled = ft.compiled_epoch(state, masks)
    if check is not None:
        check(compiled)
    epoch_times = []
    for _ in range(max(1, epochs_timed)):
        t0 = time.perf_counter()
        state, loss, _ = ft.train_epoch(state, masks)
        fold_trainer.to_host(loss)
        epoch_times.append(time.perf_counter() - t0)
    test_idx, _ = ft.test_indices(group)
    t0 = time.perf_counter()
    fold_trainer.to_host(ft.evaluate(state, test_idx))
    compile_eval_s = time.perf_counter() - t0  # the first call compiles
    t0 = time.perf_counter()
    fold_trainer.to_host(ft.evaluate(state, test_idx))
    eval_s = time.perf_counter() - t0
    samples = len(group) * ft.s.steps_per_epoch * ft.s.batch_size
    return compiled, {
        "epochs_timed": len(epoch_times),
        "epoch_s": statistics.median(epoch_times),
        "epoch_times_s": epoch_times,
        "eval_s": eval_s,
        "init_s": init_s,
        "compile_epoch_s": ft.compile_seconds,
        "compile_eval_s": max(0.0, compile_eval_s - eval_s),
        "samples_per_s": samples / statistics.median(epoch_times),
    }


def run_loso(ft: fold_trainer.FoldTrainer, groups: list[list[int]], epochs: int) -> float:
    """Wall seconds of every group x epoch of a LOSO run, as the run's loop does them."""
    t0 = time.perf_counter()
    for group in groups:
        state = ft.init(group)
        masks = ft.train_masks(group)
        test_idx, _ = ft.test_indices(group)
        for _ in range(epochs):
            state, loss, gnorm = ft.train_epoch(state, masks)
            fold_trainer.to_host(loss), fold_trainer.to_host(gnorm)
            fold_trainer.to_host(ft.evaluate(state, test_idx))
    return time.perf_counter() - t0
