"""The run report: honest figures first, the optimistic one labelled, the paper's, PNGs."""

import json
import pathlib
import re

import numpy as np
import pytest
from etils import epath

from mmnet_jax import metrics, report

LABEL = "optimistic (best test epoch, as the official code)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASS_POOL = ["happiness", "repression", "disgust", "surprise", "others", "fear", "sadness"]


def fabricate(
    dataset="casme2/5class_32px/1.0.0",
    num_classes=5,
    num_folds=6,
    epochs=4,
    eval_epoch=None,
    sources=None,
    seed=0,
):
    """(results, resolved config, run info, metrics.jsonl lines) shaped like the trainer's."""
    rng = np.random.default_rng(seed)
    names = CLASS_POOL[:num_classes]
    eval_epoch = eval_epoch or epochs
    subjects = [f"sub{i + 1:02d}" for i in range(num_folds)]
    clips = {s: int(rng.integers(1, 9)) for s in subjects}
    labels = {s: rng.integers(0, num_classes, clips[s]) for s in subjects}
    preds = {  # preds[s][epoch - 1]: right about half the time
        s: [
            np.where(rng.random(clips[s]) < 0.5, labels[s], rng.integers(0, num_classes, clips[s]))
            for _ in range(epochs)
        ]
        for s in subjects
    }
    src_of = {
        s: (sources[i % len(sources)] if sources else "casme2") for i, s in enumerate(subjects)
    }

    def pooled(epoch_of):
        y = np.concatenate([labels[s] for s in subjects])
        p = np.concatenate([preds[s][epoch_of[s] - 1] for s in subjects])
        src = np.concatenate([[src_of[s]] * clips[s] for s in subjects])
        return y, p, src

    y, p, src = pooled({s: eval_epoch for s in subjects})
    res = metrics.compute(y, p, num_classes, names)
    per_fold = {}
    for s in subjects:
        m = metrics.compute(labels[s], preds[s][eval_epoch - 1], num_classes, names)
        per_fold[s] = {k: m[k] for k in ("accuracy", "uf1", "uar", "num_samples")}
    per_source = {}
    if len(set(src.tolist())) > 1:
        for name in sorted(set(src.tolist())):
            sel = src == name
            m = metrics.compute(y[sel], p[sel], num_classes, names)
            per_source[name] = {k: m[k] for k in ("accuracy", "uf1", "uar", "num_samples")}
    best = {s: int(np.argmax([(pe == labels[s]).mean() for pe in preds[s]])) + 1 for s in subjects}
    yo, po, _ = pooled(best)
    opt = metrics.compute(yo, po, num_classes, names)
    curves = {"epoch": list(range(1, epochs + 1)), "accuracy": [], "uf1": [], "uar": []}
    for e in range(1, epochs + 1):
        m = metrics.compute(*pooled({s: e for s in subjects})[:2], num_classes, names)
        for k in ("accuracy", "uf1", "uar"):
            curves[k].append(m[k])
    curves["train_loss"] = [float(1.6 * 0.9**e) for e in range(epochs)]
    all_labels = np.concatenate([labels[s] for s in subjects])
    counts = {n: int((all_labels == i).sum()) for i, n in enumerate(names)}
    results = {
        "protocol": (
            f"leave-one-subject-out over {num_folds} subjects; metrics over the pooled test "
            f"predictions of all folds at epoch {eval_epoch} of {epochs} (pre-declared by "
            "eval.epoch; no selection on test data)"
        ),
        "accuracy": res["accuracy"],
        "uf1": res["uf1"],
        "uar": res["uar"],
        "eval_epoch": eval_epoch,
        "epochs": epochs,
        "num_samples": res["num_samples"],
        "per_class": res["per_class"],
        "confusion": res["confusion"],
        "per_fold": per_fold,
        "per_source": per_source,
        "optimistic": {
            "label": LABEL,
            "accuracy": opt["accuracy"],
            "uf1": opt["uf1"],
            "uar": opt["uar"],
            "best_epoch_per_subject": best,
        },
        "curves": curves,
        "dataset": dataset,
        "class_names": names,
        "class_counts": counts,
        "num_subjects": num_folds,
        "seed": 0,
    }
    augment = {"crop_padding": 15, "flip": True, "rotation_deg": 3.0, "temporal_jitter": True}
    train = {
        "b1": 0.9,
        "b2": 0.999,
        "batch_size": 32,
        "epochs": epochs,
        "eps": 1e-08,
        "learning_rate": 0.0008,
        "lr_decay": 0.987,
        "lr_decay_epochs": 50,
        "weight_decay": 0.6,
    }
    resolved = {
        "data": {
            "class_counts": counts,
            "class_names": names,
            "dataset": dataset,
            "num_clips": int(sum(clips.values())),
            "subjects": subjects,
        },
        "eval_epoch": eval_epoch,
        "model_config": {
            "conv_impl": "xla",
            "drop_path_rate": 0.0,
            "dtype": "float32",
            "image_size": 224,
            "num_classes": num_classes,
            "pc_depth": 2,
            "pc_mlp_ratio": 4.0,
            "pc_num_heads": 4,
            "pc_resize_antialias": False,
        },
        "run_config": {
            "augment": augment,
            "data": {"name": dataset.split("/")[0], "image_size": 224},
            "eval": {"chunk": 16, "epoch": -1 if eval_epoch == epochs else eval_epoch},
            "folds": {"group_size": 0, "loop": "auto", "only": ""},
            "model": {"pc_depth": 2, "pc_mlp_ratio": 4.0, "drop_path_rate": 0.0},
            "seed": 0,
            "train": train,
        },
        "train_settings": {**train, "augment": augment, "steps_per_epoch": 7},
    }
    info = {
        "seconds": 3723.5,
        "compile_seconds": [41.25, 12.5],
        "backend": "gpu",
        "devices": ["cuda:0"],
        "process_count": 1,
        "jax_version": "0.10.2",
        "fold_groups": [list(range(num_folds))],
        "fold_loop": "vmap",
        "conv_impl": "xla",
    }
    lines = []
    for s in subjects:
        for e in range(epochs):
            acc = float((preds[s][e] == labels[s]).mean())
            lines.append(
                {
                    "fold": s,
                    "epoch": e + 1,
                    "train_loss": 1.5 * 0.95**e,
                    "grad_norm": 3.0,
                    "test_accuracy": acc,
                    "test_n": clips[s],
                }
            )
    lines.append({"fold": "__all__", "epoch": 1, "train_loss": 1.4, "grad_norm": 2.0})
    # As the trainer writes them: through JSON with sorted keys.
    results = json.loads(json.dumps(results, sort_keys=True))
    resolved = json.loads(json.dumps(resolved, sort_keys=True))
    return results, resolved, info, lines


def write(tmp_path, *, metrics_jsonl=True, **kw):
    results, resolved, info, lines = fabricate(**kw)
    wd = tmp_path / "run"
    wd.mkdir()
    if metrics_jsonl:
        (wd / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    path = report.write_report(epath.Path(wd), results, resolved, info)
    return pathlib.Path(path), results


def check_png(path: pathlib.Path):
    assert path.exists(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000


def test_casme2_five_classes(tmp_path):
    path, results = write(tmp_path, eval_epoch=3, epochs=5)
    assert path == tmp_path / "run" / "report.md"
    text = path.read_text()
    assert text.startswith("# MMNet LOSO report: CASME II, 5 classes")
    acc, uf1, uar = (
        f"{100 * results['accuracy']:.2f}%",
        f"{results['uf1']:.4f}",
        f"{results['uar']:.4f}",
    )
    for figure in (acc, uf1, uar):
        assert figure in text
    assert "epoch **3** of 5" in text
    assert "no test-set selection" in text
    assert "`eval.epoch=3`" in text
    # The honest figures come before the optimistic label; the label is exact.
    assert text.index(uf1) < text.index(LABEL)
    opt = results["optimistic"]
    assert f"| {LABEL} | {100 * opt['accuracy']:.2f}% | {opt['uf1']:.4f} |" in text
    assert "optimistic:" in text and "test set" in text
    # The paper's figure, said to use best-epoch selection.
    assert "88.35%" in text and "0.8676" in text
    assert "best-epoch selection" in text
    # Per class in the class order of the data (not the JSON's sorted order).
    rows = [line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ")]
    names = results["class_names"]
    first = rows.index(names[0])
    assert rows[first : first + len(names)] == names
    for s, m in results["per_fold"].items():
        assert f"| {s} | {m['num_samples']} | {100 * m['accuracy']:.2f}% |" in text
    assert "Per source" not in text
    # Config, timings and devices.
    for piece in (
        "| batch size | 32 |",
        "| weight decay | 0.6 |",
        "| image size | 224 px |",
        "official 5-class variant",
        "temporal jitter on",
        "| seed | 0 |",
        "1 h 02 min 04 s",
        "53.8 s over 2 fold groups",
        "cuda:0",
        "| backend | gpu |",
    ):
        assert piece in text, piece
    for name in ("confusion_matrix.png", "learning_curves.png", "per_fold_curves.png"):
        assert f"]({name})" in text
        check_png(tmp_path / "run" / name)


@pytest.mark.parametrize(
    "dataset,classes,folds,sources",
    [
        ("synthetic_me/default/1.0.0", 2, 3, None),
        ("megc2019/3class_224px/1.0.0", 3, 12, ["smic", "casme2", "samm"]),
        ("casme3/7class/1.0.0", 7, 94, None),
    ],
)
def test_other_tasks_no_paper_line(tmp_path, dataset, classes, folds, sources):
    path, results = write(
        tmp_path,
        dataset=dataset,
        num_classes=classes,
        num_folds=folds,
        sources=sources,
        metrics_jsonl=folds > 3,
    )
    text = path.read_text()
    assert f"{classes} classes" in text.splitlines()[0]
    assert f"{results['uf1']:.4f}" in text and LABEL in text
    assert "Paper (MMNet" not in text
    for number in ("88.35", "95.51", "90.22", "87.45", "0.8676", "0.9494", "0.8391", "0.8635"):
        assert number not in text
    assert "No published MMNet figure" in text
    assert len(results["per_fold"]) == folds
    assert sum(re.match(r"\| sub\d", line) is not None for line in text.splitlines()) == folds
    if sources:
        assert "Per source dataset" in text
        for src, m in results["per_source"].items():
            assert f"| {src} | {m['num_samples']} | {100 * m['accuracy']:.2f}% |" in text
    else:
        assert "Per source" not in text
    check_png(path.parent / "confusion_matrix.png")
    check_png(path.parent / "learning_curves.png")
    assert (path.parent / "per_fold_curves.png").exists() == (folds > 3)
    assert ("per_fold_curves.png" in text) == (folds > 3)


@pytest.mark.parametrize(
    "dataset,classes,expected",
    [
        ("casme2/5class_224px/1.0.0", 5, (88.35, 0.8676)),
        ("casme2/3class/1.0.0", 3, (95.51, 0.9494)),
        ("samm/3class/1.0.0", 3, (90.22, 0.8391)),
        ("mmew/4class/1.0.0", 4, (87.45, 0.8635)),
        ("casme2/7class/1.0.0", 7, None),
        ("samm/5class/1.0.0", 5, None),
        ("synthetic_me/default/1.0.0", 5, None),
    ],
)
def test_paper_lookup(dataset, classes, expected):
    got = report.paper_result(dataset, classes)
    assert (got[1:] if got else None) == expected


def test_cli_rewrites_report(tmp_path):
    results, resolved, info, _ = fabricate(num_classes=4, dataset="mmew/4class/1.0.0")
    wd = tmp_path / "run"
    wd.mkdir()
    for name, d in (("results.json", results), ("config.json", resolved), ("run_info.json", info)):
        (wd / name).write_text(json.dumps(d))
    assert report.main([str(wd)]) == 0
    text = (wd / "report.md").read_text()
    assert "MMEW, 4 classes" in text and "87.45%" in text
    assert not (wd / "per_fold_curves.png").exists()
    assert report.main([str(tmp_path / "missing")]) == 2
