"""The results module (progress, summaries, CSV), configs to settings, runlocal."""

import importlib
import json
from fractions import Fraction

import ml_collections
import numpy as np
import pytest

from configs import default
from mmnet_jax.data import augment
from mmnet_jax.evaluation import metrics, results
from mmnet_jax.evaluation.clips import ClipTable
from mmnet_jax.models import MMNetConfig
from mmnet_jax.reporting import recompute as recompute_from_npz
from mmnet_jax.training import folds, settings
from mmnet_jax.training.fold_trainer import TrainSettings
from mmnet_jax.training.settings import RunConfigError, RunSettings

CONFIGS = ["default", "casme2", "casme3", "megc2019", "mmew", "samm", "synthetic"]


def _table(labels, sources=None, ids=None, names=("k0", "k1", "k2"), dataset="d"):
    n = len(labels)
    return ClipTable(
        ids=np.asarray([f"clip{i}" for i in range(n)]) if ids is None else ids,
        subjects=np.asarray(["?"] * n),
        sources=np.asarray(["x"] * n) if sources is None else sources,
        labels=np.asarray(labels),
        class_names=names,
        dataset=dataset,
    )


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
        progress, plan, _table(labels, sources),
        eval_epoch=2, epochs=3, seed=0, replicas=folds.Replicas.one_seed(plan, 0),
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
            progress, plan, _table(labels, sources),
            eval_epoch=2, epochs=3, seed=0, replicas=folds.Replicas.one_seed(plan, 0),
        )  # fmt: skip


def test_predictions_csv_round_trips_awkward_ids():
    """An id holding a comma, a quote or a newline survives the CSV (item 6d)."""
    plan, labels, progress = _plan_and_progress()
    ids = np.asarray([f"clip {i}" for i in range(len(labels))], dtype=object)
    ids[0], ids[3], ids[5] = "sub01,EP02_01f", 'he said "x"', "two\nlines"
    sources = np.asarray(["casme2, part A"] * len(labels))
    rows = results.prediction_rows(
        progress, plan, _table(labels, sources, ids, names=("k0", "k,1", "k2")), 3
    )
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
    s = RunSettings.from_config(config).train_settings(7)
    assert s == TrainSettings(
        epochs=74, batch_size=32, steps_per_epoch=7, learning_rate=8e-4, weight_decay=0.6,
        lr_decay=0.987, lr_decay_epochs=50, b1=0.9, b2=0.999, eps=1e-8, eval_chunk=16,
        augment=augment.AugmentConfig(), fold_loop=s.fold_loop,
    )  # fmt: skip
    m = RunSettings.from_config(config).model_config(3, 112)
    assert (m.num_classes, m.image_size, m.pc_depth, m.pc_mlp_ratio) == (3, 112, 2, 4.0)
    assert m.stem_width == MMNetConfig().stem_width  # not in the config: its default
    bad = ml_collections.ConfigDict({"flip": True, "rotation_dg": 3.0})
    with pytest.raises(RunConfigError, match=r"augment.rotation_dg is not a field of Augm"):
        settings.from_config(augment.AugmentConfig, bad, "config.augment")
    with pytest.raises(RunConfigError, match=r"config.train.epochs is missing"):
        settings.from_config(TrainSettings, ml_collections.ConfigDict({}), "config.train")
    typed = settings.from_config(
        augment.AugmentConfig, {"rotation_deg": 4, "crop_padding": "3", "flip": "false"}, "x"
    )
    assert typed == augment.AugmentConfig(rotation_deg=4.0, crop_padding=3, flip=False)
    assert isinstance(typed.rotation_deg, float)


def test_bad_values_are_named_where_they_are_defined():
    """A value is blamed on its own field (not on one checked against it), before any
    data is read."""
    for key, value, message in (
        ("train", ("epochs", -1), "config.train.epochs=-1: want 1 or more"),
        ("folds", ("group_size", -2), "config.folds.group_size=-2: want 0"),
    ):
        config = default.get_config()
        config[key][value[0]] = value[1]
        with pytest.raises(RunConfigError, match=message):
            RunSettings.from_config(config)
    config = default.get_config()
    config.train.batch_size = 0
    with pytest.raises(RunConfigError, match=r"config.train: batch_size=0: want 1"):
        RunSettings.from_config(config)
    config.train.batch_size, config.folds.loop = 32, "pmap"
    with pytest.raises(RunConfigError, match=r"fold_loop must be one of \('vmap', 'map'\)"):
        RunSettings.from_config(config)


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
    RunSettings.from_config(small).model_config(5, small.data.image_size)


# --- the official selection rule, worked by hand ----------------------------------------
# Two subjects, three classes, three epochs.
#   A: labels [0, 1, 2]
#     epoch 1 predicts [0, 0, 0]: 1 correct. F1: class 0 2*1/(3+1) = 1/2, classes 1 and 2
#       0 -> (1/2 + 0 + 0) / 3 = 1/6.
#     epoch 2 predicts [0, 1, 1]: 2 correct. class 0 2/2 = 1, class 1 2*1/(2+1) = 2/3,
#       class 2 0/(0+1) = 0 -> 5/9.
#     epoch 3 predicts [0, 2, 2]: 2 correct. class 0 1, class 1 0, class 2 2/3 -> 5/9.
#     Most correct: 2, first reached at epoch 2. Best F1: 5/9 at epochs 2 and 3; the
#     later wins (>=): epoch 3, counts TP [1, 0, 1], predicted [1, 0, 2], actual [1, 1, 1].
#   B: labels [0, 0, 1]
#     epoch 1 predicts [0, 0, 0]: 2 correct. class 0 2*2/(3+2) = 4/5, class 1 0 -> 2/5.
#     epoch 2 predicts [0, 1, 1]: 2 correct. class 0 2/(1+2) = 2/3, class 1 2/(2+1) = 2/3
#       -> 2/3.
#     epoch 3 predicts [1, 1, 1]: 1 correct. class 0 0, class 1 2/(3+1) = 1/2 -> 1/4.
#     Most correct: 2, first at epoch 1. Best F1: epoch 2, counts TP [1, 1, 0],
#     predicted [1, 2, 0], actual [2, 1, 0].
# Optimistic accuracy = (2 + 2) / 6 = 2/3.
# Pooled counts: TP [2, 1, 1], predicted [2, 2, 2], actual [3, 2, 1].
# UF1 = (2*2/(2+3) + 2*1/(2+2) + 2*1/(2+1)) / 3 = (4/5 + 1/2 + 2/3) / 3 = 59/90.
# UAR = (2/3 + 1/2 + 1/1) / 3 = 13/18.
# (Ties to the earlier epoch would give A epoch 2 and UF1 (4/5 + 2/3 + 0) / 3 = 22/45;
# the old rule, every figure at each subject's best-accuracy epoch, UF1 (6/7 + 1/2) / 3.)
HAND_SUBJECTS = np.asarray(["A", "A", "A", "B", "B", "B"])
HAND_LABELS = np.asarray([0, 1, 2, 0, 0, 1])
HAND_PREDS = {"A": [[0, 0, 0], [0, 1, 1], [0, 2, 2]], "B": [[0, 0, 0], [0, 1, 1], [1, 1, 1]]}


def _hand_run(sources=None):
    plan = folds.make_plan(HAND_SUBJECTS)
    progress = results.Progress(groups=[[0, 1]], epochs=3)
    for e in range(3):
        for s in plan.subjects:
            probs = np.eye(3, dtype=np.float32)[HAND_PREDS[s][e]] * 0.7 + 0.1
            progress.record(s, e, 1.0, 1.0, test_preds=HAND_PREDS[s][e], test_probs=probs)
    sources = np.asarray(["x"] * 6) if sources is None else sources
    out = results.summarize(
        progress, plan, _table(HAND_LABELS, sources),
        eval_epoch=3, epochs=3, seed=0, replicas=folds.Replicas.one_seed(plan, 0),
    )  # fmt: skip
    return plan, progress, out


def test_results_json_schema_round_trips():
    """summarize's dict is the Results schema: from its JSON and back, key for key; a
    dict with a key the schema does not have (or without one it has) is refused."""
    _, _, out = _hand_run()
    on_disk = json.loads(json.dumps(out))
    back = results.Results.from_json(on_disk)
    assert back.uf1 == out["uf1"] and back.to_json() == on_disk
    with pytest.raises(ValueError, match=r"unknown keys \['extra'\], missing \['uf1'\]"):
        results.Results.from_json({k: v for k, v in on_disk.items() if k != "uf1"} | {"extra": 1})


def test_official_rule_on_a_hand_worked_example():
    assert metrics.subject_f1([0, 1, 2], [0, 1, 1], 3) == Fraction(5, 9)
    assert metrics.subject_f1([0, 0, 1], [1, 1, 1], 3) == Fraction(1, 4)
    assert metrics.official_epochs([0, 1, 2], HAND_PREDS["A"], 3) == (2, 3)
    assert metrics.official_epochs([0, 0, 1], HAND_PREDS["B"], 3) == (1, 2)
    _, _, out = _hand_run()
    opt = out["optimistic"]
    assert opt["label"] == results.OPTIMISTIC_LABEL
    assert opt["accuracy"] == pytest.approx(2 / 3, abs=1e-12)
    assert opt["uf1"] == pytest.approx(59 / 90, abs=1e-12)
    assert opt["uar"] == pytest.approx(13 / 18, abs=1e-12)
    assert opt["best_accuracy_epoch_per_subject"] == {"A": 2, "B": 1}
    assert opt["best_f1_epoch_per_subject"] == {"A": 3, "B": 2}
    assert opt["per_source"] == {}


def test_optimistic_per_source_and_the_independent_script():
    """With A and B from two sources, each source's optimistic figures are its subject's;
    the independent script (mmnet recompute) gets every figure from the npz."""
    sources = np.asarray(["sa"] * 3 + ["sb"] * 3)
    plan, progress, out = _hand_run(sources)
    by_source = out["optimistic"]["per_source"]
    # A alone: 2 of 3 correct; its epoch-3 counts give UF1 (1 + 0 + 2/3) / 3 = 5/9 and
    # UAR (1 + 0 + 1) / 3 = 2/3. B alone: 2 of 3; epoch 2: UF1 2/3, UAR (1/2 + 1) / 2.
    assert by_source["sa"] == pytest.approx(
        {"accuracy": 2 / 3, "uf1": 5 / 9, "uar": 2 / 3, "num_samples": 3}
    )
    assert by_source["sb"] == pytest.approx(
        {"accuracy": 2 / 3, "uf1": 2 / 3, "uar": 3 / 4, "num_samples": 3}
    )
    ids = np.asarray([f"c{i}" for i in range(6)])
    arrays = results.epoch_predictions(progress, plan, _table(HAND_LABELS, sources, ids), 3)
    mine = recompute_from_npz.recompute(arrays, 3)
    assert recompute_from_npz.compare(mine, json.loads(json.dumps(out))) == []
    assert mine["optimistic"]["uf1"] == pytest.approx(59 / 90, abs=1e-12)
    # And it can fail: a changed prediction is caught.
    arrays["prediction"][0, 2, 0] = 2
    bad = recompute_from_npz.compare(recompute_from_npz.recompute(arrays, 3), out)
    assert any(line.startswith("accuracy:") for line in bad), bad


def test_epoch_predictions_layout_and_exact_probabilities(tmp_path):
    plan, progress, _ = _hand_run()
    logits = np.asarray([[0.1, 2.0, -1.0], [3.0, 3.0, 0.5]], np.float32)
    probs = results.probabilities(logits)
    assert probs.dtype == np.float32 and np.allclose(probs.sum(-1), 1, atol=1e-6)
    redo = np.vstack([probs, probs[:1]])
    progress.record("B", 2, 1.0, 1.0, test_preds=[1, 0, 1], test_probs=redo)
    # Through the checkpoint's JSON and back: float32 values unchanged, bit for bit.
    again = results.Progress.from_json(json.loads(json.dumps(progress.to_json())))
    assert again == progress
    ids = np.asarray([f"clip,{i}" for i in range(6)], dtype=object)
    arrays = results.epoch_predictions(again, plan, _table(HAND_LABELS, ids=ids), 3)
    path = tmp_path / "epoch_predictions.npz"
    path.write_bytes(results.npz_bytes(arrays))
    with np.load(path) as z:  # no allow_pickle
        assert sorted(z.files) == ["id", "label", "prediction", "probability", "source", "subject"]
        assert z["id"].dtype.kind == "U" and z["subject"].dtype.kind == "U"
        assert z["prediction"].shape == (1, 3, 6) and z["probability"].shape == (1, 3, 6, 3)
        assert z["probability"].dtype == np.float32
        assert z["subject"].tolist() == ["A"] * 3 + ["B"] * 3
        assert z["label"].tolist() == HAND_LABELS.tolist()
        assert z["prediction"][0, :, 3:].tolist() == [[0, 0, 0], [0, 1, 1], [1, 0, 1]]
        np.testing.assert_array_equal(z["probability"][0, 2, 3:5], probs)
        assert z["id"][1] == "clip,1"
