"""Transparent huge pages for XLA:CPU's buffers (Linux with glibc).

XLA:CPU takes its buffers from ``malloc``. Where the kernel's transparent huge pages are
in ``madvise`` mode (a common default), those buffers get 4 KiB pages, and MMNet's large
activations (a 224 px batch of 32 holds 200 MB tensors) then spend much of their time in
TLB misses. glibc (2.35 and later) asks for huge pages on its own mappings when the
process starts with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``. Measured on a 2-core
Zen 4 (benchmarks/NOTES.md): training steps at 224 px 1.17x faster at batch 4 and 1.55x
at batch 32, memory-bound copies 2.7x.

A tunable is read only when a process starts, so :func:`reexec` restarts the current
command once with it set; ``train.py`` and ``benchmarks/run.py`` call it first thing.
It does nothing where it cannot help (not Linux/glibc, huge pages ``never`` or already
``always``, the tunable already set) and when ``MMNET_JAX_HUGEPAGES=0``.

This module imports nothing heavy: it must run before JAX is imported.
"""

from __future__ import annotations

import os
import platform
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
OPT_OUT = "MMNET_JAX_HUGEPAGES"  # "0": never re-execute
_THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode(path: str = _THP) -> str | None:
    """The kernel's transparent huge page mode (``always``, ``madvise``, ``never``)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else None


def _glibc_at_least(major: int, minor: int) -> bool:
    libc, version = platform.libc_ver()
    if libc != "glibc":
        return False
    try:
        got = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return got >= (major, minor)


def status() -> dict:
    """What this process has: for run_info.json and the benchmark JSON."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return {
        "thp_mode": thp_mode(),
        "glibc_malloc_hugetlb": TUNABLE in tunables.split(":"),
        "opted_out": os.environ.get(OPT_OUT) == "0",
    }


def wanted() -> bool:
    """Whether restarting with the tunable would give this process huge pages."""
    if os.environ.get(OPT_OUT) == "0" or not sys.platform.startswith("linux"):
        return False
    if "glibc.malloc.hugetlb" in os.environ.get("GLIBC_TUNABLES", ""):
        return False  # set already: by the user, or by our own restart
    return thp_mode() == "madvise" and _glibc_at_least(2, 35)


def reexec() -> None:
    """Restart this very command (same interpreter and arguments) with the tunable set.

    Call it before anything else happens in the process; it returns only when it has
    nothing to do.
    """
    if not wanted():
        return
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), TUNABLE]))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), env)
