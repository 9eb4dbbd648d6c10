"""Test-session setup: one persistent XLA compilation cache for the whole session, and
temporary files kept under pytest's temporary directory.

Several tests compile the same programs (a run and its resumption in subprocesses,
builders and loaders); the cache makes each compile once. Subprocesses inherit it
through the environment.
"""

import atexit
import os
import shutil
import tempfile

import pytest

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="mmnet_jax_xla_")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


@pytest.fixture(autouse=True, scope="session")
def _temp_files_in_pytest_tmp(tmp_path_factory):
    """TFDS leaves an empty ``mkdtemp`` directory behind per builder it creates: keep
    those (and any other temp file) under pytest's own, rotated, temporary directory."""
    saved, tempfile.tempdir = tempfile.tempdir, str(tmp_path_factory.mktemp("tempfile"))
    yield
    tempfile.tempdir = saved
