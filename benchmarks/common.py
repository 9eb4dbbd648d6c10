"""What every benchmark script shares, importing neither JAX nor PyTorch.

``official_torch.py`` runs in a PyTorch-only virtualenv, so the timing method, the machine
description and the Markdown helpers that it shares with ``bench.py`` / ``run.py`` live
here.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from mmnet_jax.reporting import tables

# MMNet's reference cost per sample at 224 px (the official model's own count): a
# training step (forward + backward) and a forward pass. Scaled with the image area.
REFERENCE_TRAIN_FLOPS_224 = 43.0e9
REFERENCE_EVAL_FLOPS_224 = 14.4e9


def time_calls(
    call: Callable[[], Any],
    *,
    repeats: int = 3,
    min_seconds: float = 0.0,
    max_inner: int = 1000,
    block: Callable[[Any], Any] = lambda out: out,
) -> dict:
    """Seconds per call of ``call``, warm-up excluded; ``block(out)`` waits for a result
    (``jax.block_until_ready`` for asynchronous JAX calls).

    One warm-up call, then ``repeats`` samples of ``inner`` back-to-back calls (1, or as
    many as make a sample last ``min_seconds``). Returns ``median_s`` (the figure),
    ``min_s``, ``max_s``, ``warmup_s``, ``repeats`` and ``inner``.
    """
    t0 = time.perf_counter()
    block(call())
    warm = time.perf_counter() - t0
    inner = 1
    if min_seconds > 0 and warm < min_seconds:
        # The warm-up may carry one-time costs: calibrate on a second call.
        t0 = time.perf_counter()
        block(call())
        one = max(time.perf_counter() - t0, 1e-7)
        inner = max(1, min(max_inner, math.ceil(min_seconds / one)))
    samples = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = None
        for _ in range(inner):
            out = call()
        block(out)
        samples.append((time.perf_counter() - t0) / inner)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "warmup_s": warm,
        "repeats": len(samples),
        "inner": inner,
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores_usable() -> int | None:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (a noise hint), where the OS has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far, in bytes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # KiB on Linux


def package_version(package: str, default: str | None = None) -> str | None:
    """An installed distribution's version, else ``default``."""
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return default


def fmt(x, digits: int = 1) -> str:
    """A number for a table cell ("-" for None)."""
    return "-" if x is None else f"{x:.{digits}f}"


def table(header: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines (and a blank line after)."""
    return tables.table(header, rows) + [""]


def ints(s: str) -> tuple[int, ...]:
    """``"4,8,32"`` -> ``(4, 8, 32)`` (an argparse type)."""
    return tuple(int(x) for x in s.split(",") if x.strip())


def flag_ints(fv, name: str) -> tuple[int, ...] | None:
    """A comma-separated integer list flag (``flags.DEFINE_list``) as a tuple, None when
    unset; a bad entry is one ``error:`` line (exit 2)."""
    from mmnet_jax import cli  # noqa: PLC0415 - absl only, no JAX

    values = fv[name].value
    if values is None:
        return None
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        cli.fail(f"--{name}: expected comma-separated integers, got {','.join(values)!r}")
