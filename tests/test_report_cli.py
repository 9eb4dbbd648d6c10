"""The report's command line, a remote (gs://) workdir, and the report's run facts:
chance UF1, the synthetic-data notice, the all-subjects model, command / commit / date."""

import json
import os

import numpy as np
import pytest
from etils import epath

from mmnet_jax.evaluation import metrics
from mmnet_jax.reporting import figures, markdown, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = ["negative", "positive", "surprise"]
# 10 clips of 3 subjects: 6 / 3 / 1 per class.
LABELS = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
PREDS = np.array([0, 0, 1, 0, 2, 0, 1, 0, 1, 2])
SUBJECTS = ["s1", "s1", "s1", "s2", "s2", "s2", "s3", "s3", "s3", "s3"]


def run_files(dataset="casme2/3class/1.0.0", final_model=False, info=None):
    """(results, config, run_info) of a 2-epoch, 3-subject run, metrics by the real module."""
    m = metrics.compute(LABELS, PREDS, len(NAMES), NAMES)
    subjects = sorted(set(SUBJECTS))
    per_fold = {}
    for s in subjects:
        sel = np.array(SUBJECTS) == s
        f = metrics.compute(LABELS[sel], PREDS[sel], len(NAMES), NAMES)
        per_fold[s] = {k: f[k] for k in ("accuracy", "uf1", "uar", "num_samples")}
    counts = {n: int((LABELS == i).sum()) for i, n in enumerate(NAMES)}
    results = {
        **{k: m[k] for k in ("accuracy", "uf1", "uar", "num_samples", "per_class", "confusion")},
        "eval_epoch": 2,
        "epochs": 2,
        "per_fold": per_fold,
        "curves": {
            "epoch": [1, 2],
            "accuracy": [0.5, m["accuracy"]],
            "uf1": [0.4, m["uf1"]],
            "uar": [0.4, m["uar"]],
            "train_loss": [1.1, 0.9],
        },
        "dataset": dataset,
        "class_names": NAMES,
        "class_counts": counts,
        "num_subjects": len(subjects),
        "seed": 0,
    }
    config = {
        "data": {"subjects": subjects, "num_clips": len(LABELS), "class_names": NAMES},
        "run_config": {"final_model": final_model, "seed": 0, "train": {"epochs": 2}},
        "model_config": {"image_size": 32},
    }
    return results, config, dict(info or {"seconds": 12.0, "backend": "cpu"})


def write_run(wd: epath.Path, **kw) -> tuple[dict, dict, dict]:
    wd.mkdir(parents=True, exist_ok=True)
    files = run_files(**kw)
    for name, d in zip(("results.json", "config.json", "run_info.json"), files, strict=True):
        (wd / name).write_text(json.dumps(d))
    return files


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_chance_levels_by_hand():
    # Always "negative": accuracy 6/10; recall 1, 0, 0 -> UAR 1/3; F1 of negative
    # 2 * 0.6 * 1 / 1.6 = 0.75, others 0 -> UF1 0.25.
    biggest, chance = markdown.chance_levels({"negative": 6, "positive": 3, "surprise": 1}, NAMES)
    assert biggest == "negative"
    assert chance["accuracy"] == pytest.approx(0.6)
    assert chance["uar"] == pytest.approx(1 / 3)
    assert chance["uf1"] == pytest.approx(0.25)


@pytest.mark.parametrize("dataset", ["synthetic_me/default/1.0.0", "casme2/3class/1.0.0"])
def test_report_run_facts(tmp_path, dataset):
    info = {
        "seconds": 12.0,
        "command": "python train.py --config configs/synthetic.py:runlocal --workdir /tmp/r",
        "commit": "0123abcd",
        "date": "2026-12-01T15:00:00+00:00",
    }
    wd = epath.Path(tmp_path / "run")
    results, config, info = write_run(wd, dataset=dataset, info=info)
    text = report.write_report(wd, results, config, info).read_text()
    assert "accuracy 60.00%, UF1 0.2500 and UAR 0.3333" in text
    assert (markdown.SYNTHETIC_NOTICE in text) == dataset.startswith("synthetic_me")
    for row in (
        f"| command | `{info['command']}` |",
        "| commit | `0123abcd` |",
        "| date | 2026-12-01T15:00:00+00:00 |",
    ):
        assert row in text
    assert "All-subjects model" not in text  # final_model is off and there is none


def test_report_without_command_commit_date(tmp_path):
    wd = epath.Path(tmp_path / "run")
    results, config, info = write_run(wd)
    text = report.write_report(wd, results, config, info).read_text()
    for name in ("command", "commit", "date"):
        assert f"| {name} |" not in text
    assert "| run time | 12.0 s |" in text


def test_report_lists_the_all_subjects_model(tmp_path):
    wd = epath.Path(tmp_path / "run")
    results, config, info = write_run(wd, final_model=True)
    text = report.write_report(wd, results, config, info).read_text()
    where = f"`{wd / 'final_model'}`"
    assert "## All-subjects model" in text
    assert "all 3 subjects, 10 clips of `casme2/3class/1.0.0`, 2 epochs" in text
    assert f"Saved in {where} (asked for by `final_model=True`, but not there" in text
    (wd / "final_model").mkdir()
    (wd / "final_model" / "model.json").write_text(
        json.dumps({"source": "trained on all 3 subjects of casme2", "epochs": 2})
    )
    config["run_config"]["final_model"] = False  # listed because it is there
    text = report.write_report(wd, results, config, info).read_text()
    assert f"Saved in {where}. Its model.json says: trained on all 3 subjects of casme2." in text


@pytest.fixture
def fake_gcs(monkeypatch, tmp_path):
    """``gs://`` served from memory through etils' own fsspec backend (no network).

    etils.epath sends gs:// paths to its fsspec backend (TensorFlow's when TF is
    installed); fsspec's in-memory filesystem is registered as the "gs"/"gcs" protocol.
    """
    fsspec = pytest.importorskip("fsspec")
    from etils.epath import backend, gpath
    from fsspec.implementations.memory import MemoryFileSystem

    if gpath._is_tf_installed():
        pytest.skip("etils uses TensorFlow's gfile for gs:// when TF is installed")

    class FakeGCS(MemoryFileSystem):
        protocol = ("gs", "gcs")
        store: dict = {}
        pseudo_dirs = [""]

        def __init__(self, *args, finalize_on_close=None, **kwargs):
            super().__init__(*args, **kwargs)

        @classmethod
        def _strip_protocol(cls, path):
            path = str(path)
            for prefix in ("gs://", "gcs://"):
                path = path.removeprefix(prefix)
            return "/" + path.lstrip("/")

    for name in ("gs", "gcs"):
        fsspec.register_implementation(name, FakeGCS, clobber=True)
    backend.fsspec_backend._get_filesystem.cache_clear()
    monkeypatch.chdir(tmp_path)  # a local "gs:" folder would appear here
    yield FakeGCS.store
    backend.fsspec_backend._get_filesystem.cache_clear()
    assert not os.path.exists(tmp_path / "gs:"), "wrote to a local gs: folder"


def test_remote_workdir(fake_gcs, capsys):
    """Bug 6a: a gs:// workdir gets the report and PNGs in the bucket, not in ./gs:/."""
    wd = epath.Path("gs://bucket/runs/r1")
    results, config, info = write_run(wd)
    path = report.write_report(wd, results, config, info)
    assert os.fspath(path) == "gs://bucket/runs/r1/report.md"
    assert "/bucket/runs/r1/report.md" in fake_gcs
    for png in (figures.CONFUSION_PNG, figures.CURVES_PNG):
        assert (wd / png).read_bytes()[:8] == PNG_MAGIC
    (wd / "report.md").unlink()
    assert report.main(["--workdir", "gs://bucket/runs/r1"]) == 0
    assert capsys.readouterr().out.strip() == "gs://bucket/runs/r1/report.md"
    assert "## Results at the pre-declared epoch" in (wd / "report.md").read_text()
    assert report.main(["--workdir", "gs://bucket/runs/none"]) == 2
    assert one_error_line(capsys) == "error: workdir gs://bucket/runs/none is not a folder"


def test_cli(tmp_path, capsys):
    assert report.main(["--help"]) == 0
    assert "mmnet report --workdir WORKDIR" in capsys.readouterr().out
    wd = tmp_path / "run"
    write_run(epath.Path(wd))
    for argv in (["--workdir", str(wd)], [str(wd)], [f"--workdir={wd}"]):
        (wd / "report.md").unlink(missing_ok=True)
        assert report.main(argv) == 0, argv
        assert capsys.readouterr().out.strip() == str(wd / "report.md")
        assert (wd / "report.md").read_text().startswith("# MMNet LOSO report")
    missing = tmp_path / "missing"
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    for argv, line in (
        ([str(missing)], f"error: workdir {missing} is not a folder"),
        (["--workdir", str(tmp_path / "afile")], f"error: workdir {tmp_path / 'afile'} is not"),
        ([str(tmp_path / "empty")], f"error: {tmp_path / 'empty' / 'results.json'} is missing"),
        ([str(tmp_path / "broken")], f"error: {tmp_path / 'broken' / 'results.json'} cannot be"),
        ([], "error: give the run's workdir"),
        ([str(wd), "extra"], "error: unexpected arguments: extra"),
    ):
        assert report.main(argv) == 2, argv
        assert one_error_line(capsys).startswith(line), argv
