"""``train_and_evaluate(config, workdir)``: a whole LOSO run, honest metrics, resumable.

What a run writes in its workdir (config.json, checkpoints/, metrics.jsonl, results.json,
predictions.csv, epoch_predictions.npz, run_info.json, final_model/, report.md) is
described in docs/outputs.md; the results themselves are computed by
:mod:`mmnet_jax.evaluation.results`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import os
import shlex
import signal
import subprocess
import sys
import time
import typing
from typing import Any

import jax
import numpy as np

from mmnet_jax import workdir as workdir_files
from mmnet_jax.data import records as data_lib
from mmnet_jax.evaluation import results
from mmnet_jax.evaluation.clips import ClipTable
from mmnet_jax.models import registry
from mmnet_jax.training import checkpoints as run_checkpoints
from mmnet_jax.training import distributed, folds, hugepages, tensorboard
from mmnet_jax.training.fold_trainer import (
    ALL_SUBJECTS,
    FoldTrainer,
    TrainSettings,
    make_mesh,
    to_host,
)
from mmnet_jax.training.settings import RunConfigError, RunSettings

if typing.TYPE_CHECKING:  # annotations only: any config with ConfigDict-style access works
    import ml_collections

log = logging.getLogger(__name__)

OPTIMISTIC_LABEL = results.OPTIMISTIC_LABEL
# Config fields that may change between a run and its resumption without changing results.
# folds.device_memory_gb only sizes the groups of a new run (a resumed run keeps its own).
_RESUME_FREE = (
    "checkpoint.",
    "progress_bar",
    "report",
    "distributed",
    "compilation_cache_dir",
    "folds.device_memory_gb",
)
# Config fields added after runs were made, with the value that older runs behaved as: a
# workdir whose config.json lacks one resumes as if it held that value.
_ADDED_FIELDS = {
    "run_config.num_seeds": 1,
    "run_config.eval.select": "last",
    "run_config.eval.validation_subjects": 2,
    "run_config.model.name": "mmnet",
    "model": "mmnet",
    "run_config.train.optimizer": "adamw",
    "run_config.train.shuffle": True,
    "train_settings.optimizer": "adamw",
    "train_settings.shuffle": True,
    "run_config.data.flow_size": 28,
    "run_config.data.prepared_flow_size": 0,
}


class NonFiniteLossError(FloatingPointError):
    """A fold's training loss became NaN or infinite."""


class FoldGroupTooLarge(MemoryError):
    """The fold group does not fit in device memory."""


def resolved_config(
    run_settings: RunSettings,
    model_cfg: Any,
    settings: TrainSettings,
    data: data_lib.ClipArrays,
    plan: folds.FoldPlan,
) -> dict:
    """The dict of ``config.json``: the run config and what it resolved to on this data
    (a later run on the same workdir must resolve to the same)."""
    return {
        "run_config": run_settings.run_config,
        **registry.describe(model_cfg),
        "train_settings": {k: v for k, v in dataclasses.asdict(settings).items() if k != "augment"}
        | {"augment": dataclasses.asdict(settings.augment)},
        "data": {
            "dataset": data.dataset,
            "num_clips": len(data),
            "class_names": data.class_names,
            "class_counts": data.class_counts(),
            "subjects": list(plan.subjects),
            **_flow_record(model_cfg, data),
        },
        "eval_epoch": run_settings.eval_epoch,
    }


def _flow_record(model_cfg: Any, data: data_lib.ClipArrays) -> dict:
    """For a model that reads flow: the flow's size and the frame size it was computed at
    (None: the records' own flow), which prediction computes flow at again."""
    if "flow" not in registry.of_config(model_cfg).inputs:
        return {}
    return {
        "flow_size": int(data.flow.shape[1]),
        "flow_frame_size": data.image_size if data.has_frames else None,
    }


def config_differences(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ (ignoring fields free to change on resume)."""
    a, b = distributed.flatten_config(old), distributed.flatten_config(new)
    a = {k: v for k, v in _ADDED_FIELDS.items() if k in b} | a
    diffs = []
    for k in sorted(set(a) | set(b)):
        if k.startswith(tuple(f"run_config.{p}" for p in _RESUME_FREE)):
            continue
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            diffs.append(
                f"{k}: {a.get(k, '<absent>')!r} in the workdir, {b.get(k, '<absent>')!r} now"
            )
    return diffs


# --- the run -------------------------------------------------------------------------
class _Interrupt:
    """First Ctrl-C: finish the epoch, checkpoint, stop. Second: stop at once."""

    def __init__(self):
        self.requested = False
        self.stop = False  # what poll() last agreed on
        self._previous = None

    def poll(self) -> bool:
        """Whether to stop now: the same answer on every process (any one's Ctrl-C),
        so that all of them save the same checkpoint and stop together."""
        self.stop = distributed.any_process(self.requested)
        return self.stop

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt: saving a checkpoint after this epoch (Ctrl-C again to abort)")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# Of a device's memory, the most that a fold group's compiled epoch may need.
MEMORY_SAFETY = 0.9


def _device_memory_bytes(configured_gb: float = 0.0) -> int:
    """The memory of one device that fold groups are fitted into.

    ``configured_gb`` > 0 (``config.folds.device_memory_gb``): that many GiB. Else the
    device's own limit (``memory_stats()["bytes_limit"]``: on GPU the fraction of its
    memory JAX preallocates, ``XLA_PYTHON_CLIENT_MEM_FRACTION``, 0.75 by default); where
    a backend reports none (CPU), the host's physical memory shared by its local devices,
    times ``XLA_PYTHON_CLIENT_MEM_FRACTION`` if set.
    """
    if configured_gb and configured_gb > 0:
        return int(configured_gb * 2**30)
    devices = jax.local_devices()
    try:
        stats = devices[0].memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"])
    except Exception:  # noqa: BLE001 - backends without memory stats
        pass
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // len(devices)
    fraction = os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", "")
    return int(host * float(fraction)) if fraction else int(host)


def epoch_bytes(compiled) -> int | None:
    """Bytes per device a compiled epoch needs (temporaries, arguments and outputs, less
    the donated arguments its outputs reuse), or None where the backend does not say."""
    try:
        ma = compiled.memory_analysis()
        need = ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes
        return int(need - ma.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def check_memory(compiled, group_size: int, num_devices: int, limit: int | None = None) -> None:
    """Refuse a fold group whose compiled epoch needs more memory than a device has
    (``limit`` bytes; None: ``_device_memory_bytes()``)."""
    need = epoch_bytes(compiled)
    if need is None:
        return
    limit = _device_memory_bytes() if limit is None else limit
    if need > MEMORY_SAFETY * limit:
        fits = int(group_size * MEMORY_SAFETY * limit / need) // num_devices * num_devices
        raise FoldGroupTooLarge(
            f"{group_size} folds per group need about {need / 2**30:.1f} GiB per device, "
            f"{limit / 2**30:.1f} GiB available: try --config.folds.group_size="
            f"{max(num_devices, fits)} (0 chooses the size that fits)"
        )


def choose_group_size(
    count: int,
    num_devices: int,
    measure: typing.Callable[[int], int | None],
    limit: int,
    safety: float = MEMORY_SAFETY,
) -> tuple[int, int | None]:
    """The largest fold group size whose epoch fits in ``safety * limit`` bytes per
    device, and its bytes per device (None: unknown).

    The sizes tried are those of ``folds.group_sizes`` (groups of one size, balanced,
    multiples of the devices). ``measure(size)`` is the bytes per device of the epoch
    compiled for a group of ``size`` (None: the backend does not say; then all ``count``
    items form one group). The whole set is measured first (the common case: it fits);
    if it does not, a small group (2 per device, or 1), and the sizes between are
    estimated on the line through the measured points: memory grows linearly with the
    folds per device (their states and activations) over a fixed part (the replicated
    dataset). The size chosen is measured before it is taken; if the estimate was short
    the next smaller one is tried.

    Raises:
      FoldGroupTooLarge: not even one item per device fits.
    """
    sizes = folds.group_sizes(count, num_devices)
    budget = safety * limit
    points = {sizes[0]: measure(sizes[0])}
    if points[sizes[0]] is None or points[sizes[0]] <= budget:
        return sizes[0], points[sizes[0]]
    small = 2 * num_devices if 2 * num_devices in sizes[1:] else sizes[-1]
    if small != sizes[0]:
        points[small] = measure(small)
        if points[small] is None:  # no analysis for this one: the small size, unchecked
            return small, None

    def estimate(size: int) -> float:
        if size in points:
            return points[size]
        known = sorted(points)
        below = [s for s in known if s < size] or known[:1]
        above = [s for s in known if s > size] or known[-1:]
        a, b = (below[-1], above[0]) if below[-1] != above[0] else (known[0], known[1])
        return points[a] + (points[b] - points[a]) * (size - a) / (b - a)

    for size in sizes:
        if size in points and points[size] > budget:
            continue
        if estimate(size) > budget:
            continue
        if size not in points:
            points[size] = measure(size)
        if points[size] is None or points[size] <= budget:
            return size, points[size]
    one = points.get(sizes[-1], estimate(sizes[-1]))
    raise FoldGroupTooLarge(
        f"even {num_devices} fold(s) per group ({sizes[-1] // num_devices} per device) "
        f"need about {one / 2**30:.1f} GiB per device, {limit / 2**30:.1f} GiB available "
        "(config.folds.device_memory_gb, 0: the device's): use smaller images or a "
        "device with more memory"
    )


def code_commit() -> str:
    """The git commit of this code (``-dirty`` appended when tracked files were changed),
    or "" when the code is not in a git checkout."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", root, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        if os.path.realpath(git("rev-parse", "--show-toplevel")) != os.path.realpath(root):
            return ""  # installed inside some other repository
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("-dirty" if dirty else "")


class Run:
    """One LOSO run in a workdir: the plan, the training of its fold groups, the outputs."""

    _tensorboard: tensorboard.RunWriter | None = None  # process 0's, while it trains

    def __init__(self, run_settings: RunSettings, workdir: str | os.PathLike):
        self.run_settings = rs = run_settings
        self.workdir = run_checkpoints.absolute(workdir)
        if self.workdir.exists() and not self.workdir.is_dir():
            raise RunConfigError(f"--workdir {self.workdir} is a file, not a directory")
        self.primary = jax.process_index() == 0
        self.t0 = time.time()
        self.epochs, self.eval_epoch = rs.epochs, rs.eval_epoch
        self.data = distributed.load_data(data_lib.load, rs.data, (data_lib.DatasetError,))
        inputs = registry.get(rs.model_name).inputs
        if "flow" in inputs:  # the records' flow, or TV-L1 flow of the labelled frames
            try:
                self.data = self.data.with_flow(rs.flow_size, progress=rs.progress_bar)
            except data_lib.DatasetError as e:
                raise RunConfigError(str(e)) from None
        self.clips = ClipTable.of(self.data)  # what the results know of the clips
        try:
            size = self.data.input_size(inputs)
        except data_lib.DatasetError as e:
            raise RunConfigError(str(e)) from None
        self.model_config = rs.model_config(len(self.data.class_names), size)
        try:
            only = folds.resolve_only(rs.only, self.data.subjects)
            self.plan = folds.make_plan(self.data.subjects, only=only)
        except ValueError as e:
            raise RunConfigError(f"config.folds.only={rs.only!r}: {e}") from None
        self.mesh = make_mesh()
        b = rs.train.batch_size
        self.replicas = rs.replicas(self.plan, self.data.subjects)
        # Steps per epoch come from the plan's training sets (before validation subjects
        # are held out), so they depend neither on the seeds nor on the subjects drawn.
        self.settings = rs.train_settings(self.plan.steps_per_epoch(b))
        # The all-subjects model takes its own steps, so it sees each clip every epoch.
        self.all_subjects_steps = math.ceil(len(self.data) / b)
        self.resolved = resolved_config(rs, self.model_config, self.settings, self.data, self.plan)
        # Fold groups: those of this workdir's checkpoints (a resumed run keeps them), else
        # of folds.group_size, 0: the largest that fits the device memory.
        self.memory_limit = _device_memory_bytes(rs.device_memory_gb)
        self._trainer: FoldTrainer | None = None  # made once (the data goes on device)
        self._probed: dict[int, float] = {}  # group size -> seconds its epoch compiled in
        self._check_workdir()  # before the memory probe compiles anything
        self.groups = self._fold_groups()
        n, f = len(self.plan.subjects), len(set(self.data.subjects.tolist()))
        log.info(
            "LOSO: %d folds (test subjects %s) of %d subjects%s; %d fold group(s)",
            n,
            ", ".join(self.plan.subjects) if n <= 8 else f"{self.plan.subjects[0]} ...",
            f,
            ", then the all-subjects model (final_model)" if rs.final_model else "",
            len(self.groups),
        )

    # --- fold groups -----------------------------------------------------------------
    def _folds_trainer(self) -> FoldTrainer:
        if self._trainer is None:
            self._trainer = FoldTrainer(
                self.model_config,
                self.settings,
                self.data,
                self.plan,
                self.run_settings.seed,
                self.mesh,
                replicas=self.replicas,
            )
        return self._trainer

    def _fold_groups(self) -> list[list[int]]:
        """The run's groups: the checkpoints' if they hold a valid grouping of this run's
        replicas (no larger than an explicit ``folds.group_size`` allows), else groups of
        ``folds.group_size`` or, for 0, of the size ``_auto_group_size`` chooses. The
        all-subjects model (final_model) comes last, in a group of its own: its epoch
        has another step count, so another program. Every process takes the same (the
        smallest, should their device memory differ)."""
        num, count = self.mesh.size, self.replicas.num_replicas
        size = self.run_settings.group_size
        tail = [[ALL_SUBJECTS] * num] if self.run_settings.final_model else []
        saved = run_checkpoints.saved_groups(self.workdir)
        groups = None
        if saved and len(saved) > len(tail) and saved[len(saved) - len(tail) :] == tail:
            mine = saved[: len(saved) - len(tail)]
            cap = max(num, -(-size // num) * num) if size else None
            if folds.is_grouping(mine, count, num) and (not cap or max(map(len, mine)) <= cap):
                groups = mine
                log.info("fold groups of up to %d, as in the checkpoints", max(map(len, mine)))
        with distributed.same_outcome("fold_groups:fit", (FoldGroupTooLarge,)):
            if groups is None:
                groups = self.replicas.groups(size or self._auto_group_size(), num)
        chosen = distributed.exchange("fold_groups", json.dumps(groups))
        groups = json.loads(min(chosen, key=lambda g: max(map(len, json.loads(g)))))
        return groups + tail

    def _auto_group_size(self) -> int:
        """The largest group size whose compiled epoch fits ``self.memory_limit`` per
        device (``choose_group_size``), from the memory analysis of the epochs compiled
        for the sizes probed: compiled ahead for abstract states (nothing allocated) by
        the run's trainer, which keeps them, so the size chosen is not compiled again."""
        probe = self._folds_trainer()
        num = self.mesh.size

        def measure(size: int) -> int | None:
            group = self.replicas.groups(size, num)[0]
            state = jax.eval_shape(lambda: probe.init(group))
            state = jax.tree.map(
                lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=probe.fold_sharding),
                state,
            )
            fold_log = logging.getLogger(FoldTrainer.__module__)
            level = fold_log.level
            # Quiet: _train_group logs the compilation when training starts (Ctrl-C there
            # finishes the epoch and checkpoints; here, before any training, it just stops).
            fold_log.setLevel(logging.WARNING)
            try:
                compiled = probe.compiled_epoch(state, probe.train_masks(group))
            finally:
                fold_log.setLevel(level)
            self._probed[size] = probe.compile_seconds
            need = epoch_bytes(compiled)
            log.info(
                "memory probe: the epoch of %d folds per group needs %s per device "
                "(its compilation took %.1f s)",
                size,
                "an unknown amount" if need is None else f"{need / 2**30:.2f} GiB",
                probe.compile_seconds,
            )
            return need

        size, need = choose_group_size(self.replicas.num_replicas, num, measure, self.memory_limit)
        log.info(
            "fold groups of %d: about %s per device of %.1f GiB",
            size,
            "? GiB (no memory analysis)" if need is None else f"{need / 2**30:.2f} GiB",
            self.memory_limit / 2**30,
        )
        return size

    # --- workdir ---------------------------------------------------------------------
    def _check_workdir(self) -> None:
        """Refuses a workdir that holds a run of another config (process 0 reads, every
        process stops)."""
        cfg_file = self.workdir / workdir_files.CONFIG
        with distributed.same_outcome("workdir", (RunConfigError,)):
            if self.primary and cfg_file.exists():
                old = json.loads(cfg_file.read_text())
                diffs = config_differences(old, json.loads(json.dumps(self.resolved)))
                if diffs:
                    raise RunConfigError(
                        f"{self.workdir} holds a run of another config ({'; '.join(diffs)}); "
                        "refusing to mix them: use a new --workdir"
                    )

    def _prepare_workdir(self) -> None:
        """Writes the resolved config (process 0; checked in ``__init__``)."""
        if self.primary:
            self.workdir.mkdir(parents=True, exist_ok=True)
            cfg_file = self.workdir / workdir_files.CONFIG
            cfg_file.write_text(json.dumps(self.resolved, indent=2, sort_keys=True))

    def _final_model_missing(self, progress: results.Progress) -> bool:
        group = progress.groups[progress.group]
        return ALL_SUBJECTS in group and not (self.workdir / workdir_files.FINAL_MODEL).exists()

    # --- groups ----------------------------------------------------------------------
    def run(self) -> dict:
        self._prepare_workdir()
        ckpts = run_checkpoints.RunCheckpoints(
            self.workdir, self.run_settings.checkpoint_keep, self.epochs
        )
        progress = results.Progress(groups=self.groups, epochs=self.epochs)
        step = ckpts.latest_step()
        if step is not None:
            progress = ckpts.restore_progress(step)
            if progress.groups != self.groups or progress.epochs != self.epochs:
                raise RunConfigError(
                    f"the checkpoints in {ckpts.directory} were made with fold groups "
                    f"{progress.groups} and {progress.epochs} epochs, this run has "
                    f"{self.groups} and {self.epochs}: use a new --workdir"
                )
            if progress.group_finished() and not self._final_model_missing(progress):
                progress.group, progress.epoch = progress.group + 1, 0  # nothing left there
            if progress.group < len(self.groups):
                log.info(
                    "resuming from checkpoint %d: group %d/%d, epoch %d/%d",
                    step, progress.group + 1, len(self.groups), progress.epoch, self.epochs,
                )  # fmt: skip
            else:
                log.info("the run in %s has finished: rewriting its results", self.workdir)
        trained, compile_times = False, []
        try:
            if progress.group < len(self.groups):
                if self.primary:
                    self._tensorboard = tensorboard.RunWriter(
                        self.workdir / workdir_files.TENSORBOARD,
                        self.plan,
                        self.data.labels,
                        len(self.data.class_names),
                        self.replicas.seeds,
                        self.settings,
                    )
                compile_times = self._train_remaining(progress, ckpts, step)
                trained = True
        finally:
            ckpts.close()
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None
        summary = results.summarize(
            progress,
            self.plan,
            self.clips,
            eval_epoch=self.eval_epoch,
            epochs=self.epochs,
            seed=self.run_settings.seed,
            replicas=self.replicas,
        )
        if self.primary:
            self._write_outputs(summary, progress, compile_times, trained)
        return summary

    def _train_remaining(self, progress, ckpts, step) -> list[float]:
        """Train the groups from ``progress.group`` on; returns the compile times."""
        total = len(self.groups) * self.epochs
        done = progress.group * self.epochs + progress.epoch
        bar = _progress_bar(total, done, enabled=self.primary and self.run_settings.progress_bar)
        fold_trainer = self._folds_trainer()
        trainers = {"folds": fold_trainer}
        if self.run_settings.final_model:
            trainers["all"] = fold_trainer.with_steps(self.all_subjects_steps)
        try:
            with _Interrupt() as interrupt:
                for gi in range(progress.group, len(self.groups)):
                    group = self.groups[gi]
                    tr = trainers["all" if group[0] == ALL_SUBJECTS else "folds"]
                    resume = gi == progress.group and progress.epoch > 0
                    self._train_group(gi, tr, progress, ckpts, resume, step, bar, interrupt)
                    if interrupt.stop:
                        raise KeyboardInterrupt
        finally:
            bar.close()
        return [t for tr in trainers.values() for t in tr.compile_times]

    def _train_group(self, gi, trainer, progress, ckpts, resume, step, bar, interrupt) -> None:
        group = self.groups[gi]
        state = trainer.init(group)
        start = 0
        if resume:
            state = ckpts.restore_state(step, state)
            start = progress.epoch
        real = folds.group_valid(group)
        has_tests = any(f != ALL_SUBJECTS for f in group)
        if start < self.epochs:
            train_mask = trainer.train_masks(group)
            n = int(real.sum())
            what = "the all-subjects model" if not has_tests else f"{n} fold{'s' * (n > 1)}"
            compiled = trainer.compiled_epoch(state, train_mask, what)
            if trainer is self._trainer and len(group) in self._probed:  # compiled quietly
                log.info(
                    "compiling the training epoch: %s: done by the memory probe (compiled in "
                    "%.1f s)",
                    what,
                    self._probed.pop(len(group)),
                )
            distributed.barrier(f"compiled/{gi}")  # every process compiled: then gather
            check_memory(compiled, len(group), self.mesh.size, self.memory_limit)
            test_idx, valid = trainer.test_indices(group)
            steps = trainer.fold_steps(group)  # (train_steps, train_samples) per fold
        for epoch in range(start, self.epochs):
            try:
                state, loss, gnorm = trainer.train_epoch(state, train_mask)
                loss, gnorm = to_host(loss), to_host(gnorm)
            except Exception as e:  # noqa: BLE001 - only memory errors are translated
                if "RESOURCE_EXHAUSTED" in str(e) or "out of memory" in str(e).lower():
                    raise FoldGroupTooLarge(
                        f"out of memory training {len(group)} folds at once: try "
                        f"--config.folds.group_size={max(self.mesh.size, len(group) // 2)} "
                        "(or, with group_size 0, a smaller --config.folds.device_memory_gb)"
                    ) from e
                raise
            self._check_finite(loss, group, epoch, ckpts)
            logits = trainer.evaluate(state, test_idx) if has_tests else None
            if has_tests and epoch == start:
                distributed.barrier(f"evaluated/{gi}")  # the first call compiled it
            logits = to_host(logits) if has_tests else None
            self._record(progress, group, real, epoch, loss, gnorm, logits, valid, steps)
            progress.group, progress.epoch = gi, epoch + 1
            bar.update(1)
            bar.set_description(f"group {gi + 1}/{len(self.groups)}")
            if logits is not None:
                acc = results.epoch_accuracy(progress, self.plan, self.data.labels, epoch)
                own = [loss[g, : steps[0][g]].mean() for g in np.flatnonzero(real)]
                bar.set_postfix(loss=f"{np.mean(own):.3f}", test_acc=f"{acc:.3f}")
            every = self.run_settings.checkpoint_every
            last = epoch + 1 == self.epochs
            stop = interrupt.poll()
            if last or stop or (every > 0 and (epoch + 1) % every == 0):
                ckpts.save(gi * self.epochs + epoch + 1, state, progress)
            if self.primary:
                self._write_metrics(progress)
            if stop:
                log.warning("stopped after epoch %d; run the same command to resume", epoch + 1)
                return
        # The group's last checkpoint committed (it holds the folds' final states) before
        # the next group or the final model.
        ckpts.wait()
        progress.group, progress.epoch = gi + 1, 0
        if ALL_SUBJECTS in group:
            self._save_final_model(trainer, state, group.index(ALL_SUBJECTS))

    def _check_finite(self, loss, group, epoch, ckpts) -> None:
        bad = ~np.isfinite(loss)
        if not bad.any():
            return
        gi, si = map(int, np.argwhere(bad)[0])
        f = group[gi]
        r = self.replicas
        who = (
            "the all-subjects model"
            if f == ALL_SUBJECTS
            else f"fold {r.fold(f)} (test subject {self.plan.subjects[r.fold(f)]})"
            + (f" with seed {r.seed(f)}" if len(r.seeds) > 1 else "")
        )
        last = ckpts.latest_step()
        raise NonFiniteLossError(
            f"loss is {loss[gi, si]} for {who} at epoch {epoch + 1}, step {si + 1}; "
            f"stopped without saving. Last good checkpoint: "
            f"{'none' if last is None else ckpts.directory / str(last)}"
        )

    def _record(self, progress, group, real, epoch, loss, gnorm, logits, valid, steps) -> None:
        train_steps, train_samples = steps
        for gi, f in enumerate(group):
            if not real[gi]:
                continue
            val_preds = None
            if f == ALL_SUBJECTS:
                name, preds, lg, probs = results.ALL_SUBJECTS_NAME, None, None, None
            else:
                r = self.replicas
                name = results.record_name(self.plan.subjects[r.fold(f)], r.seed_index(f))
                # Evaluated: the test clips, then the validation clips (Replicas.eval_clips).
                lg = logits[gi][valid[gi]]
                lg, lg_val = lg[: len(r.test_clips(f))], lg[len(r.test_clips(f)) :]
                # Over the data's classes (a wider head's extra outputs have no clips).
                lg = lg[:, : len(self.data.class_names)]
                lg_val = lg_val[:, : len(self.data.class_names)]
                preds = np.argmax(lg, -1)
                probs = results.probabilities(lg)
                if r.has_validation:
                    val_preds = np.argmax(lg_val, -1)
            progress.record(
                name,
                epoch,
                loss[gi, : train_steps[gi]].mean(),  # the fold's own steps
                gnorm[gi, : train_steps[gi]].mean(),
                test_preds=preds,
                test_logits=lg if epoch + 1 == self.eval_epoch else None,
                test_probs=probs,
                train_steps=train_steps[gi],
                train_samples=train_samples[gi],
                val_preds=val_preds,
            )

    def _save_final_model(self, trainer: FoldTrainer, state, index: int) -> None:
        """Every process takes part: the state is gathered to each (a collective), and
        Orbax's save is collective (process 0 writes the arrays; every process writes the
        same model.json)."""
        params, rest = distributed.host_copy((state.params, state.rest))
        model = trainer.model_of(state.replace(params=params, rest=rest), index)
        run_checkpoints.save_model_dir(
            self.workdir / workdir_files.FINAL_MODEL,
            model,
            class_names=self.data.class_names
            + [f"unused_{i}" for i in range(len(self.data.class_names), model.config.num_classes)],
            source=f"trained on all {len(self.plan.subjects)} subjects of {self.data.dataset}",
            extra={
                "epochs": self.epochs,
                "seed": self.run_settings.seed,
                **_flow_record(model.config, self.data),
            },
        )
        log.info("saved the all-subjects model in %s", self.workdir / workdir_files.FINAL_MODEL)

    # --- outputs ---------------------------------------------------------------------
    def _write_metrics(self, progress: results.Progress) -> None:
        lines = results.metrics_lines(progress, self.plan, self.data.labels, self.replicas.seeds)
        (self.workdir / workdir_files.METRICS).write_text(
            "\n".join(json.dumps(line) for line in lines) + "\n"
        )
        if self._tensorboard is not None:
            self._tensorboard.write(progress)

    def _run_info(self, compile_times: list[float]) -> dict:
        return {
            "seconds": time.time() - self.t0,
            # One entry per compiled epoch program (none when the compilation cache of
            # this process already had it).
            "compile_seconds": compile_times,
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "process_count": jax.process_count(),
            "jax_version": jax.__version__,
            "fold_groups": self.groups,
            "fold_loop": self.settings.fold_loop,
            "model": registry.of_config(self.model_config).name,
            # How convolutions differentiate (a model without convolutions has none).
            "conv_impl": getattr(self.model_config, "conv_impl", None),
            "hugepages": hugepages.status(),
            "command": shlex.join(sys.orig_argv),
            "commit": code_commit(),
            "date": datetime.datetime.fromtimestamp(self.t0, datetime.UTC).isoformat(
                timespec="seconds"
            ),
        }

    def _write_outputs(self, summary, progress, compile_times, trained: bool) -> None:
        wd = self.workdir
        (wd / workdir_files.RESULTS).write_text(json.dumps(summary, indent=2, sort_keys=True))
        rows = results.prediction_rows(
            progress, self.plan, self.clips, summary["selected_epoch_per_subject"]
        )
        (wd / workdir_files.PREDICTIONS).write_text(results.predictions_csv(rows))
        arrays = results.epoch_predictions(
            progress, self.plan, self.clips, self.epochs, len(self.replicas.seeds)
        )
        (wd / workdir_files.EPOCH_PREDICTIONS).write_bytes(results.npz_bytes(arrays))
        self._write_metrics(progress)
        info_file = wd / workdir_files.RUN_INFO
        if not trained and info_file.exists():
            # A rerun of a finished run: keep the timings of the run that trained.
            info = json.loads(info_file.read_text())
            log.info("nothing left to train in %s; kept its run_info.json", wd)
        else:
            info = self._run_info(compile_times)
            info_file.write_text(json.dumps(info, indent=2))


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, initial=initial, disable=not enabled, unit="epoch", dynamic_ncols=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict:
    """Run (or resume) the LOSO run ``config`` describes in ``workdir``; returns results.

    With ``config.distributed``, one of several processes (see
    :mod:`mmnet_jax.training.distributed`): a process that fails must end through
    ``distributed.abort``, as ``train.py`` does, so that its peers stop too.
    """
    if config.get("distributed", False):
        distributed.initialize(distributed.timeout_of(config))
        distributed.check_same_config(config.to_dict())
    run_settings = RunSettings.from_config(config)  # the config is read here, once
    summary = Run(run_settings, workdir).run()
    distributed.finish()
    return summary
