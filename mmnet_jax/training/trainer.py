"""``train_and_evaluate(config, workdir)``: a whole LOSO run, honest metrics, resumable.

What a run writes in ``workdir``:

- ``config.json``: the resolved config (run config, model config, fold plan summary);
  a later run on the same workdir must resolve to the same, or it is refused;
- ``checkpoints/``: Orbax checkpoints (stacked fold state + progress), for resuming;
- ``metrics.jsonl``: one line per fold and epoch: train loss, gradient norm, test accuracy;
- ``results.json``: metrics over the pooled predictions of all folds at the pre-declared
  epoch (``eval.epoch``; the last by default): ``accuracy``, ``uf1``, ``uar``, per class,
  per fold, per source dataset, the confusion matrix, learning curves, and, labelled
  apart, the optimistic best-test-epoch figures of the official code;
- ``predictions.csv``: every test clip's label and prediction at that epoch;
- ``run_info.json``: devices, timings (kept out of results.json, which must be equal for
  equal configs and seeds);
- ``final_model/`` when ``final_model=True``: one model trained on all subjects;
- ``report.md`` and its PNGs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from mmnet_jax import augment, checkpoint, folds, hugepages, metrics
from mmnet_jax import data as data_lib
from mmnet_jax.models import MMNetConfig
from mmnet_jax.training import run_checkpoints
from mmnet_jax.training.fold_trainer import (
    ALL_SUBJECTS,
    FoldTrainer,
    TrainSettings,
    default_conv_impl,
    make_mesh,
    to_host,
)

log = logging.getLogger(__name__)

OPTIMISTIC_LABEL = "optimistic (best test epoch, as the official code)"
# Config fields that may change between a run and its resumption without changing results.
_RESUME_FREE = ("checkpoint.", "progress_bar", "report", "distributed", "compilation_cache_dir")


class NonFiniteLossError(FloatingPointError):
    """A fold's training loss became NaN or infinite."""


class FoldGroupTooLarge(MemoryError):
    """The fold group does not fit in device memory."""


# --- configuration -------------------------------------------------------------------
def model_config(
    config: ml_collections.ConfigDict, num_classes: int, image_size: int
) -> MMNetConfig:
    m = config.model
    conv_impl = default_conv_impl() if m.conv_impl == "auto" else m.conv_impl
    return MMNetConfig(
        num_classes=num_classes,
        image_size=image_size,
        pc_depth=int(m.pc_depth),
        pc_mlp_ratio=float(m.pc_mlp_ratio),
        pc_num_heads=int(m.pc_num_heads),
        drop_path_rate=float(m.drop_path_rate),
        pc_resize_antialias=bool(m.pc_resize_antialias),
        dtype=str(m.dtype),
        conv_impl=conv_impl,
    )


def train_settings(config: ml_collections.ConfigDict, steps_per_epoch: int) -> TrainSettings:
    t, a = config.train, config.augment
    fold_loop = config.folds.loop
    if fold_loop == "auto":
        fold_loop = "map" if jax.default_backend() == "cpu" else "vmap"
    return TrainSettings(
        epochs=int(t.epochs),
        batch_size=int(t.batch_size),
        steps_per_epoch=steps_per_epoch,
        learning_rate=float(t.learning_rate),
        weight_decay=float(t.weight_decay),
        lr_decay=float(t.lr_decay),
        lr_decay_epochs=int(t.lr_decay_epochs),
        b1=float(t.b1),
        b2=float(t.b2),
        eps=float(t.eps),
        eval_chunk=int(config.eval.chunk),
        augment=augment.AugmentConfig(
            flip=bool(a.flip),
            rotation_deg=float(a.rotation_deg),
            crop_padding=int(a.crop_padding),
            temporal_jitter=bool(a.temporal_jitter),
        ),
        fold_loop=fold_loop,
    )


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ (ignoring fields free to change on resume)."""
    a, b = _flatten(old), _flatten(new)
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
        self._previous = None

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


def _device_memory_bytes() -> int:
    dev = jax.local_devices()[0]
    try:
        stats = dev.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"])
    except Exception:  # noqa: BLE001 - backends without memory stats
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(compiled, group_size: int, num_devices: int) -> None:
    """Refuse a fold group whose compiled epoch needs more memory than a device has."""
    try:
        ma = compiled.memory_analysis()
        need = ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes
        need -= ma.alias_size_in_bytes
    except Exception:  # noqa: BLE001 - not every backend reports it
        return
    limit = _device_memory_bytes()
    if need > 0.9 * limit:
        fits = max(num_devices, int(group_size * 0.9 * limit / need) // num_devices * num_devices)
        raise FoldGroupTooLarge(
            f"{group_size} folds per group need about {need / 2**30:.1f} GiB per device, "
            f"{limit / 2**30:.1f} GiB available: try --config.folds.group_size={fits}"
        )


class Run:
    """One LOSO run in a workdir (see the module docstring)."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str | os.PathLike):
        self.config = config
        self.workdir = run_checkpoints.absolute(workdir)
        self.primary = jax.process_index() == 0
        self.t0 = time.time()
        self.data = data_lib.load(config.data)
        self.model_config = model_config(config, len(self.data.class_names), self.data.image_size)
        only = [s for s in str(config.folds.only).split(",") if s]
        self.plan = folds.make_plan(self.data.subjects, only=only or None)
        self.mesh = make_mesh()
        b = int(config.train.batch_size)
        self.settings = train_settings(config, self.plan.steps_per_epoch(b))
        self.epochs = self.settings.epochs
        self.eval_epoch = int(config.eval.epoch) if int(config.eval.epoch) > 0 else self.epochs
        if not 1 <= self.eval_epoch <= self.epochs:
            raise ValueError(f"eval.epoch={config.eval.epoch} is outside 1..{self.epochs}")
        self.resolved = self._resolved_config()
        extra = (ALL_SUBJECTS,) if config.final_model else ()
        self.groups = self.plan.groups(int(config.folds.group_size), self.mesh.size, extra)
        self.compile_seconds: list[float] = []

    def _resolved_config(self) -> dict:
        return {
            "run_config": self.config.to_dict(),
            "model_config": dataclasses.asdict(self.model_config),
            "train_settings": {
                k: v for k, v in dataclasses.asdict(self.settings).items() if k != "augment"
            }
            | {"augment": dataclasses.asdict(self.settings.augment)},
            "data": {
                "dataset": self.data.dataset,
                "num_clips": len(self.data),
                "class_names": self.data.class_names,
                "class_counts": self.data.class_counts(),
                "subjects": list(self.plan.subjects),
            },
            "eval_epoch": self.eval_epoch,
        }

    # --- workdir ---------------------------------------------------------------------
    def _prepare_workdir(self) -> None:
        cfg_file = self.workdir / "config.json"
        if cfg_file.exists():
            old = json.loads(cfg_file.read_text())
            diffs = config_differences(old, json.loads(json.dumps(self.resolved)))
            if diffs:
                raise ValueError(
                    f"{self.workdir} holds a run of another config; refusing to mix them. "
                    "Differences:\n  " + "\n  ".join(diffs) + "\nUse a new --workdir."
                )
        if self.primary:
            self.workdir.mkdir(parents=True, exist_ok=True)
            cfg_file.write_text(json.dumps(self.resolved, indent=2, sort_keys=True))

    # --- groups ----------------------------------------------------------------------
    def _trainer(self) -> FoldTrainer:
        if not hasattr(self, "_fold_trainer"):
            self._fold_trainer = FoldTrainer(
                self.model_config, self.settings, self.data, self.plan, self.config.seed, self.mesh
            )
        return self._fold_trainer

    def run(self) -> dict:
        self._prepare_workdir()
        ckpts = run_checkpoints.RunCheckpoints(self.workdir, int(self.config.checkpoint.keep))
        progress = {"group": 0, "epoch": 0, "folds": {}}
        step = ckpts.latest_step()
        if step is not None:
            progress = ckpts.restore_progress(step)
            log.info(
                "resuming from checkpoint %d: group %d/%d, epoch %d/%d",
                step, progress["group"] + 1, len(self.groups), progress["epoch"], self.epochs,
            )  # fmt: skip
        total = len(self.groups) * self.epochs
        done = progress["group"] * self.epochs + progress["epoch"]
        bar = _progress_bar(total, done, enabled=self.primary and bool(self.config.progress_bar))
        try:
            with _Interrupt() as interrupt:
                for gi in range(progress["group"], len(self.groups)):
                    resume = gi == progress["group"] and progress["epoch"] > 0
                    self._train_group(gi, progress, ckpts, resume, step, bar, interrupt)
                    if interrupt.requested:
                        raise KeyboardInterrupt
        finally:
            bar.close()
            ckpts.close()
        results = self.summarize(progress)
        if self.primary:
            self._write_outputs(results, progress)
        return results

    def _train_group(self, gi, progress, ckpts, resume, step, bar, interrupt) -> None:
        group = self.groups[gi]
        trainer = self._trainer()
        state = trainer.init(group)
        start = 0
        if resume:
            state = ckpts.restore_state(step, state)
            start = progress["epoch"]
        train_mask = trainer.train_masks(group)
        compiled = trainer.compiled_epoch(state, train_mask)
        self.compile_seconds.append(trainer.compile_seconds)
        check_memory(compiled, len(group), self.mesh.size)
        test_idx, valid = trainer.test_indices(group)
        real = folds.group_valid(group)
        has_tests = any(f != ALL_SUBJECTS for f in group)
        for epoch in range(start, self.epochs):
            try:
                state, loss, gnorm = trainer.train_epoch(state, train_mask)
                loss, gnorm = to_host(loss), to_host(gnorm)
            except Exception as e:  # noqa: BLE001 - only memory errors are translated
                if "RESOURCE_EXHAUSTED" in str(e) or "out of memory" in str(e).lower():
                    raise FoldGroupTooLarge(
                        f"out of memory training {len(group)} folds at once: try "
                        f"--config.folds.group_size={max(self.mesh.size, len(group) // 2)}"
                    ) from e
                raise
            self._check_finite(loss, group, real, epoch, ckpts)
            logits = to_host(trainer.evaluate(state, test_idx)) if has_tests else None
            self._record(progress, group, real, epoch, loss, gnorm, logits, valid)
            progress["group"], progress["epoch"] = gi, epoch + 1
            bar.update(1)
            bar.set_description(f"group {gi + 1}/{len(self.groups)}")
            if logits is not None:
                bar.set_postfix(
                    loss=f"{loss[real].mean():.3f}",
                    test_acc=f"{self._epoch_acc(progress, epoch):.3f}",
                )
            every = int(self.config.checkpoint.every_epochs)
            last = epoch + 1 == self.epochs
            if last or interrupt.requested or (every > 0 and (epoch + 1) % every == 0):
                saved = dict(progress, groups=self.groups, epochs=self.epochs)
                ckpts.save(gi * self.epochs + epoch + 1, state, run_checkpoints.to_jsonable(saved))
            if self.primary:
                self._write_metrics(progress)
            if interrupt.requested:
                log.warning("stopped after epoch %d; run the same command to resume", epoch + 1)
                return
        progress["group"], progress["epoch"] = gi + 1, 0
        if ALL_SUBJECTS in group and self.primary:
            self._save_final_model(trainer, state, group.index(ALL_SUBJECTS))

    def _check_finite(self, loss, group, real, epoch, ckpts) -> None:
        bad = ~np.isfinite(loss)
        if not bad.any():
            return
        gi, si = map(int, np.argwhere(bad)[0])
        f = group[gi]
        who = (
            "the all-subjects model"
            if f == ALL_SUBJECTS
            else f"fold {f} (test subject {self.plan.subjects[f]})"
        )
        last = ckpts.latest_step()
        raise NonFiniteLossError(
            f"loss is {loss[gi, si]} for {who} at epoch {epoch + 1}, step {si + 1}; "
            f"stopped without saving. Last good checkpoint: "
            f"{'none' if last is None else ckpts.directory / str(last)}"
        )

    def _record(self, progress, group, real, epoch, loss, gnorm, logits, valid) -> None:
        for gi, f in enumerate(group):
            if not real[gi]:
                continue
            name = "__all__" if f == ALL_SUBJECTS else self.plan.subjects[f]
            rec = progress["folds"].setdefault(
                name, {"train_loss": [], "grad_norm": [], "test_preds": [], "test_logits": None}
            )
            del rec["train_loss"][epoch:], rec["grad_norm"][epoch:], rec["test_preds"][epoch:]
            rec["train_loss"].append(float(loss[gi].mean()))
            rec["grad_norm"].append(float(gnorm[gi].mean()))
            if logits is not None and f != ALL_SUBJECTS:
                lg = logits[gi][valid[gi]]
                rec["test_preds"].append(np.argmax(lg, -1).astype(int).tolist())
                if epoch + 1 == self.eval_epoch:
                    rec["test_logits"] = np.round(lg.astype(np.float64), 6).tolist()

    def _epoch_acc(self, progress, epoch) -> float:
        hits = n = 0
        for f, s in enumerate(self.plan.subjects):
            rec = progress["folds"].get(s)
            if rec and len(rec["test_preds"]) > epoch:
                labels = self.data.labels[self.plan.test_mask[f]]
                hits += int((np.asarray(rec["test_preds"][epoch]) == labels).sum())
                n += len(labels)
        return hits / max(n, 1)

    def _save_final_model(self, trainer: FoldTrainer, state, index: int) -> None:
        model = trainer.model_of(state, index)
        checkpoint.save_model(
            self.workdir / "final_model",
            model,
            class_names=self.data.class_names,
            source=f"trained on all {len(self.plan.subjects)} subjects of {self.data.dataset}",
            extra={"epochs": self.epochs, "seed": int(self.config.seed)},
        )
        log.info("saved the all-subjects model in %s", self.workdir / "final_model")

    # --- results ---------------------------------------------------------------------
    def _pooled(
        self, progress, epoch_of: dict[str, int]
    ) -> tuple[np.ndarray, np.ndarray, list[int]]:
        labels, preds, clips = [], [], []
        for f, s in enumerate(self.plan.subjects):
            idx = np.flatnonzero(self.plan.test_mask[f])
            p = progress["folds"][s]["test_preds"][epoch_of[s] - 1]
            labels.append(self.data.labels[idx])
            preds.append(np.asarray(p, int))
            clips.extend(idx.tolist())
        return np.concatenate(labels), np.concatenate(preds), clips

    def summarize(self, progress) -> dict:
        names = self.data.class_names
        c = len(names)
        subjects = list(self.plan.subjects)
        missing = [
            s
            for s in subjects
            if len(progress["folds"].get(s, {}).get("test_preds", [])) < self.epochs
        ]
        if missing:
            raise RuntimeError(f"folds not finished: {missing}")
        honest = {s: self.eval_epoch for s in subjects}
        y, p, clips = self._pooled(progress, honest)
        res = metrics.compute(y, p, c, names)
        per_fold = {}
        for f, s in enumerate(subjects):
            yy = self.data.labels[self.plan.test_mask[f]]
            pp = np.asarray(progress["folds"][s]["test_preds"][self.eval_epoch - 1])
            m = metrics.compute(yy, pp, c, names)
            per_fold[s] = {k: m[k] for k in ("accuracy", "uf1", "uar", "num_samples")}
        sources = self.data.sources[clips]
        per_source = {}
        if len(set(sources.tolist())) > 1:
            for src in sorted(set(sources.tolist())):
                sel = sources == src
                m = metrics.compute(y[sel], p[sel], c, names)
                per_source[src] = {k: m[k] for k in ("accuracy", "uf1", "uar", "num_samples")}
        # The official code's selection: each subject's best test-accuracy epoch.
        best = {}
        for f, s in enumerate(subjects):
            yy = self.data.labels[self.plan.test_mask[f]]
            accs = [
                float((np.asarray(pe) == yy).mean()) for pe in progress["folds"][s]["test_preds"]
            ]
            best[s] = int(np.argmax(accs)) + 1
        yo, po, _ = self._pooled(progress, best)
        opt = metrics.compute(yo, po, c, names)
        curves = {
            "epoch": list(range(1, self.epochs + 1)),
            "accuracy": [],
            "uf1": [],
            "uar": [],
            "train_loss": [],
        }
        for e in range(1, self.epochs + 1):
            ye, pe, _ = self._pooled(progress, {s: e for s in subjects})
            m = metrics.compute(ye, pe, c, names)
            for k in ("accuracy", "uf1", "uar"):
                curves[k].append(m[k])
            curves["train_loss"].append(
                float(np.mean([progress["folds"][s]["train_loss"][e - 1] for s in subjects]))
            )
        return {
            "protocol": (
                f"leave-one-subject-out over {len(subjects)} subjects; metrics over the pooled "
                f"test predictions of all folds at epoch {self.eval_epoch} of {self.epochs} "
                "(pre-declared by eval.epoch; no selection on test data)"
            ),
            "accuracy": res["accuracy"],
            "uf1": res["uf1"],
            "uar": res["uar"],
            "eval_epoch": self.eval_epoch,
            "epochs": self.epochs,
            "num_samples": res["num_samples"],
            "per_class": res["per_class"],
            "confusion": res["confusion"],
            "per_fold": per_fold,
            "per_source": per_source,
            "optimistic": {
                "label": OPTIMISTIC_LABEL,
                "accuracy": opt["accuracy"],
                "uf1": opt["uf1"],
                "uar": opt["uar"],
                "best_epoch_per_subject": best,
            },
            "curves": curves,
            "dataset": self.data.dataset,
            "class_names": names,
            "class_counts": self.data.class_counts(),
            "num_subjects": len(subjects),
            "seed": int(self.config.seed),
        }

    def _write_metrics(self, progress) -> None:
        lines = []
        for s, rec in progress["folds"].items():
            f = self.plan.subjects.index(s) if s in self.plan.subjects else None
            labels = self.data.labels[self.plan.test_mask[f]] if f is not None else None
            for e, loss in enumerate(rec["train_loss"]):
                line = {
                    "fold": s,
                    "epoch": e + 1,
                    "train_loss": loss,
                    "grad_norm": rec["grad_norm"][e],
                }
                if labels is not None and e < len(rec["test_preds"]):
                    line["test_accuracy"] = float(
                        (np.asarray(rec["test_preds"][e]) == labels).mean()
                    )
                    line["test_n"] = len(labels)
                lines.append(json.dumps(line))
        (self.workdir / "metrics.jsonl").write_text("\n".join(lines) + "\n")

    def _write_outputs(self, results: dict, progress) -> None:
        wd = self.workdir
        (wd / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
        rows = ["id,subject,source,label,prediction,label_name,prediction_name"]
        names = self.data.class_names
        for f, s in enumerate(self.plan.subjects):
            idx = np.flatnonzero(self.plan.test_mask[f])
            preds = progress["folds"][s]["test_preds"][self.eval_epoch - 1]
            for i, pr in zip(idx, preds, strict=True):
                lab = int(self.data.labels[i])
                rows.append(
                    f"{self.data.ids[i]},{s},{self.data.sources[i]},{lab},{pr},{names[lab]},{names[pr]}"
                )
        (wd / "predictions.csv").write_text("\n".join(rows) + "\n")
        info = {
            "seconds": time.time() - self.t0,
            "compile_seconds": self.compile_seconds,
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "process_count": jax.process_count(),
            "jax_version": jax.__version__,
            "fold_groups": self.groups,
            "fold_loop": self.settings.fold_loop,
            "conv_impl": self.model_config.conv_impl,
            "hugepages": hugepages.status(),
        }
        (wd / "run_info.json").write_text(json.dumps(info, indent=2))
        if self.config.get("report", True):
            try:
                from mmnet_jax import report  # noqa: PLC0415
            except ImportError:
                return
            report.write_report(wd, results, self.resolved, info)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, initial=initial, disable=not enabled, unit="epoch", dynamic_ncols=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict:
    """Run (or resume) the LOSO run ``config`` describes in ``workdir``; returns results."""
    if config.get("distributed", False):
        jax.distributed.initialize()
    return Run(config, workdir).run()
