"""Tiny fabricated datasets and trainer settings for fast trainer tests."""

from __future__ import annotations

import numpy as np

from mmnet_jax.data.augment import AugmentConfig
from mmnet_jax.data.records import ClipArrays
from mmnet_jax.models import MMNetConfig
from mmnet_jax.training.fold_trainer import TrainSettings
from mmnet_jax.training.folds import make_plan

SIZE = 32


def fake_clips(subjects=4, clips=4, size=SIZE, classes=3, seed=0) -> ClipArrays:
    """``subjects`` subjects of ``clips`` clips each, or of ``clips[i]`` clips (a list)."""
    rng = np.random.default_rng(seed)
    counts = [clips] * subjects if isinstance(clips, int) else list(clips)
    n, k = sum(counts), 3
    subject_of = np.repeat(np.arange(len(counts)), counts)
    clip_of = np.concatenate([np.arange(c) for c in counts])
    return ClipArrays(
        onset_frames=rng.integers(0, 256, (n, k, size, size, 3), dtype=np.uint8),
        apex_frames=rng.integers(0, 256, (n, k, size, size, 3), dtype=np.uint8),
        jitter=rng.integers(0, k, n).astype(np.int32),
        labels=rng.integers(0, classes, n).astype(np.int32),
        subjects=np.asarray([f"s{i}" for i in subject_of]),
        ids=np.asarray([f"s{i}/c{j}" for i, j in zip(subject_of, clip_of, strict=True)]),
        sources=np.repeat(["fake"], n),
        class_names=[f"k{i}" for i in range(classes)],
        dataset="fake",
    )


def settings(plan, batch=4, fold_loop="map", epochs=1, schedule="per_fold") -> TrainSettings:
    return TrainSettings(
        epochs=epochs,
        batch_size=batch,
        steps_per_epoch=plan.steps_per_epoch(batch),
        learning_rate=8e-4,
        weight_decay=0.6,
        lr_decay=0.987,
        lr_decay_epochs=50,
        b1=0.9,
        b2=0.999,
        eps=1e-8,
        eval_chunk=4,
        augment=AugmentConfig(rotation_deg=3.0, crop_padding=2),
        fold_loop=fold_loop,
        schedule=schedule,
    )


def model_config(classes=3, drop_path=0.0) -> MMNetConfig:
    return MMNetConfig(
        num_classes=classes, image_size=SIZE, conv_impl="matmul_grad", drop_path_rate=drop_path
    )


def plan_of(data):
    return make_plan(data.subjects)


def synthetic_config(data_dir, overrides: dict):
    """``configs/synthetic.py``'s config with dotted-key ``overrides`` (``"train.epochs"``)
    and the data in ``data_dir``."""
    from configs import synthetic  # noqa: PLC0415

    config = synthetic.get_config()
    for key, value in {**overrides, "data.data_dir": str(data_dir)}.items():
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


def read_scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of the TensorBoard event files in ``logdir``: its (step, value)
    pairs in the order written (the files' in name order)."""
    from tensorboard.backend.event_processing import event_accumulator  # noqa: PLC0415

    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
