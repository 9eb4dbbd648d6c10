"""Huge pages for XLA:CPU's buffers: mode parsing, opt-outs, and the one-time restart."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mmnet_jax.training import hugepages


@pytest.mark.parametrize(
    "text, mode",
    [("always [madvise] never\n", "madvise"), ("[always] madvise never", "always"), ("", None)],
)
def test_thp_mode(tmp_path, text, mode):
    f = tmp_path / "enabled"
    f.write_text(text)
    assert hugepages.thp_mode(str(f)) == mode
    assert hugepages.thp_mode(str(tmp_path / "missing")) is None


def test_not_wanted_when_opted_out_or_already_set(monkeypatch):
    monkeypatch.setenv(hugepages.OPT_OUT, "0")
    assert not hugepages.wanted()
    monkeypatch.delenv(hugepages.OPT_OUT)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    assert not hugepages.wanted()  # the user's own choice stands


_CHILD = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {root!r})
    from mmnet_jax.training import hugepages
    with open({log!r}, "a") as f:
        f.write(os.environ.get("GLIBC_TUNABLES", "") + "\\n")
    hugepages.reexec()
    print(json.dumps({{"argv": sys.argv[1:], "status": hugepages.status()}}))
    """
)


def _run_child(tmp_path, env_extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "starts.log"
    script = tmp_path / "child.py"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script.write_text(_CHILD.format(root=root, log=str(log)))
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", hugepages.OPT_OUT)}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, str(script), "a", "--b=1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), log.read_text().splitlines()


def test_reexec_restarts_once_with_the_tunable(tmp_path, monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv(hugepages.OPT_OUT, raising=False)
    if not hugepages.wanted():
        pytest.skip(f"huge pages cannot be asked for here: {hugepages.status()}")
    result, starts = _run_child(tmp_path / "on", {"GLIBC_TUNABLES": "glibc.malloc.check=0"})
    # Two starts: the original and one restart that keeps the user's tunables.
    assert starts == ["glibc.malloc.check=0", f"glibc.malloc.check=0:{hugepages.TUNABLE}"]
    assert result["argv"] == ["a", "--b=1"]
    assert result["status"]["glibc_malloc_hugetlb"]
    # Opted out: one start, no tunable.
    result, starts = _run_child(tmp_path / "off", {hugepages.OPT_OUT: "0"})
    assert starts == [""]
    assert not result["status"]["glibc_malloc_hugetlb"] and result["status"]["opted_out"]
