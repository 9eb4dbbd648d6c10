"""``python train.py``: user mistakes end in one ``error:`` line and exit status 2.

Each case runs the real command in a subprocess; all but the dataset and workdir cases
stop before JAX is imported, and none compiles anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A tiny synthetic set: generated in about a second, never trained here.
TINY = [
    "--config.data.synthetic_subjects=3",
    "--config.data.synthetic_clips=2",
    "--config.progress_bar=False",
]


def train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, MMNET_JAX_HUGEPAGES="0")
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(proc: subprocess.CompletedProcess, status: int = 2) -> str:
    """The command's single ``error:`` line, after checking the status and that nothing
    else (no traceback) was printed around it."""
    assert proc.returncode == status, (proc.returncode, proc.stderr[-3000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_help_shows_an_example():
    proc = train("--help")
    assert proc.returncode == 0
    assert "python train.py --config configs/synthetic.py --workdir" in proc.stdout
    assert "--workdir" in proc.stdout and "runlocal" in proc.stdout


def test_missing_config_file(tmp_path):
    line = one_error_line(train("--config", "configs/nope.py", "--workdir", str(tmp_path)))
    assert line == "error: --config configs/nope.py: no such config file (see configs/)"


def test_unknown_config_field(tmp_path):
    proc = train(
        "--config", "configs/synthetic.py", "--workdir", str(tmp_path), "--config.train.epoch=3"
    )
    line = one_error_line(proc)
    assert (
        line
        == "error: --config.train.epoch: train has no field 'epoch' (did you mean train.epochs?)"
    )


def test_bad_config_argument(tmp_path):
    line = one_error_line(train("--config=configs/casme2.py:classes=4", "--workdir", str(tmp_path)))
    assert line.startswith(
        "error: --config configs/casme2.py:classes=4: CASME II tasks have 5 or 3"
    )


def test_missing_workdir_flag():
    line = one_error_line(train("--config", "configs/synthetic.py"))
    assert "--workdir" in line


def test_eval_epoch_out_of_range(tmp_path):
    proc = train(
        "--config", "configs/synthetic.py", "--workdir", str(tmp_path), "--config.eval.epoch=11"
    )  # fmt: skip
    line = one_error_line(proc)
    assert line.startswith("error: config.eval.epoch=11 is outside 1..10")


def test_unknown_choice_is_one_line(tmp_path, data_dir):
    proc = train(
        "--config", "configs/synthetic.py", "--workdir", str(tmp_path / "w"), *TINY,
        f"--config.data.data_dir={data_dir}", "--config.augment.jitter=4class",
    )  # fmt: skip
    line = one_error_line(proc)
    assert line == "error: config.augment: jitter must be one of ('5class', '3class'), got '4class'"


def test_workdir_is_a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    line = one_error_line(train("--config", "configs/synthetic.py", "--workdir", str(path)))
    assert line == f"error: --workdir {path} is a file, not a directory"


def test_unknown_dataset_names_the_project_builders(tmp_path, data_dir):
    proc = train(
        "--config", "configs/casme2.py", "--workdir", str(tmp_path),
        "--config.data.name=casme9", f"--config.data.data_dir={data_dir}",
    )  # fmt: skip
    line = one_error_line(proc)
    assert line.startswith("error: config.data.name='casme9' is not a dataset of this project;")
    for name in ("casme2", "samm", "mmew", "casme3", "megc2019", "synthetic_me"):
        assert name in line
    assert "mnist" not in proc.stderr  # not TFDS's catalogue


def test_unprepared_dataset_names_the_prepare_command(tmp_path, data_dir):
    proc = train(
        "--config", "configs/samm.py", "--workdir", str(tmp_path),
        f"--config.data.data_dir={data_dir}",
    )  # fmt: skip
    line = one_error_line(proc)
    assert "is not prepared in" in line and "mmnet prepare --dataset samm/5class" in line
    assert "Variant folder" not in proc.stderr  # TFDS's noise about the empty folder
    assert "older version" not in line


def test_records_of_an_older_builder_version_are_named(tmp_path):
    """Records prepared before a builder version bump: the error says so (and TFDS's own
    multi-line warning about the other version is not printed)."""
    old = tmp_path / "tfds" / "samm" / "5class" / "1.0.0"
    old.mkdir(parents=True)
    (old / "dataset_info.json").write_text("{}")
    proc = train(
        "--config", "configs/samm.py", "--workdir", str(tmp_path / "run"),
        f"--config.data.data_dir={tmp_path / 'tfds'}",
    )  # fmt: skip
    line = one_error_line(proc)
    assert "(only older version(s) 1.0.0 of its records are there:" in line
    assert "Found a different version" not in proc.stderr


def test_refuses_a_workdir_of_another_config(tmp_path, data_dir):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"eval_epoch": 3}))
    proc = train(
        "--config", "configs/synthetic.py", "--workdir", str(workdir),
        f"--config.data.data_dir={data_dir}", *TINY,
    )  # fmt: skip
    line = one_error_line(proc)
    assert line.startswith(f"error: {workdir} holds a run of another config (")
    assert "eval_epoch: 3 in the workdir, 10 now" in line
    assert "run_config.train.epochs: '<absent>' in the workdir, 10 now" in line
    assert line.endswith("refusing to mix them: use a new --workdir")
    assert json.loads((workdir / "config.json").read_text()) == {"eval_epoch": 3}  # untouched


def test_a_fold_group_that_does_not_fit_is_one_line(tmp_path, monkeypatch, capsys):
    """A fold group too large for the device (``trainer.FoldGroupTooLarge``, raised by
    the memory check with its hint; tests/test_group_memory.py) is one error line, exit
    status 2, no traceback: in-process, with the run replaced by one that raises it."""
    from mmnet_jax.commands import train as train_command  # noqa: PLC0415
    from mmnet_jax.training import trainer  # noqa: PLC0415

    hint = "2 folds per group need about 9.0 GiB per device, 4.0 GiB available: try "
    hint += "--config.folds.group_size=1"

    def too_large(config, workdir):
        raise trainer.FoldGroupTooLarge(hint)

    monkeypatch.setattr(trainer, "train_and_evaluate", too_large)
    argv = ["--config", "configs/synthetic.py", "--workdir", str(tmp_path / "w")]
    assert train_command.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {hint}" and not any("Traceback" in x for x in err)
