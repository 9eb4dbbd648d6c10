"""Several processes as one run: start-up, agreement between processes, lost peers.

A run with ``config.distributed`` starts one process per host (or per GPU), each running
the same ``train.py`` command. :func:`initialize` connects them through
``jax.distributed`` (explicit ``JAX_COORDINATOR_ADDRESS``/``JAX_NUM_PROCESSES``/
``JAX_PROCESS_ID``, else JAX's own detection: Cloud TPU, SLURM, Open MPI). The processes
then talk through the coordination service's key-value store (hosted by process 0):

- :func:`check_same_config`: every process publishes its config; a process started
  with another config than process 0's stops every process, the differences named.
- :func:`same_outcome` / :func:`load_data`: a step that can fail on one host only (its
  records are missing) raises the same error on every process, so all of them stop
  with one line instead of waiting for a peer that has left.
- A watchdog (two threads) publishes a heartbeat and watches the peers': a peer silent
  for ``timeout_s`` (killed, crashed, its host down), or one that reports a failure,
  ends this process with a line naming that peer (:data:`EXIT_PEER_LOST`), whatever
  the main thread is blocked in (a collective, a checkpoint barrier).
- :func:`abort` ends a failing process at once (no shutdown barrier) after telling its
  peers; :func:`finish` is the successful end (a barrier, then the watchdog stops).

Without ``config.distributed`` none of this runs: every function is a no-op or calls
straight through.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import jax
import numpy as np

from mmnet_jax import cli

log = logging.getLogger(__name__)

ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
# Exit status of a process stopped because a peer was lost or failed.
EXIT_PEER_LOST = cli.EXIT_PEER_LOST
# Config fields that may differ between hosts: where each host keeps its records and
# cache, and how it shows progress.
HOST_LOCAL = ("data.data_dir", "compilation_cache_dir", "progress_bar")
_PREFIX = "mmnet_jax"
# Blocking waits for a peer (its data loading, its compilation) are bounded by the
# watchdog, not by this backstop.
_WAIT_MS = 6 * 3600 * 1000
_INTERVAL_S = 1.0


class PeerMismatch(ValueError):
    """Processes of one run disagree (config or data): a user error."""


class DistributedSetupError(ValueError):
    """The environment does not describe a multi-process run that can start."""


@dataclasses.dataclass
class _Job:
    client: Any  # jax's DistributedRuntimeClient
    index: int
    count: int
    hosts: list[str]
    watchdog: _Watchdog


_job: _Job | None = None


def active() -> bool:
    """Whether this process is one of several (``initialize`` ran with more than one)."""
    return _job is not None


def process_name(i: int) -> str:
    """``"process 1 of 2 (host NAME)"``."""
    if _job is None:
        return f"process {i}"
    return f"process {i} of {_job.count} (host {_job.hosts[i]})"


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise DistributedSetupError(f"{name}={text!r} is not a whole number") from None


def initialize(timeout_s: float = 60.0) -> None:
    """Join the other processes of the run (``jax.distributed.initialize``) and, with
    more than one, start the watchdog. Call before anything touches a JAX device.

    JAX reads ``JAX_COORDINATOR_ADDRESS`` itself but not the process count or index:
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` are read here and passed explicitly;
    when they are unset, JAX detects Cloud TPU, SLURM and Open MPI on its own.
    On CPU, cross-process collectives use gloo (``jax_cpu_collectives_implementation``,
    unless the environment chose another).

    Args:
      timeout_s: seconds without a sign of life from a peer before this process stops.

    Raises:
      DistributedSetupError: a bad variable, or no coordinator reachable.
    """
    global _job
    if _job is not None or jax.distributed.is_initialized():
        return
    num, index = _env_int(ENV_NUM_PROCESSES), _env_int(ENV_PROCESS_ID)
    if (num is None) != (index is None):
        have, lack = ENV_NUM_PROCESSES, ENV_PROCESS_ID
        if num is None:
            have, lack = lack, have
        raise DistributedSetupError(f"{have} is set but {lack} is not: set both (or neither)")
    if num is not None and not 0 <= index < num:
        raise DistributedSetupError(f"{ENV_PROCESS_ID}={index} is outside 0..{num - 1}")
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        # Only the CPU client reads it: CPU processes can then run collectives (the
        # fold arrays gathered to every host each epoch, checkpoint barriers).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=os.environ.get(ENV_COORDINATOR) or None,
            num_processes=num,
            process_id=index,
            # JAX's own heartbeat would end the process with a less helpful message:
            # leave the first word to the watchdog.
            heartbeat_timeout_seconds=int(max(100, 3 * timeout_s)),
            # A run whose peer left ends through ``abort`` (no shutdown barrier); keep
            # the barrier of a normal end from stalling for minutes if one is missing.
            shutdown_timeout_seconds=int(max(30, 2 * timeout_s)),
        )
    except (ValueError, RuntimeError) as e:
        raise DistributedSetupError(
            f"jax.distributed.initialize failed: {cli.one_line(e)} (set "
            f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID}, or run under "
            "SLURM or on Cloud TPU; see the README's 'Several hosts')"
        ) from None
    count, index = jax.process_count(), jax.process_index()
    if count == 1:
        return
    from jax._src import distributed as jax_distributed  # noqa: PLC0415 - the KV store

    client = jax_distributed.global_state.client
    client.key_value_set(f"{_PREFIX}/host/{index}", socket.gethostname())
    hosts = [client.blocking_key_value_get(f"{_PREFIX}/host/{i}", _WAIT_MS) for i in range(count)]
    watchdog = _Watchdog(client, index, count, float(timeout_s))
    _job = _Job(client, index, count, hosts, watchdog)
    watchdog.start()
    if index != 0:
        # Process 0 logs the run; the others say only what goes wrong.
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    log.warning("%s: %d processes, %d devices", process_name(index), count, jax.device_count())


# --- agreement -----------------------------------------------------------------------
def exchange(name: str, value: str) -> list[str]:
    """Publish ``value`` under ``name`` and return every process's value, in process
    order (``[value]`` in a single process). Each ``name`` is used once per run."""
    if _job is None:
        return [value]
    _job.client.key_value_set(f"{_PREFIX}/x/{name}/{_job.index}", value)
    return [
        _job.client.blocking_key_value_get(f"{_PREFIX}/x/{name}/{i}", _WAIT_MS)
        for i in range(_job.count)
    ]


def flatten_config(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"a.b.c": value}`` (what config comparisons name)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten_config(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_same_config(config: dict) -> None:
    """Every process must run the same config (fields of :data:`HOST_LOCAL` aside).

    Raises:
      PeerMismatch: on every process, naming the first process that differs from
        process 0 and its differing fields.
    """
    mine = {k: v for k, v in flatten_config(config).items() if k not in HOST_LOCAL}
    values = exchange("config", json.dumps(mine, sort_keys=True, default=str))
    ref = json.loads(values[0])
    for i, text in enumerate(values[1:], 1):
        other = json.loads(text)
        diffs = [
            f"{k}: {ref.get(k, '<absent>')!r} on process 0, {other.get(k, '<absent>')!r} on {i}"
            for k in sorted(set(ref) | set(other))
            if ref.get(k, "<absent>") != other.get(k, "<absent>")
        ]
        if diffs:
            raise PeerMismatch(
                f"{process_name(i)} was started with another config than process 0 "
                f"({'; '.join(diffs)}): start every process with the same command"
            )


@contextlib.contextmanager
def same_outcome(name: str, errors: tuple[type[Exception], ...]) -> Iterator[None]:
    """Run the block on every process; if it raises one of ``errors`` on any process,
    raise that error (of the first failing process, which the message names) on every
    process. Other exceptions pass through untouched. ``name``: once per run."""
    error = None
    try:
        yield
    except errors as e:
        if _job is None:
            raise
        error = e
    if _job is None:
        return
    code = "ok"
    if error is not None:
        kind = next(j for j, cls in enumerate(errors) if isinstance(error, cls))
        code = f"{kind}\t{cli.one_line(error)}"
    failed = [(i, v) for i, v in enumerate(exchange(name, code)) if v != "ok"]
    if not failed:
        return
    i, value = failed[0]
    kind, message = value.split("\t", 1)
    more = len(failed) - 1
    also = f" (and on {more} other process{'es' * (more > 1)})" if more else ""
    raise errors[int(kind)](f"{process_name(i)}: {message}{also}") from error


def data_digest(data: Any) -> str:
    """SHA-256 of a dataclass of arrays (``ClipArrays``): what every host must load."""
    h = hashlib.sha256()
    for f in dataclasses.fields(data):
        value = getattr(data, f.name)
        h.update(f.name.encode())
        if isinstance(value, np.ndarray):
            h.update(str((value.dtype, value.shape)).encode())
            h.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else b"")
            if value.dtype.kind in "OUS":
                h.update(json.dumps(value.tolist()).encode())
        else:
            h.update(json.dumps(value, default=str).encode())
    return h.hexdigest()


def load_data(load: Callable[[Any], Any], data_cfg: Any, errors: tuple[type[Exception], ...]):
    """``load(data_cfg)`` on every process, with one error line everywhere if it fails
    anywhere and a check that every process loaded the same clips.

    The synthetic set is generated on demand into ``data_dir``: process 0 generates it
    before the others read it, so processes sharing a directory do not write it at once.

    Raises:
      one of ``errors``: loading failed on some process (named in the message).
      PeerMismatch: a process loaded other records than process 0.
    """
    if _job is None:
        return load(data_cfg)
    data = None
    one_writer = data_cfg.name == "synthetic_me"
    with same_outcome("data:first", errors):
        if _job.index == 0 or not one_writer:
            data = load(data_cfg)
    with same_outcome("data:rest", errors):
        if data is None:
            data = load(data_cfg)
    digests = exchange("data:digest", data_digest(data))
    for i, d in enumerate(digests[1:], 1):
        if d != digests[0]:
            raise PeerMismatch(
                f"{process_name(i)} loaded other records of {data.dataset} than process 0 "
                f"({len(data)} clips here): prepare the same dataset version with the same "
                "options on every host"
            )
    return data


def barrier(name: str) -> None:
    """Wait until every process gets here (no-op in a single process). Before the first
    collective of a newly compiled program: gloo gives a peer only 30 s to join a new
    collective, and one process may compile far longer than another (its cache missed).
    ``name``: once per run."""
    if _job is not None:
        _job.client.wait_at_barrier(f"{_PREFIX}/{name}", _WAIT_MS)


def any_process(flag: bool) -> bool:
    """Whether ``flag`` is true on any process (a collective: every process calls it)."""
    if _job is None:
        return bool(flag)
    from jax.experimental import multihost_utils  # noqa: PLC0415

    return bool(np.asarray(multihost_utils.process_allgather(np.int32(flag))).any())


def host_copy(tree):
    """A pytree of (possibly multi-host) arrays as NumPy arrays on every process (a
    collective when several processes run)."""
    if _job is None:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils  # noqa: PLC0415

    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


# --- ends ----------------------------------------------------------------------------
def finish() -> None:
    """The successful end of a run: wait for every process, then stop the watchdog
    (JAX's exit handler then shuts the connection down)."""
    if _job is None:
        return
    _job.client.wait_at_barrier(f"{_PREFIX}/finish", _WAIT_MS)
    _job.watchdog.stop()


def abort(line: str, code: int, detail: str = "") -> NoReturn:
    """End this process on an error: tell the peers (their watchdogs stop them), wait
    until each has seen it or is failing too, print ``line`` (this process's one-line
    error; ``detail``, a traceback, before it) and exit with ``code`` at once, skipping
    the shutdown barrier that a departed peer would never reach. A peer found silent
    meanwhile is named instead (exit
    :data:`EXIT_PEER_LOST`): its loss is the likelier cause of this process's error."""
    assert _job is not None
    _job.watchdog.leave(line, code, detail)


def _exit(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _try_get(client, key: str) -> str | None:
    try:
        return client.key_value_try_get(key)
    except Exception:  # noqa: BLE001 - NOT_FOUND is an exception
        return None


class _Watchdog:
    """Heartbeats through the key-value store, and a judge that ends the process when a
    peer falls silent or reports a failure.

    The poller makes the (possibly blocking) calls to the coordinator; the judge only
    reads the poller's timestamps, so it decides in time even when the coordinator (on
    process 0) has gone and the poller's calls hang. Every way out goes through
    :meth:`leave`: process 0 hosts the coordinator, and JAX ends every other process
    the moment it goes, so it leaves last.
    """

    def __init__(self, client, index: int, count: int, timeout_s: float):
        self.client, self.index, self.timeout_s = client, index, timeout_s
        self.peers = [i for i in range(count) if i != index]
        now = time.monotonic()
        self.seen = dict.fromkeys(self.peers, now)  # when each peer's heartbeat last moved
        self.beats: dict[int, str | None] = dict.fromkeys(self.peers)
        self.contact = now  # last successful round of calls to the coordinator
        self.failures: dict[int, str] = {}
        self.aborting = threading.Event()
        self._stop = threading.Event()
        self._leaving = threading.Lock()
        self._threads = [
            threading.Thread(target=self._poll, name="mmnet-heartbeat", daemon=True),
            threading.Thread(target=self._judge, name="mmnet-watchdog", daemon=True),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()

    def _silent(self, i: int) -> bool:
        return time.monotonic() - self.seen[i] > self.timeout_s

    def _lost(self, i: int) -> str:
        return (
            f"lost {process_name(i)}: no heartbeat for {self.timeout_s:.0f} s (killed, "
            "crashed, or its host is down); start the same command on every host again to "
            "resume from the last checkpoint"
        )

    def _poll(self) -> None:
        beat = 0
        while not self._stop.is_set():
            try:
                self.client.key_value_set(
                    f"{_PREFIX}/alive/{self.index}", str(beat), allow_overwrite=True
                )
                beat += 1
                for i in self.peers:
                    value = _try_get(self.client, f"{_PREFIX}/alive/{i}")
                    if value is not None and value != self.beats[i]:
                        self.beats[i], self.seen[i] = value, time.monotonic()
                for key, value in self.client.key_value_dir_get(f"{_PREFIX}/failed/"):
                    i = int(key.rstrip("/").rsplit("/", 1)[-1])
                    if i != self.index:
                        self.failures[i] = value
                self.contact = time.monotonic()
            except Exception:  # noqa: BLE001 - the judge decides what silence means
                pass
            self._stop.wait(_INTERVAL_S)

    def _judge(self) -> None:
        grace = None
        while not self._stop.wait(_INTERVAL_S / 2):
            if self.aborting.is_set():
                return  # leave() is under way
            now = time.monotonic()
            if self.failures:
                for i in self.failures:
                    self._set(f"ack/{i}/{self.index}")
                i, line = min(self.failures.items())
                # An error every process meets at once (a user error found by all, a NaN
                # loss) reaches this process's own abort() within moments: let it.
                grace = grace or now + 3.0
                if now >= grace:
                    message = line.removeprefix("error: ")
                    self.leave(f"error: {process_name(i)} stopped: {message}", EXIT_PEER_LOST)
                continue
            if now - self.contact > self.timeout_s:
                self.leave(
                    f"error: lost contact with the coordinator, {process_name(0)}: nothing "
                    f"for {self.timeout_s:.0f} s (killed, crashed, or its host is down); "
                    "start the same command on every host again to resume from the last "
                    "checkpoint",
                    EXIT_PEER_LOST,
                )
            silent = [i for i in self.peers if self._silent(i)]
            if silent:
                self.leave(f"error: {self._lost(silent[0])}", EXIT_PEER_LOST)

    def _set(self, key: str, value: str = "1") -> None:
        with contextlib.suppress(Exception):
            self.client.key_value_set(f"{_PREFIX}/{key}", value, allow_overwrite=True)

    def _wait_for(self, keys_of: Callable[[int], list[str]], peers: list[int]) -> list[int]:
        """Wait until every peer has one of its keys set or falls silent (bounded);
        returns the peers that fell silent."""
        deadline = time.monotonic() + self.timeout_s + 5 * _INTERVAL_S
        pending, silent = set(peers), []
        while pending and time.monotonic() < deadline:
            for i in sorted(pending):
                if any(_try_get(self.client, f"{_PREFIX}/{k}") for k in keys_of(i)):
                    pending.discard(i)
                elif self._silent(i):
                    pending.discard(i)
                    silent.append(i)
            time.sleep(0.1)
        return silent

    def leave(self, line: str, code: int, detail: str = "") -> NoReturn:
        """Publish the failure, wait for the peers to see it, print ``line``, exit."""
        with self._leaving:  # one way out: a second caller waits for the first's exit
            self.aborting.set()
            self._set(f"failed/{self.index}", line)
            me = self.index
            silent = self._wait_for(lambda i: [f"ack/{me}/{i}", f"failed/{i}"], self.peers)
            if silent and code != EXIT_PEER_LOST:
                log.warning("this process failed: %s", line.removeprefix("error: "))
                line, code, detail = f"error: {self._lost(silent[0])}", EXIT_PEER_LOST, ""
            print(f"{detail}{line}", file=sys.stderr, flush=True)
            self._set(f"exiting/{me}")
            if me == 0:
                live = [i for i in self.peers if i not in silent]
                self._wait_for(lambda i: [f"exiting/{i}"], live)
            _exit(code)


def timeout_of(config: Any, default: float = 60.0) -> float:
    """``config.distributed_timeout`` (seconds), or ``default`` for configs without it."""
    value = config.get("distributed_timeout", default) if hasattr(config, "get") else default
    return float(value)


__all__: Sequence[str] = (
    "EXIT_PEER_LOST",
    "HOST_LOCAL",
    "DistributedSetupError",
    "PeerMismatch",
    "abort",
    "active",
    "any_process",
    "check_same_config",
    "data_digest",
    "exchange",
    "finish",
    "host_copy",
    "initialize",
    "load_data",
    "process_name",
    "same_outcome",
    "timeout_of",
)
