"""Builder tests: temporary files under pytest's temporary directory (see tests/conftest.py)."""

import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _temp_files_in_pytest_tmp(tmp_path_factory):
    saved, tempfile.tempdir = tempfile.tempdir, str(tmp_path_factory.mktemp("tempfile"))
    yield
    tempfile.tempdir = saved
