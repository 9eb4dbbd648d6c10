"""A whole STSTNet LOSO on CPU: mmnet_jax's fold-parallel trainer against the official loop.

    python benchmarks/ststnet_speed.py --torch_python /tmp/torchenv/bin/python \\
        --json ststnet_speed.json --md ststnet_speed.md

On a MEGC 2019-shaped set made in memory (68 subjects, 442 clips: the composite's own clip
list, ``tfds_builders/megc2019/official_3class_gt.csv``, gives each subject's clips and
labels; 28 x 28 x 3 synthetic flow), with STSTNet's official recipe (Adam 5e-5, batch
256, clips in order, each fold's own steps per epoch), it times:

- ``ours``: ``FoldTrainer`` as a run drives it: every fold stacked in the groups a run
  chooses (the largest that fits in memory: all 68 here), the run's model and training
  settings (``configs/megc2019.py:model=ststnet`` read by ``RunSettings``), for each
  ``--fold_loops`` (``map``: one fold after another, the CPU default; ``vmap``: one
  batched program). Per epoch: the compiled epoch and its losses fetched, then the
  evaluation of every fold's test clips and its logits fetched (what the run does each
  epoch, less its host bookkeeping). Compilation is timed apart;
- ``official``: christy1206/STSTNet ``main.py``'s loop (its STSTNet class copied below),
  one subject after another: a fresh model, ``Adam``, ``DataLoader(batch_size=256)``
  without shuffling over the training clips, each epoch a training pass and the test
  pass (``.item()`` per batch, as there), in PyTorch on CPU. It runs in a PyTorch-only
  virtualenv (``--torch_python``; ``benchmarks/requirements-official.txt``) as
  ``--side official``: that side imports no JAX.

Rounds alternate (ours, official, ours, official, ...; ``--rounds``) in the same window;
each figure is the median over the timed epochs (after ``--warmup_epochs``), and the
summary the median over rounds. Both sides get ``--threads`` CPU threads (the process's
CPU affinity, which XLA sizes its thread pool from, and ``torch.set_num_threads``). The
machine's load average is kept at each measurement's start and end.

Figures: training samples per second (the clips the folds train on per epoch, summed
over folds, over the training time of an epoch), seconds per epoch of the whole LOSO
(training and evaluation of every fold), and the run projected to ``--total_epochs``
(800, the official count): ours ``compile + groups x (init + epochs x (epoch + eval))``,
official ``sum over subjects (setup + epochs x epoch)``; with ``--official_subjects N``
only N subjects (spread over the sorted list) are measured and the rest projected from
their rates. Neither side reads images from disk here (the official script reads each
subject's PNGs once, before its 800 epochs).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from benchmarks import common  # noqa: E402  (imports neither JAX nor PyTorch)
from mmnet_jax import cli  # noqa: E402  (absl only)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIP_LIST = ROOT / "tfds_builders" / "megc2019" / "official_3class_gt.csv"
CLASS_NAMES = ("negative", "positive", "surprise")  # the clip list's codes 0, 1, 2
FLOW_SIZE = 28
# STSTNet main.py's recipe (the same numbers as recipe.MODEL_RECIPES["ststnet"], which the
# ours side reads through the run's config: test_benchmarks checks they agree).
OFFICIAL_LR = 5e-5
OFFICIAL_BATCH = 256
OFFICIAL_EPOCHS = 800
SIDES = ("both", "ours", "official")
FOLD_LOOPS = ("map", "vmap")


def _log(msg: str) -> None:
    print(f"[ststnet_speed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the data's shape (both sides) ----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Shape:
    """Which subject and label each clip has (the data's shape; the pixels are synthetic)."""

    name: str
    subject_of_clip: tuple[str, ...]
    labels: tuple[int, ...]

    @classmethod
    def from_clip_list(cls, path: os.PathLike | str = CLIP_LIST) -> Shape:
        """The MEGC 2019 composite's clips (dataset, subject, clip, label code per row);
        subjects named ``<dataset>_<subject>`` as the megc2019 builder names them."""
        subjects, labels = [], []
        with open(path, newline="") as f:
            for row in csv.reader(f):
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                subjects.append(f"{cells[0].lower()}_{cells[1]}")
                labels.append(int(cells[3]))
        return cls("megc2019", tuple(subjects), tuple(labels))

    @classmethod
    def from_counts(cls, counts: Sequence[int], num_classes: int = 3, name: str = "tiny"):
        """``counts[i]`` clips for subject ``i``, labels cycling over the classes."""
        subjects = [f"s{i:02d}" for i, c in enumerate(counts) for _ in range(c)]
        return cls(name, tuple(subjects), tuple(i % num_classes for i in range(len(subjects))))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self.subject_of_clip))

    def counts(self) -> dict[str, int]:
        """Clips per subject, in sorted subject order."""
        arr = np.asarray(self.subject_of_clip)
        return {s: int((arr == s).sum()) for s in self.subjects}

    def train_samples_per_epoch(self) -> int:
        """Clips trained per LOSO epoch, summed over the folds: each subject's fold trains
        on every other subject's clips once."""
        n = len(self)
        return sum(n - c for c in self.counts().values())

    def describe(self) -> dict:
        c = list(self.counts().values())
        return {
            "name": self.name,
            "subjects": len(c),
            "clips": len(self),
            "clips_per_subject_min_median_max": [min(c), statistics.median(c), max(c)],
            "class_counts": np.bincount(self.labels, minlength=len(CLASS_NAMES)).tolist(),
            "train_samples_per_epoch": self.train_samples_per_epoch(),
        }


def synthetic_flow(n: int, size: int = FLOW_SIZE, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) float32 flow, channels (u, v, strain): smooth random motion."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(0, 1, (2, n, size, size)).astype(np.float32)
    strain = np.hypot(np.gradient(u, axis=2), np.gradient(v, axis=1)).astype(np.float32)
    return np.stack([u, v, strain], axis=-1)


def flow_images(flow: np.ndarray) -> np.ndarray:
    """The field's flow images of ``flow``: each clip's channels min-max scaled to 0..255,
    uint8 (what the official script reads from its PNGs with ``cv2.imread``)."""
    lo = flow.min(axis=(1, 2), keepdims=True)
    hi = flow.max(axis=(1, 2), keepdims=True)
    return np.round(255 * (flow - lo) / np.maximum(hi - lo, 1e-12)).astype(np.uint8)


def spread(items: Sequence[str], n: int) -> list[str]:
    """``n`` of ``items`` spread evenly over them (all when ``n`` is 0 or too large)."""
    if n <= 0 or n >= len(items):
        return list(items)
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, n)).astype(int))
    return [items[i] for i in idx]


def set_threads(threads: int) -> list[int]:
    """Restrict this process to ``threads`` CPUs (its affinity; XLA sizes its thread pool
    from it): the CPUs it runs on."""
    if hasattr(os, "sched_setaffinity") and threads > 0:
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


# --- projections and summaries (both sides) --------------------------------------------
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def project_ours(groups: list[dict], compile_s: float, total_epochs: int) -> float:
    """Seconds of a whole run: compile, then per group its init and ``total_epochs`` x
    (epoch + evaluation), from each group's median timed epoch."""
    return compile_s + sum(
        g["init_s"] + total_epochs * (median(g["train_s"]) + median(g["eval_s"])) for g in groups
    )


def official_projection(rows: list[dict], counts: dict[str, int], total_epochs: int) -> dict:
    """The official loop's LOSO epoch and whole run from its measured subjects ``rows``
    (per subject: ``subject``, ``n_train``, ``setup_s``, median-able ``train_s`` and
    ``test_s`` per epoch), projected to every subject of ``counts`` when some are
    missing: training time from the measured training rate (samples/s), the test pass
    and the setup from the measured subjects' means (their cost is mostly per call)."""
    n = sum(counts.values())
    measured = {r["subject"] for r in rows}
    train_s = sum(median(r["train_s"]) for r in rows)
    train_samples = sum(r["n_train"] for r in rows)
    rate = train_samples / train_s
    test_mean = statistics.fmean(median(r["test_s"]) for r in rows)
    setup_mean = statistics.fmean(r["setup_s"] for r in rows)
    epoch_s, setup_s = 0.0, 0.0
    for s, c in counts.items():
        row = next((r for r in rows if r["subject"] == s), None)
        if row is not None:
            epoch_s += median(row["train_s"]) + median(row["test_s"])
            setup_s += row["setup_s"]
        else:
            epoch_s += (n - c) / rate + test_mean
            setup_s += setup_mean
    all_train = sum(n - c for c in counts.values())
    return {
        "subjects_measured": len(measured),
        "subjects": len(counts),
        "projected_from_subset": len(measured) < len(counts),
        "train_samples_per_s": rate,
        "train_s_per_loso_epoch": all_train / rate,
        "loso_epoch_s": epoch_s,
        "setup_s": setup_s,
        "run_s": setup_s + total_epochs * epoch_s,
    }


def ours_summary(m: dict, total_epochs: int) -> dict:
    """A measured ``ours`` round's figures: samples/s, LOSO epoch seconds, the run."""
    train = sum(median(g["train_s"]) for g in m["groups"])
    evals = sum(median(g["eval_s"]) for g in m["groups"])
    return {
        "train_samples_per_s": m["train_samples_per_epoch"] / train,
        "computed_samples_per_s": m["computed_samples_per_epoch"] / train,
        "train_s_per_loso_epoch": train,
        "eval_s_per_loso_epoch": evals,
        "loso_epoch_s": train + evals,
        "cpu_s_per_loso_epoch": sum(median(g["cpu_s"]) for g in m["groups"]),
        "compile_s": m["compile_s"],
        "run_s": project_ours(m["groups"], m["compile_s"], total_epochs),
    }


def summarise(rounds: list[dict]) -> dict:
    """Medians over rounds for each side (ours per fold loop), and ours over official."""
    by: dict[str, list[dict]] = {}
    for r in rounds:
        by.setdefault(r["label"], []).append(r["summary"])
    keys = ("train_samples_per_s", "loso_epoch_s", "run_s")
    out = {
        label: {k: median([s[k] for s in ss]) for k in keys} | {"rounds": len(ss)}
        for label, ss in by.items()
    }
    off = out.get("official")
    if off:
        for label, s in out.items():
            if label != "official":
                s["speedup_vs_official"] = off["loso_epoch_s"] / s["loso_epoch_s"]
                s["run_speedup_vs_official"] = off["run_s"] / s["run_s"]
    return out


# --- ours (JAX) ------------------------------------------------------------------------
class Ours:
    """The run's FoldTrainer for STSTNet on ``shape`` with one fold loop; compiled once,
    measured per :meth:`measure` call."""

    def __init__(
        self,
        shape: Shape,
        fold_loop: str,
        batch_size: int | None = None,
        group_size: int = 0,
        seed: int = 0,
        overrides: dict | None = None,
    ):
        import jax  # noqa: PLC0415

        from configs import megc2019  # noqa: PLC0415
        from mmnet_jax.data.records import ClipArrays  # noqa: PLC0415
        from mmnet_jax.training import fold_trainer, folds, trainer  # noqa: PLC0415
        from mmnet_jax.training.settings import RunSettings  # noqa: PLC0415

        self.jax, self.fold_trainer = jax, fold_trainer
        config = megc2019.get_config("model=ststnet")
        config.folds.loop = fold_loop
        config.folds.group_size = group_size
        if batch_size:
            config.train.batch_size = batch_size
        for key, value in (overrides or {}).items():
            section, _, name = key.partition(".")
            config[section][name] = value
        rs = RunSettings.from_config(config)
        n = len(shape)
        data = ClipArrays(
            onset_frames=None,
            apex_frames=None,
            jitter=np.zeros((n, 3), np.int32),
            labels=np.asarray(shape.labels, np.int32),
            subjects=np.asarray(shape.subject_of_clip),
            ids=np.asarray([f"clip{i:04d}" for i in range(n)]),
            sources=np.asarray([s.split("_")[0] for s in shape.subject_of_clip]),
            class_names=list(CLASS_NAMES),
            dataset=f"synthetic {shape.name}",
            flow=synthetic_flow(n, FLOW_SIZE, seed),
        )
        plan = folds.make_plan(data.subjects)
        replicas = rs.replicas(plan, data.subjects)
        self.settings = rs.train_settings(plan.steps_per_epoch(rs.train.batch_size))
        self.model_config = rs.model_config(len(CLASS_NAMES), FLOW_SIZE)
        self.mesh = fold_trainer.make_mesh()
        self.ft = fold_trainer.FoldTrainer(
            self.model_config, self.settings, data, plan, rs.seed, self.mesh, replicas=replicas
        )
        self.shape = shape
        self.fold_loop = self.settings.fold_loop
        t0 = time.perf_counter()
        if group_size:
            size = group_size
        else:  # as a run chooses (Run._auto_group_size): the largest that fits in memory
            size, _ = trainer.choose_group_size(
                replicas.num_replicas, self.mesh.size, self._epoch_bytes, self._memory_limit()
            )
        self.groups = replicas.groups(size, self.mesh.size)
        self.compile_epoch_s = time.perf_counter() - t0  # the largest group's, with its probe
        self.compile_eval_s: float | None = None
        self.compile_init_s: float | None = None
        self.epoch_bytes = self._epoch_bytes(len(self.groups[0]))

    @staticmethod
    def _memory_limit() -> int:
        from mmnet_jax.training import trainer  # noqa: PLC0415

        return trainer._device_memory_bytes()  # what a run fits its groups into

    def _epoch_bytes(self, size: int) -> int | None:
        from mmnet_jax.training import trainer  # noqa: PLC0415

        jax, ft = self.jax, self.ft
        group = ft.replicas.groups(size, self.mesh.size)[0]
        state = jax.eval_shape(lambda: ft.init(group))
        state = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=ft.fold_sharding), state
        )
        return trainer.epoch_bytes(ft.compiled_epoch(state, ft.train_masks(group)))

    def measure(self, epochs: int, warmup: int) -> dict:
        """Every group: init, ``warmup`` untimed epochs, ``epochs`` timed ones (training
        with its losses fetched; evaluation with its logits fetched). The first call
        also times what compiles on first use (init, evaluation) against a second call."""
        from mmnet_jax.training import folds  # noqa: PLC0415

        jax, ft, to_host = self.jax, self.ft, self.fold_trainer.to_host
        load_start = common.load_average()
        groups = []
        for group in self.groups:
            t0 = time.perf_counter()
            state = jax.block_until_ready(ft.init(group))
            init_s = time.perf_counter() - t0
            if self.compile_init_s is None:
                t0 = time.perf_counter()
                state = jax.block_until_ready(ft.init(group))
                self.compile_init_s = max(0.0, init_s - (time.perf_counter() - t0))
                init_s -= self.compile_init_s
            masks = ft.train_masks(group)
            test_idx, _ = ft.test_indices(group)
            ft.compiled_epoch(state, masks)
            first_eval_s = None
            if self.compile_eval_s is None:
                t0 = time.perf_counter()
                to_host(ft.evaluate(state, test_idx))
                first_eval_s = time.perf_counter() - t0
            train_s, eval_s, cpu_s = [], [], []
            for e in range(warmup + epochs):
                t0, c0 = time.perf_counter(), time.process_time()
                state, loss, gnorm = ft.train_epoch(state, masks)
                to_host(loss), to_host(gnorm)
                t1 = time.perf_counter()
                to_host(ft.evaluate(state, test_idx))
                t2 = time.perf_counter()
                if e >= warmup:
                    train_s.append(t1 - t0)
                    eval_s.append(t2 - t1)
                    cpu_s.append(time.process_time() - c0)
            if first_eval_s is not None:
                self.compile_eval_s = max(0.0, first_eval_s - median(eval_s))
            groups.append(
                {
                    "folds": len(group),
                    "init_s": init_s,
                    "train_s": train_s,
                    "eval_s": eval_s,
                    "cpu_s": cpu_s,
                }
            )
            del state
        real = sum(int(ft.fold_steps(g)[1][folds.group_valid(g)].sum()) for g in self.groups)
        b = self.settings.batch_size
        computed = sum(len(g) for g in self.groups) * self.settings.steps_per_epoch * b
        compile_s = self.compile_epoch_s + (self.compile_eval_s or 0) + (self.compile_init_s or 0)
        return {
            "side": "ours",
            "label": f"ours ({self.fold_loop})",
            "fold_loop": self.fold_loop,
            "conv_impl": getattr(self.model_config, "conv_impl", None),
            "group_sizes": [len(g) for g in self.groups],
            "steps_per_epoch": self.settings.steps_per_epoch,
            "batch_size": b,
            "train_samples_per_epoch": real,
            "computed_samples_per_epoch": computed,
            "epoch_bytes": self.epoch_bytes,
            "compile_s": compile_s,
            "compile_parts_s": {
                "epoch": self.compile_epoch_s,
                "eval": self.compile_eval_s,
                "init": self.compile_init_s,
            },
            "groups": groups,
            "load_average": load_start,
            "load_average_end": common.load_average(),
        }


# --- official (PyTorch) ------------------------------------------------------------------
def official_model_class():
    """christy1206/STSTNet ``main.py``'s ``STSTNet`` and ``reset_weights``, as published
    (PyTorch; defined on first use so that the module imports without torch)."""
    import torch  # noqa: PLC0415
    import torch.nn as nn  # noqa: PLC0415

    class STSTNet(nn.Module):
        def __init__(self, in_channels=3, out_channels=3):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels=3, kernel_size=3, padding=2)
            self.conv2 = nn.Conv2d(in_channels, out_channels=5, kernel_size=3, padding=2)
            self.conv3 = nn.Conv2d(in_channels, out_channels=8, kernel_size=3, padding=2)
            self.relu = nn.ReLU()
            self.bn1 = nn.BatchNorm2d(3)
            self.bn2 = nn.BatchNorm2d(5)
            self.bn3 = nn.BatchNorm2d(8)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=3, padding=1)
            self.avgpool = nn.AvgPool2d(kernel_size=2, stride=2, padding=0)
            self.dropout = nn.Dropout(p=0.5)
            self.fc = nn.Linear(in_features=5 * 5 * 16, out_features=out_channels)

        def forward(self, x):
            x1 = self.conv1(x)
            x1 = self.relu(x1)
            x1 = self.bn1(x1)
            x1 = self.maxpool(x1)
            x1 = self.dropout(x1)
            x2 = self.conv2(x)
            x2 = self.relu(x2)
            x2 = self.bn2(x2)
            x2 = self.maxpool(x2)
            x2 = self.dropout(x2)
            x3 = self.conv3(x)
            x3 = self.relu(x3)
            x3 = self.bn3(x3)
            x3 = self.maxpool(x3)
            x3 = self.dropout(x3)
            x = torch.cat((x1, x2, x3), 1)
            x = self.avgpool(x)
            x = x.view(x.size(0), -1)
            x = self.fc(x)
            return x

    def reset_weights(m):
        for layer in m.children():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()

    return STSTNet, reset_weights


def official_measure(
    shape: Shape,
    epochs: int,
    warmup: int,
    subjects: Sequence[str] | None = None,
    batch_size: int = OFFICIAL_BATCH,
    seed: int = 0,
) -> dict:
    """``main.py --train True``'s loop over ``subjects`` (default all), each with
    ``warmup`` untimed and ``epochs`` timed epochs: per subject its setup (lists of
    images to tensors, a fresh model, Adam, the DataLoaders) and each epoch's training
    pass and test pass, as the script does them (on CPU)."""
    import torch  # noqa: PLC0415
    from torch.utils.data import DataLoader, TensorDataset  # noqa: PLC0415

    torch.manual_seed(seed)
    stst_net, reset_weights = official_model_class()
    images = flow_images(synthetic_flow(len(shape), FLOW_SIZE, seed))
    subject_of_clip = np.asarray(shape.subject_of_clip)
    device = torch.device("cpu")
    loss_fn = torch.nn.CrossEntropyLoss()
    load_start = common.load_average()
    rows = []
    for n_sub_name in subjects or shape.subjects:
        t0 = time.perf_counter()
        train = np.flatnonzero(subject_of_clip != n_sub_name)
        test = np.flatnonzero(subject_of_clip == n_sub_name)
        # As cv2.imread gives them: one HxWx3 uint8 array per image, in a list.
        x_train, y_train = [images[i] for i in train], [shape.labels[i] for i in train]
        x_test, y_test = [images[i] for i in test], [shape.labels[i] for i in test]
        model = stst_net().to(device)
        model.apply(reset_weights)
        optimizer = torch.optim.Adam(model.parameters(), lr=OFFICIAL_LR)
        with warnings.catch_warnings():  # torch's hint that a list of arrays is slow
            warnings.simplefilter("ignore", UserWarning)
            x_train = torch.Tensor(x_train).permute(0, 3, 1, 2)
            x_test = torch.Tensor(x_test).permute(0, 3, 1, 2)
        y_train = torch.Tensor(y_train).to(dtype=torch.long)
        y_test = torch.Tensor(y_test).to(dtype=torch.long)
        train_dl = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size)
        test_dl = DataLoader(TensorDataset(x_test, y_test), batch_size=batch_size)
        setup_s = time.perf_counter() - t0
        train_s, test_s, cpu_s = [], [], []
        for epoch in range(warmup + epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            # Training (main.py, verbatim but for names)
            model.train()
            train_loss = 0.0
            num_train_correct = 0
            num_train_examples = 0
            for batch in train_dl:
                optimizer.zero_grad()
                x = batch[0].to(device)
                y = batch[1].to(device)
                yhat = model(x)
                loss = loss_fn(yhat, y)
                loss.backward()
                optimizer.step()
                train_loss += loss.data.item() * x.size(0)
                num_train_correct += (torch.max(yhat, 1)[1] == y).sum().item()
                num_train_examples += x.shape[0]
            t1 = time.perf_counter()
            # Testing (main.py: the same every epoch, gradients on)
            model.eval()
            val_loss = 0.0
            num_val_correct = 0
            num_val_examples = 0
            for batch in test_dl:
                x = batch[0].to(device)
                y = batch[1].to(device)
                yhat = model(x)
                loss = loss_fn(yhat, y)
                val_loss += loss.data.item() * x.size(0)
                num_val_correct += (torch.max(yhat, 1)[1] == y).sum().item()
                num_val_examples += y.shape[0]
            t2 = time.perf_counter()
            if epoch >= warmup:
                train_s.append(t1 - t0)
                test_s.append(t2 - t1)
                cpu_s.append(time.process_time() - c0)
        rows.append(
            {
                "subject": n_sub_name,
                "n_train": len(train),
                "n_test": len(test),
                "setup_s": setup_s,
                "train_s": train_s,
                "test_s": test_s,
                "cpu_s": cpu_s,
            }
        )
    return {
        "side": "official",
        "label": "official",
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "subjects": rows,
        "load_average": load_start,
        "load_average_end": common.load_average(),
    }


def official_summary(m: dict, shape: Shape, total_epochs: int) -> dict:
    p = official_projection(m["subjects"], shape.counts(), total_epochs)
    return {
        "train_samples_per_s": p["train_samples_per_s"],
        "train_s_per_loso_epoch": p["train_s_per_loso_epoch"],
        "loso_epoch_s": p["loso_epoch_s"],
        "cpu_s_per_loso_epoch": sum(median(r["cpu_s"]) for r in m["subjects"])
        * len(shape.subjects)
        / len(m["subjects"]),
        "run_s": p["run_s"],
        "projection": p,
    }


def official_round(
    torch_python: str,
    shape_args: list[str],
    epochs: int,
    warmup: int,
    threads: int,
    subjects: int,
) -> dict:
    """One official round in the PyTorch virtualenv (``--side official``), its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "official.json")
        cmd = [
            torch_python,
            str(pathlib.Path(__file__).resolve()),
            "--side",
            "official",
            "--json",
            out,
            "--epochs",
            str(epochs),
            "--warmup_epochs",
            str(warmup),
            "--threads",
            str(threads),
            "--official_subjects",
            str(subjects),
            *shape_args,
        ]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"the official side failed ({' '.join(cmd)}):\n{done.stdout}\n{done.stderr}"
            )
        with open(out) as f:
            return json.load(f)["measurements"][0]


# --- the comparison --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Options:
    side: str = "both"
    rounds: int = 2
    epochs: int = 3
    warmup_epochs: int = 1
    fold_loops: tuple[str, ...] = FOLD_LOOPS
    threads: int = 2
    total_epochs: int = OFFICIAL_EPOCHS
    official_subjects: int = 0
    clip_counts: tuple[int, ...] = ()
    batch_size: int = 0  # 0: the recipe's (256)
    group_size: int = 0  # 0: as a run chooses
    conv_impl: str = ""  # "": the run's (the model config's default)
    torch_python: str = ""

    def shape(self) -> Shape:
        if self.clip_counts:
            return Shape.from_counts(self.clip_counts)
        return Shape.from_clip_list()

    def shape_args(self) -> list[str]:
        args = ["--batch_size", str(self.batch_size)]
        if self.clip_counts:
            args += ["--clip_counts", ",".join(map(str, self.clip_counts))]
        return args


def machine() -> dict:
    return {
        "cpu_model": common.cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": common.cores_usable(),
        "python": sys.version.split()[0],
    }


def run(opts: Options) -> dict:
    """Every round of ``opts``: ours (each fold loop) then official, ``opts.rounds``
    times; the measurements, their summaries and the medians."""
    t_start = time.perf_counter()
    cpus = set_threads(opts.threads)
    shape = opts.shape()
    res: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine() | {"cpus_used": cpus},
        "command": " ".join(sys.orig_argv),
        "shape": shape.describe(),
        "options": dataclasses.asdict(opts),
        "load_average_start": common.load_average(),
        "measurements": [],
    }
    ours: dict[str, Ours] = {}
    if opts.side in ("both", "ours"):
        import jax  # noqa: PLC0415

        res["versions"] = {
            p: common.package_version(p) for p in ("jax", "jaxlib", "flax", "optax", "numpy")
        }
        res["jax_backend"] = jax.default_backend()
    for r in range(opts.rounds):
        if opts.side in ("both", "ours"):
            for loop in opts.fold_loops:
                if loop not in ours:
                    _log(f"ours ({loop}): building and compiling the fold trainer")
                    overrides = {"model.conv_impl": opts.conv_impl} if opts.conv_impl else {}
                    ours[loop] = Ours(
                        shape, loop, opts.batch_size or None, opts.group_size, overrides=overrides
                    )
                _log(f"round {r + 1}: ours ({loop}), {opts.epochs} timed epochs")
                m = ours[loop].measure(opts.epochs, opts.warmup_epochs)
                m["round"] = r + 1
                m["summary"] = ours_summary(m, opts.total_epochs)
                res["measurements"].append(m)
                _log(f"  {_one_line(m['summary'])}")
        if opts.side in ("both", "official"):
            _log(f"round {r + 1}: official, {opts.epochs} timed epochs per subject")
            if opts.side == "official":
                set_threads(opts.threads)
                import torch  # noqa: PLC0415

                torch.set_num_threads(opts.threads)
                subjects = spread(shape.subjects, opts.official_subjects)
                m = official_measure(
                    shape,
                    opts.epochs,
                    opts.warmup_epochs,
                    subjects,
                    opts.batch_size or OFFICIAL_BATCH,
                )
            else:
                m = official_round(
                    opts.torch_python,
                    opts.shape_args(),
                    opts.epochs,
                    opts.warmup_epochs,
                    opts.threads,
                    opts.official_subjects,
                )
            m["round"] = r + 1
            m["summary"] = official_summary(m, shape, opts.total_epochs)
            res["measurements"].append(m)
            res.setdefault("versions", {})["torch"] = m["torch_version"]
            _log(f"  {_one_line(m['summary'])}")
    res["summary"] = summarise(res["measurements"])
    res["load_average_end"] = common.load_average()
    res["wall_s"] = time.perf_counter() - t_start
    return res


def _one_line(s: dict) -> str:
    return (
        f"{s['train_samples_per_s']:.0f} training samples/s, LOSO epoch "
        f"{s['loso_epoch_s']:.2f} s, {s['run_s'] / 3600:.2f} h projected"
    )


def _la(x) -> str:
    return "/".join(f"{v:.1f}" for v in x or [])


def to_markdown(res: dict) -> str:
    m, sh, o = res["machine"], res["shape"], res["options"]
    v = res.get("versions", {})
    lines = [
        "# STSTNet LOSO speed: mmnet_jax's fold trainer against the official loop",
        "",
        f"{res['date']}; {m['cpu_model']}, {m['cpu_cores']} cores, CPUs used "
        f"{m['cpus_used']}; jax {v.get('jax', '-')}, torch {v.get('torch', '-')}. "
        f"Data: {sh['subjects']} subjects, {sh['clips']} clips ({sh['name']}), "
        f"{sh['train_samples_per_epoch']} training samples per LOSO epoch. "
        f"{o['epochs']} timed epochs after {o['warmup_epochs']} warm-up, medians; "
        f"projections to {o['total_epochs']} epochs. Load average at start "
        f"{_la(res['load_average_start'])}, at end {_la(res['load_average_end'])}; "
        f"{res['wall_s']:.0f} s in all.",
        "",
    ]
    rows = []
    for ms in res["measurements"]:
        s = ms["summary"]
        extra = (
            f"compile {s['compile_s']:.1f} s, eval {s['eval_s_per_loso_epoch']:.2f} s/epoch"
            if ms["side"] == "ours"
            else f"{s['projection']['subjects_measured']} subjects measured"
        )
        rows.append(
            [
                ms["round"],
                ms["label"],
                common.fmt(s["train_samples_per_s"], 0),
                common.fmt(s["loso_epoch_s"], 2),
                common.fmt(s["cpu_s_per_loso_epoch"], 2),
                common.fmt(s["run_s"] / 3600, 2),
                extra,
                f"{_la(ms['load_average'])} -> {_la(ms['load_average_end'])}",
            ]
        )
    lines += common.table(
        [
            "round",
            "side",
            "training samples/s",
            "LOSO epoch s",
            "CPU s per epoch",
            "run h (projected)",
            "notes",
            "load average",
        ],
        rows,
    )
    summary = res["summary"]
    lines += ["Medians over rounds:", ""]
    lines += common.table(
        [
            "side",
            "training samples/s",
            "LOSO epoch s",
            "run h",
            "vs official (epoch)",
            "vs official (run)",
        ],
        [
            [
                label,
                common.fmt(s["train_samples_per_s"], 0),
                common.fmt(s["loso_epoch_s"], 2),
                common.fmt(s["run_s"] / 3600, 2),
                common.fmt(s.get("speedup_vs_official"), 2),
                common.fmt(s.get("run_speedup_vs_official"), 2),
            ]
            for label, s in summary.items()
        ],
    )
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------
def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum(
        "side", "both", SIDES, "what to measure (official: in the torch venv)", flag_values=fv
    )
    flags.DEFINE_integer("rounds", 2, "rounds of ours then official", flag_values=fv)
    flags.DEFINE_integer("epochs", 3, "timed epochs per measurement", flag_values=fv)
    flags.DEFINE_integer("warmup_epochs", 1, "untimed epochs before them", flag_values=fv)
    flags.DEFINE_list("fold_loops", list(FOLD_LOOPS), "ours: map, vmap", flag_values=fv)
    flags.DEFINE_integer("threads", 2, "CPU threads of each side", flag_values=fv)
    flags.DEFINE_integer(
        "total_epochs", OFFICIAL_EPOCHS, "epochs of the projected run", flag_values=fv
    )
    flags.DEFINE_integer(
        "official_subjects", 0, "official: measure this many subjects (0: all)", flag_values=fv
    )
    flags.DEFINE_list(
        "clip_counts", None, "clips per subject (default: the MEGC 2019 list)", flag_values=fv
    )
    flags.DEFINE_integer("batch_size", 0, "0: the recipe's 256", flag_values=fv)
    flags.DEFINE_integer(
        "group_size", 0, "ours: folds per group (0: as a run chooses)", flag_values=fv
    )
    flags.DEFINE_enum(
        "conv_impl",
        "",
        ["", "xla", "matmul_grad"],
        "ours: the model's conv_impl ('': the run's default)",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "torch_python", None, "python of the PyTorch venv (side both)", flag_values=fv
    )
    flags.DEFINE_string("json", None, "write the results here (JSON)", flag_values=fv)
    flags.DEFINE_string("md", None, "write the Markdown table here (also printed)", flag_values=fv)


def options_from_flags(fv: flags.FlagValues) -> Options:
    """The options of parsed flags (raises ``cli.UserError`` naming the flag)."""
    for name in ("json", "md"):
        path = fv[name].value
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            cli.fail(f"--{name} {path}: folder {os.path.dirname(path) or '.'} does not exist")
    loops = tuple(fv.fold_loops or ())
    bad = [x for x in loops if x not in FOLD_LOOPS]
    if bad or not loops:
        cli.fail(f"--fold_loops: want some of {', '.join(FOLD_LOOPS)}, got {','.join(loops)}")
    for name in ("rounds", "epochs", "threads", "total_epochs"):
        if fv[name].value < 1:
            cli.fail(f"--{name}={fv[name].value}: want 1 or more")
    for name in ("warmup_epochs", "official_subjects", "batch_size", "group_size"):
        if fv[name].value < 0:
            cli.fail(f"--{name}={fv[name].value}: want 0 or more")
    counts = common.flag_ints(fv, "clip_counts") or ()
    if counts and (len(counts) < 2 or min(counts) < 1):
        cli.fail(f"--clip_counts: want 2 or more subjects of 1 or more clips, got {counts}")
    if fv.side == "both":
        if not fv.torch_python:
            cli.fail(
                "--torch_python is required with --side both: the python of a PyTorch "
                "virtualenv (benchmarks/requirements-official.txt; or --side ours)"
            )
        if not os.access(fv.torch_python, os.X_OK):
            cli.fail(f"--torch_python {fv.torch_python}: not an executable")
    return Options(
        side=fv.side,
        rounds=fv.rounds,
        epochs=fv.epochs,
        warmup_epochs=fv.warmup_epochs,
        fold_loops=loops,
        threads=fv.threads,
        total_epochs=fv.total_epochs,
        official_subjects=fv.official_subjects,
        clip_counts=tuple(counts),
        batch_size=fv.batch_size,
        group_size=fv.group_size,
        conv_impl=fv.conv_impl,
        torch_python=fv.torch_python or "",
    )


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    opts = options_from_flags(fv)
    res = run(opts)
    md = to_markdown(res)
    if opts.side != "official":
        print(md)
    if fv.json:
        with open(fv.json, "w") as f:
            json.dump(res, f, indent=1)
    if fv.md:
        with open(fv.md, "w") as f:
            f.write(md + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
