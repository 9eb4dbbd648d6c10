"""The run report: honest figures first, the optimistic one labelled, the paper's, PNGs."""

import dataclasses
import json
import pathlib
import re

import numpy as np
import pytest
from etils import epath

from configs import default
from mmnet_jax.data import records as data_lib
from mmnet_jax.evaluation import results
from mmnet_jax.evaluation.clips import ClipTable
from mmnet_jax.reporting import figures, published, report
from mmnet_jax.training import folds, trainer
from mmnet_jax.training.settings import RunSettings

LABEL = "optimistic (best test epoch, as the official code)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASS_POOL = ["happiness", "repression", "disgust", "surprise", "others", "fear", "sadness"]


def finished_run(
    dataset="casme2/5class_32px/1.0.0",
    num_classes=5,
    num_folds=6,
    epochs=4,
    eval_epoch=None,
    sources=None,
    seed=0,
):
    """(results, resolved config, run info, metrics.jsonl lines) of a made-up finished run,
    computed by the trainer's own code (``evaluation.results``, ``trainer.resolved_config``)
    from random labels and predictions that are right about half the time."""
    rng = np.random.default_rng(seed)
    names = CLASS_POOL[:num_classes]
    subjects = [f"sub{i + 1:02d}" for i in range(num_folds)]
    clips = rng.integers(1, 9, num_folds)
    subject_of = np.repeat(subjects, clips)
    n = len(subject_of)
    src_of = {
        s: (sources[i % len(sources)] if sources else "casme2") for i, s in enumerate(subjects)
    }
    data = data_lib.ClipArrays(
        onset_frames=np.zeros((n, 1, 2, 2, 3), np.uint8),  # the report never reads frames
        apex_frames=np.zeros((n, 1, 2, 2, 3), np.uint8),
        jitter=np.zeros(n, np.int32),
        labels=rng.integers(0, num_classes, n).astype(np.int32),
        subjects=subject_of,
        ids=np.asarray([f"{s}/clip{i}" for i, s in enumerate(subject_of)]),
        sources=np.asarray([src_of[s] for s in subject_of]),
        class_names=names,
        dataset=dataset,
    )
    plan = folds.make_plan(data.subjects)
    config = default.get_config()
    config.train.epochs = epochs
    config.eval.epoch = eval_epoch or -1
    eval_epoch = eval_epoch or epochs
    progress = results.Progress(groups=[list(range(num_folds))], epochs=epochs)
    for e in range(epochs):
        for f, s in enumerate(plan.subjects):
            y = data.labels[plan.test_mask[f]]
            guess = rng.integers(0, num_classes, len(y))
            preds = np.where(rng.random(len(y)) < 0.5, y, guess)
            progress.record(s, e, 1.5 * 0.95**e, 3.0, test_preds=preds)
        progress.record(results.ALL_SUBJECTS_NAME, e, 1.4 * 0.95**e, 2.0)
    summary = results.summarize(
        progress,
        plan,
        dataclasses.replace(ClipTable.of(data), class_names=tuple(names), dataset=dataset),
        eval_epoch=eval_epoch,
        epochs=epochs,
        seed=0,
        replicas=folds.Replicas.one_seed(plan, 0),
    )
    run_settings = RunSettings.from_config(config)
    model_cfg = run_settings.model_config(num_classes, 224)
    settings = run_settings.train_settings(plan.steps_per_epoch(32))
    resolved = trainer.resolved_config(run_settings, model_cfg, settings, data, plan)
    info = {  # run_info.json of a GPU run (timings and devices are not results)
        "seconds": 3723.5,
        "compile_seconds": [41.25, 12.5],
        "backend": "gpu",
        "devices": ["cuda:0"],
        "process_count": 1,
        "jax_version": "0.10.2",
        "fold_groups": [list(range(num_folds))],
        "fold_loop": "vmap",
        "conv_impl": "xla",
        "command": "train.py --config configs/casme2.py --workdir runs/x",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "date": "2026-12-01T12:00:00+00:00",
    }
    lines = results.metrics_lines(progress, plan, data.labels)
    # As the trainer writes them: through JSON with sorted keys.
    summary = json.loads(json.dumps(summary, sort_keys=True))
    resolved = json.loads(json.dumps(resolved, sort_keys=True))
    return summary, resolved, info, lines


def write(tmp_path, *, metrics_jsonl=True, **kw):
    results_, resolved, info, lines = finished_run(**kw)
    wd = tmp_path / "run"
    wd.mkdir()
    if metrics_jsonl:
        (wd / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    path = report.write_report(epath.Path(wd), results_, resolved, info)
    return pathlib.Path(path), results_


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
        "temporal jitter on (5class ranges)",
        "(each model ceil(its training clips / batch) steps per epoch; the LOSO folds at most",
        "| seed | 0 |",
        "1 h 02 min 04 s",
        "53.8 s over 2 compiled epoch programs",
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
    got = published.paper_result(dataset, classes)
    assert (got[1:] if got else None) == expected


def test_cli_rewrites_report(tmp_path):
    results_, resolved, info, _ = finished_run(num_classes=4, dataset="mmew/4class/1.0.0")
    wd = tmp_path / "run"
    wd.mkdir()
    for name, d in (("results.json", results_), ("config.json", resolved), ("run_info.json", info)):
        (wd / name).write_text(json.dumps(d))
    assert report.main([str(wd)]) == 0
    text = (wd / "report.md").read_text()
    assert "MMEW, 4 classes" in text and "87.45%" in text
    assert not (wd / "per_fold_curves.png").exists()
    assert report.main([str(tmp_path / "missing")]) == 2


def test_composite_side_by_side_published_and_inflation(tmp_path):
    """A MEGC 2019 composite run: UF1 and UAR overall and per source, honest beside
    optimistic; the published composite figures with their selection named; one line
    saying how much the optimistic rule inflates this run."""
    path, results_ = write(
        tmp_path,
        dataset="megc2019/3class/2.0.0",
        num_classes=3,
        num_folds=9,
        sources=["smic", "casme2", "samm"],
    )
    text = path.read_text()
    opt = results_["optimistic"]
    d_uf1 = opt["uf1"] - results_["uf1"]
    d_uar = opt["uar"] - results_["uar"]
    assert f"(optimistic minus honest): UF1 {d_uf1:+.4f}, UAR {d_uar:+.4f}." in text
    row = (
        f"| all (composite) | {results_['num_samples']} | {results_['uf1']:.4f} | "
        f"{opt['uf1']:.4f} | {results_['uar']:.4f} | {opt['uar']:.4f} |"
    )
    assert row in text
    for src, title in (("casme2", "CASME II"), ("samm", "SAMM"), ("smic", "SMIC-HS")):
        m, o = results_["per_source"][src], opt["per_source"][src]
        assert (
            f"| {title} | {m['num_samples']} | {m['uf1']:.4f} | {o['uf1']:.4f} | "
            f"{m['uar']:.4f} | {o['uar']:.4f} |"
        ) in text
    assert "| HTNet (Neurocomputing 2024, arXiv:2307.14637) | 0.8603 | 0.8475 |" in text
    assert "MMNet (IJCAI 2022) published no composite figure" in text
    assert "best test-accuracy epoch" in text


def test_no_composite_lines_for_a_single_dataset(tmp_path):
    path, results_ = write(tmp_path)
    text = path.read_text()
    assert "optimistic minus honest" in text  # every run says how far it inflates
    assert "all (composite)" not in text and "HTNet" not in text


def test_seeds_validation_and_interval(tmp_path):
    """A two-seed run with epochs chosen on validation subjects: the headline gives mean
    ± SD over the seeds and the interval, the rule is named, every seed has a row, the
    spread plot is written, and per fold the chosen epoch is shown."""
    from tests.test_selection import _run, _summary  # noqa: PLC0415

    reps, labels, subjects, progress = _run(num_seeds=2, validation=1)
    summary = json.loads(json.dumps(_summary(reps, labels, subjects, progress)))
    wd = tmp_path / "seeds"
    text = report.write_report(epath.Path(wd), summary, {}, {}).read_text()
    std = summary["std"]
    assert (
        f"mean ± standard deviation over 2 seeds): accuracy **{100 * summary['accuracy']:.2f}% "
        f"± {100 * std['accuracy']:.2f}%**, UF1 **{summary['uf1']:.4f} ± {std['uf1']:.4f}**"
    ) in text
    lo, hi = summary["ci95"]["uf1"]
    assert f"95% interval over test subjects (bootstrap): UF1 [{lo:.4f}, {hi:.4f}]" in text
    assert "`eval.select=validation`" in text and "(ties to the later epoch)" in text
    for seed, m in summary["per_seed"].items():
        assert f"| {seed} | {100 * m['accuracy']:.2f}% | {m['uf1']:.4f} |" in text
    check_png(pathlib.Path(wd) / figures.SEEDS_PNG)
    assert f"![Seeds' spread]({figures.SEEDS_PNG})" in text
    chosen = summary["selected_epoch_per_subject"]
    assert "| subject | n | accuracy | UF1 | UAR | epoch |" in text
    for s, e in chosen.items():
        assert re.search(rf"\| {s} \| \d+ \| [\d.]+% \| [\d.]+ \| [\d.]+ \| {e} \|", text), s


def test_one_seed_report_has_the_interval_and_no_spread_plot(tmp_path):
    path, results_ = write(tmp_path)
    text = path.read_text()
    lo, hi = results_["ci95"]["uar"]
    assert f"UAR [{lo:.4f}, {hi:.4f}]" in text and "Seeds and uncertainty" in text
    assert "over 1 seeds" not in text and "mean ± standard deviation" not in text
    assert not (path.parent / figures.SEEDS_PNG).exists()
