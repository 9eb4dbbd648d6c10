"""Several processes as one run, for real: ``jax.distributed`` on this machine (CPU, gloo).

Two ``train.py`` processes started as the README says (``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``, ``--config.distributed=True``, one workdir)
on a tiny ``configs/synthetic.py:runlocal`` run:

- give the results.json, predictions.csv and epoch_predictions.npz of one process with
  as many devices (two forced CPU devices). That is the comparison that can be exact:
  each device then runs the same per-device program on the same folds, bit for bit. A
  one-device process compiles another program (three folds mapped on one device, not two
  on each of two) whose float32 sums may round differently in the last bit;
- Ctrl-C on one process makes both save one checkpoint after the epoch and stop (130);
  a killed process makes the other stop within the watchdog's bound, naming it; a rerun
  of both resumes to those results (one two-process run, restarted twice, serves the
  three checks: the suite's time is the limit);
- a process started with another config, or on a host without the prepared records, is
  refused on every process with one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

from mmnet_jax.training import distributed

# Multi-process train.py runs: the slow part of the suite (pytest -m "not slow" skips it).
pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WATCHDOG_S = 10  # --config.distributed_timeout of these runs
# runlocal, made smaller still: 3 subjects x 4 clips, 4 epochs, a checkpoint per epoch,
# no all-subjects model (its own compiled program; see test_all_subjects_model_...).
TINY = {
    "final_model": False,
    "data.synthetic_subjects": 3,
    "data.synthetic_clips": 4,
    "train.epochs": 4,
    "train.batch_size": 4,
    "checkpoint.every_epochs": 1,
    "progress_bar": False,
    "distributed_timeout": WATCHDOG_S,
}
RUN_TIMEOUT = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(workdir, data_dir, config="configs/synthetic.py:runlocal", **extra) -> list[str]:
    fields = {**TINY, "data.data_dir": data_dir, **extra}
    return [
        sys.executable,
        "train.py",
        "--config",
        config,
        "--workdir",
        str(workdir),
        *(f"--config.{k}={v}" for k, v in fields.items()),
    ]


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return dict(env, PYTHONPATH=ROOT, MMNET_JAX_HUGEPAGES="0", **extra)


class Procs:
    """Processes of one multi-process run, their output in files (no pipe to fill)."""

    def __init__(self, cmds: list[list[str]], logs, port: int | None = None):
        port = port or _free_port()
        self.logs = logs
        self.procs = []
        for i, cmd in enumerate(cmds):
            env = _env(
                JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_NUM_PROCESSES=str(len(cmds)),
                JAX_PROCESS_ID=str(i),
            )
            out = open(logs / f"p{i}.out", "w")  # noqa: SIM115 - closed in wait()
            err = open(logs / f"p{i}.err", "w")  # noqa: SIM115
            self.procs.append(
                (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err), out, err)
            )

    def wait(self, timeout: float = RUN_TIMEOUT) -> list[tuple[int, str, str]]:
        deadline = time.monotonic() + timeout
        results = []
        for i, (p, out, err) in enumerate(self.procs):
            try:
                rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q, _, _ in self.procs:
                    q.kill()
                raise
            out.close()
            err.close()
            results.append(
                (rc, (self.logs / f"p{i}.out").read_text(), (self.logs / f"p{i}.err").read_text())
            )
        return results


def _two(tmp_path_factory, name, data_dirs, extra=(None, None), config=None) -> list:
    """Run two processes to their end; returns ``[(status, stdout, stderr)] * 2``."""
    logs = tmp_path_factory.mktemp(f"{name}_logs")
    workdir = tmp_path_factory.mktemp(name)
    kw = {"config": config} if config else {}
    cmds = [
        _cmd(workdir, str(d), **kw, **(e or {}), distributed=True)
        for d, e in zip(data_dirs, extra, strict=True)
    ]
    return workdir, Procs(cmds, logs).wait()


def _one_error_line(status_out_err, status: int) -> str:
    rc, _, err = status_out_err
    assert rc == status, (rc, err[-3000:])
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    return errors[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, data_dir):
    """The reference: one process with two (forced) CPU devices."""
    workdir = tmp_path_factory.mktemp("one_process")
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    proc = subprocess.run(
        _cmd(workdir, str(data_dir)),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir


def _wait_until(ready: Callable[[], bool], run: Procs, what: str) -> None:
    """Poll ``ready`` while every process of ``run`` is alive (``what``: for messages)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while not ready():
        assert all(p.poll() is None for p, _, _ in run.procs), f"a process ended before {what}"
        assert time.monotonic() < deadline, f"no {what} in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def interrupted_killed_resumed(tmp_path_factory, data_dir):
    """One run of two processes, three times the same two commands:

    1. Ctrl-C (SIGINT) on process 1 once process 0 has compiled: both save a checkpoint
       after the epoch and stop;
    2. resumed; SIGKILL of process 1 once the next checkpoint is written: process 0 stops
       within the watchdog's bound;
    3. resumed to the end.

    Returns the workdir and each phase's ``[(status, stdout, stderr)] * 2`` (phase 2 also
    the seconds from the kill to the end of process 0, and whether results.json existed
    before phase 3)."""
    workdir = tmp_path_factory.mktemp("interrupted")
    cmd = _cmd(workdir, str(data_dir), distributed=True)
    checkpoints = workdir / "checkpoints"

    logs = tmp_path_factory.mktemp("interrupted_logs")
    run = Procs([cmd, cmd], logs)
    _wait_until(lambda: "compiled in" in (logs / "p0.err").read_text(), run, "compilation")
    run.procs[1][0].send_signal(signal.SIGINT)
    interrupted = run.wait()
    saved = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())

    run = Procs([cmd, cmd], tmp_path_factory.mktemp("killed_logs"))
    after = checkpoints / str(saved[-1] + 1) / "_CHECKPOINT_METADATA"
    _wait_until(after.exists, run, "the next checkpoint")
    run.procs[1][0].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    killed = run.wait(timeout=WATCHDOG_S + 60)
    took = time.monotonic() - killed_at
    finished_early = (workdir / "results.json").exists()

    resumed = Procs([cmd, cmd], tmp_path_factory.mktemp("resumed_logs")).wait()
    return workdir, saved, interrupted, (killed, took, finished_early), resumed


def _same_outputs(a, b) -> None:
    assert json.loads((a / "results.json").read_text()) == json.loads(
        (b / "results.json").read_text()
    )
    assert (a / "predictions.csv").read_text() == (b / "predictions.csv").read_text()
    with np.load(a / "epoch_predictions.npz") as x, np.load(b / "epoch_predictions.npz") as y:
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_ctrl_c_on_one_process_stops_both_at_one_checkpoint(interrupted_killed_resumed):
    _, saved, interrupted, _, _ = interrupted_killed_resumed
    for rc, _, err in interrupted:
        assert rc == 130, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        assert err.rstrip().splitlines()[-1] == "interrupted", err[-3000:]
    # Both stopped after the same epoch: one checkpoint, saved by both (Orbax commits a
    # step only when every process has written its part), before the run's end.
    assert saved == [1] or saved == [1, 2], saved
    assert f"stopped after epoch {saved[-1]}; run the same command" in interrupted[0][2]
    assert "saving a checkpoint after this epoch" in interrupted[1][2]


def test_killed_process_stops_the_other(interrupted_killed_resumed):
    """Process 0 stops within the watchdog's bound of process 1's SIGKILL, naming it."""
    _, _, _, (killed, took, finished_early), _ = interrupted_killed_resumed
    (rc0, _, err0), (rc1, _, _) = killed
    assert "resuming from checkpoint" in err0
    assert rc1 == -signal.SIGKILL
    line = _one_error_line((rc0, "", err0), distributed.EXIT_PEER_LOST)
    assert re.fullmatch(
        rf"error: lost process 1 of 2 \(host [^)]+\): no heartbeat for {WATCHDOG_S} s "
        r"\(killed, crashed, or its host is down\); start the same command on every host "
        r"again to resume from the last checkpoint",
        line,
    ), line
    assert took < WATCHDOG_S + 30, took
    assert not finished_early


def test_two_processes_resume_to_the_results_of_one(one_process, interrupted_killed_resumed):
    """After the Ctrl-C and the kill, the same two commands resume from the checkpoint and
    end with the outputs of one process with two devices, bit for bit (so also those of
    an uninterrupted two-process run, which computes the same per-device programs)."""
    workdir, _, _, _, again = interrupted_killed_resumed
    for rc, _, err in again:
        assert rc == 0, err[-3000:]
    (_, out0, err0), (_, out1, err1) = again
    assert "resuming from checkpoint" in err0
    _same_outputs(workdir, one_process)
    info = json.loads((workdir / "run_info.json").read_text())
    assert info["process_count"] == 2 and len(info["devices"]) == 2
    assert json.loads((one_process / "run_info.json").read_text())["process_count"] == 1
    # Process 0 reports and logs the run; process 1 says only that it is done.
    assert "results: " in out0
    assert out1.strip().splitlines()[-1] == (
        f"process 1 of 2: done; process 0 wrote the results in {workdir}"
    )
    assert "compiling the training epoch" in err0 and "compiling" not in err1
    assert (workdir / "report.md").exists()


def test_process_with_another_config_is_refused(data_dir, tmp_path_factory):
    _, done = _two(
        tmp_path_factory,
        "other_config",
        [data_dir, data_dir],
        extra=(None, {"train.learning_rate": 0.002}),
    )
    lines = {_one_error_line(d, 2) for d in done}
    assert len(lines) == 1, lines  # the same line on both
    assert re.fullmatch(
        r"error: process 1 of 2 \(host [^)]+\) was started with another config than process 0 "
        r"\(train\.learning_rate: 0\.0008 on process 0, 0\.002 on 1\): start every process "
        r"with the same command",
        lines.pop(),
    )


def test_host_without_the_records_stops_every_process(tmp_path_factory):
    """Process 0 has prepared CASME II records (the builder's dummy release), process 1
    an empty data_dir: both stop with the line naming process 1 and the prepare command."""
    prepared = tmp_path_factory.mktemp("prepared")
    empty = tmp_path_factory.mktemp("empty")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmnet_jax",
            "prepare",
            "--dataset",
            "casme2/5class",
            "--manual_dir",
            "tfds_builders/casme2/dummy_data",
            "--data_dir",
            str(prepared),
            "--image_size",
            "32",
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sizes = {"data.image_size": 32, "data.prepared_image_size": 32}
    _, done = _two(
        tmp_path_factory,
        "missing",
        [prepared, empty],
        extra=(sizes, sizes),
        config="configs/casme2.py:runlocal",
    )
    lines = {_one_error_line(d, 2) for d in done}
    assert len(lines) == 1, lines
    line = lines.pop()
    assert line.startswith("error: process 1 of 2 (host "), line
    assert f"is not prepared in {empty}" in line and "mmnet prepare" in line, line


# --- the environment ---------------------------------------------------------------
@pytest.fixture
def captured(monkeypatch):
    """distributed.initialize with jax.distributed.initialize replaced by a recorder."""
    calls = []
    monkeypatch.setattr(distributed.jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setattr(distributed.jax.distributed, "is_initialized", lambda: False)
    for name in (
        distributed.ENV_COORDINATOR,
        distributed.ENV_NUM_PROCESSES,
        distributed.ENV_PROCESS_ID,
    ):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_environment_variables_are_passed_to_jax(captured, monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    distributed.initialize(timeout_s=20)
    (kw,) = captured
    assert (kw["coordinator_address"], kw["num_processes"], kw["process_id"]) == (
        "10.0.0.1:1234",
        4,
        3,
    )
    assert kw["heartbeat_timeout_seconds"] >= 3 * 20


def test_without_variables_jax_detects_the_cluster(captured, monkeypatch):
    """Nothing set: JAX's own detection decides (here: SLURM's variables, read by JAX)."""
    distributed.initialize()
    (kw,) = captured
    assert kw["coordinator_address"] is kw["num_processes"] is kw["process_id"] is None
    from jax._src import clusters  # noqa: PLC0415

    for k, v in {
        "SLURM_JOB_ID": "4242",
        "SLURM_STEP_NODELIST": "node[007-008]",
        "SLURM_NTASKS": "2",
        "SLURM_PROCID": "1",
        "SLURM_LOCALID": "0",
    }.items():
        monkeypatch.setenv(k, v)
    address, count, index, _ = clusters.ClusterEnv.auto_detect_unset_distributed_params(
        None, None, None, None, None, 10
    )
    assert (address.split(":")[0], count, index) == ("node007", 2, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JAX_NUM_PROCESSES": "2"}, "JAX_NUM_PROCESSES is set but JAX_PROCESS_ID is not"),
        ({"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"}, r"JAX_PROCESS_ID=2 is outside 0\.\.1"),
        ({"JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"}, "'two' is not a whole number"),
    ],
)
def test_bad_variables_are_one_error_line(env, message, tmp_path):
    proc = subprocess.run(
        _cmd(tmp_path / "w", str(tmp_path / "tfds"), distributed=True),
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = _one_error_line((proc.returncode, proc.stdout, proc.stderr), 2)
    assert re.search(message, line), line
