"""The results module (progress, summaries, CSV), configs to settings, runlocal."""

import importlib
import json

import ml_collections
import numpy as np
import pytest

from configs import default
from mmnet_jax import augment, folds, results
from mmnet_jax.models import MMNetConfig
from mmnet_jax.training import trainer
from mmnet_jax.training.fold_trainer import TrainSettings

CONFIGS = ["default", "casme2", "casme3", "megc2019", "mmew", "samm", "synthetic"]


def _plan_and_progress(epochs=3, seed=0):
    rng = np.random.default_rng(seed)
    subjects = np.repeat(["a", "b", "c"], [2, 3, 4])
    labels = rng.integers(0, 3, len(subjects))
    plan = folds.make_plan(subjects)
    progress = results.Progress(groups=[[0, 1, 2], [-1]], epochs=epochs)
    for e in range(epochs):
        for f, s in enumerate(plan.subjects):
            n = int(plan.test_mask[f].sum())
            progress.record(s, e, 1.0 / (e + 1), 2.0, test_preds=rng.integers(0, 3, n))
        progress.record(results.ALL_SUBJECTS_NAME, e, 0.5, 1.0)
    return plan, labels, progress


def test_progress_json_round_trip_and_redo_of_epochs():
    plan, labels, progress = _plan_and_progress()
    progress.record("a", 2, 0.1, 0.2, test_preds=[1, 2], test_logits=np.full((2, 3), 1 / 3))
    again = results.Progress.from_json(json.loads(json.dumps(progress.to_json())))
    assert again == progress
    assert again.folds["a"].test_logits == [[0.333333] * 3] * 2
    # Recording an epoch again (a resumed run redoes it) drops what came after it.
    again.record("a", 1, 9.0, 9.0, test_preds=[0, 0])
    assert again.folds["a"].train_loss == [1.0, 9.0]
    assert again.folds["a"].test_preds[-1] == [0, 0] and len(again.folds["a"].test_preds) == 2


def test_summary_is_the_metrics_of_the_pooled_predictions():
    plan, labels, progress = _plan_and_progress()
    sources = np.asarray(["x"] * len(labels))
    out = results.summarize(
        progress, plan, labels, sources, ["k0", "k1", "k2"],
        eval_epoch=2, epochs=3, dataset="d", seed=0,
    )  # fmt: skip
    y = np.concatenate([labels[plan.test_mask[f]] for f in range(3)])
    p = np.concatenate([progress.folds[s].test_preds[1] for s in plan.subjects])
    assert out["accuracy"] == pytest.approx(float((y == p).mean()), abs=0)
    assert out["curves"]["train_loss"] == [1.0, 0.5, 1 / 3]
    assert out["per_source"] == {}  # one source: no breakdown
    assert set(out["per_fold"]) == {"a", "b", "c"}
    progress.folds["b"].test_preds.pop()
    with pytest.raises(RuntimeError, match=r"folds not finished: \['b'\]"):
        results.summarize(
            progress, plan, labels, sources, ["k0", "k1", "k2"],
            eval_epoch=2, epochs=3, dataset="d", seed=0,
        )  # fmt: skip


def test_predictions_csv_round_trips_awkward_ids():
    """An id holding a comma, a quote or a newline survives the CSV (item 6d)."""
    plan, labels, progress = _plan_and_progress()
    ids = np.asarray([f"clip {i}" for i in range(len(labels))], dtype=object)
    ids[0], ids[3], ids[5] = "sub01,EP02_01f", 'he said "x"', "two\nlines"
    sources = np.asarray(["casme2, part A"] * len(labels))
    rows = results.prediction_rows(progress, plan, labels, ids, sources, ["k0", "k,1", "k2"], 3)
    text = results.predictions_csv(rows)
    assert text.splitlines()[0] == ",".join(results.PREDICTION_COLUMNS)
    back = results.read_predictions_csv(text)
    assert back == rows
    assert sorted(r["id"] for r in back) == sorted(ids.tolist())


def test_metrics_lines_have_test_accuracy_for_folds_only():
    plan, labels, progress = _plan_and_progress()
    lines = results.metrics_lines(progress, plan, labels)
    assert len(lines) == 4 * 3
    alls = [x for x in lines if x["fold"] == results.ALL_SUBJECTS_NAME]
    assert len(alls) == 3 and all("test_accuracy" not in x for x in alls)
    first = next(x for x in lines if x["fold"] == "c" and x["epoch"] == 1)
    y = labels[plan.test_mask[2]]
    assert first["test_accuracy"] == float(
        (np.asarray(progress.folds["c"].test_preds[0]) == y).mean()
    )


def test_from_config_builds_settings_and_names_bad_keys():
    config = default.get_config()
    s = trainer.train_settings(config, 7)
    assert s == TrainSettings(
        epochs=74, batch_size=32, steps_per_epoch=7, learning_rate=8e-4, weight_decay=0.6,
        lr_decay=0.987, lr_decay_epochs=50, b1=0.9, b2=0.999, eps=1e-8, eval_chunk=16,
        augment=augment.AugmentConfig(), fold_loop=s.fold_loop,
    )  # fmt: skip
    m = trainer.model_config(config, 3, 112)
    assert (m.num_classes, m.image_size, m.pc_depth, m.pc_mlp_ratio) == (3, 112, 2, 4.0)
    assert m.stem_width == MMNetConfig().stem_width  # not in the config: its default
    bad = ml_collections.ConfigDict({"flip": True, "rotation_dg": 3.0})
    with pytest.raises(trainer.RunConfigError, match=r"augment.rotation_dg is not a field of Augm"):
        trainer.from_config(augment.AugmentConfig, bad, "config.augment")
    with pytest.raises(trainer.RunConfigError, match=r"config.train.epochs is missing"):
        trainer.from_config(TrainSettings, ml_collections.ConfigDict({}), "config.train")
    typed = trainer.from_config(
        augment.AugmentConfig, {"rotation_deg": 4, "crop_padding": "3", "flip": "false"}, "x"
    )
    assert typed == augment.AugmentConfig(rotation_deg=4.0, crop_padding=3, flip=False)
    assert isinstance(typed.rotation_deg, float)


def test_resolve_only():
    subjects = np.asarray(["s3", "s1", "s2", "s1", "s10"])
    assert folds.resolve_only("", subjects) is None
    assert folds.resolve_only("first:3", subjects) == ["s1", "s10", "s2"]
    assert folds.resolve_only("first:9", subjects) == ["s1", "s10", "s2", "s3"]
    assert folds.resolve_only("s2,s3", subjects) == ["s2", "s3"]
    with pytest.raises(ValueError, match="first:N"):
        folds.resolve_only("first:x", subjects)


@pytest.mark.parametrize("name", CONFIGS)
def test_runlocal_is_a_small_run_for_every_config(name):
    module = importlib.import_module(f"configs.{name}")
    full, small = module.get_config(), module.get_config("runlocal")
    assert small.folds.only == "first:3"
    assert small.train.epochs == 4
    assert small.data.image_size == min(112, full.data.image_size)
    # Everything else as the full config: the smoke run checks the real recipe.
    for section in ("model", "augment"):
        assert small[section].to_dict() == full[section].to_dict()
    # It resolves to the trainer's settings (the data decides the rest).
    trainer.train_settings(small, 3)
    trainer.model_config(small, 5, small.data.image_size)
