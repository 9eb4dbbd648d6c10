"""Helpers for the builder tests: build a dummy release small, read it back.

TFDS's ``DatasetBuilderTestCase`` needs TensorFlow, so the tests build into a temporary
``data_dir`` with ``file_format='array_record'`` and read through ``as_data_source``.
"""

from __future__ import annotations

import collections
import pathlib
import shutil
from typing import Any

import tensorflow_datasets as tfds

import tfds_builders  # noqa: F401  (registers the builders)
from tfds_builders import me_common

HERE = pathlib.Path(__file__).parent
TEST_IMAGE_SIZE = 32


def dummy_data(name: str) -> pathlib.Path:
    """A builder's committed ``dummy_data`` folder."""
    return HERE / name / "dummy_data"


def copy_dummy_data(name: str, destination: pathlib.Path) -> pathlib.Path:
    """A writable copy of a builder's ``dummy_data`` (for tests that break it)."""
    target = destination / f"{name}_manual"
    shutil.copytree(dummy_data(name), target)
    return target


def build(
    name: str,
    manual_dir: pathlib.Path,
    data_dir: pathlib.Path,
    image_size: int = TEST_IMAGE_SIZE,
    **kwargs: Any,
) -> tuple[tfds.core.DatasetBuilder, list[dict[str, Any]], dict[str, Any]]:
    """Builds ``name`` (``'casme2/5class'``) and returns the builder, the records in key
    order and the build report."""
    builder = tfds.builder(
        name, data_dir=data_dir, file_format="array_record", image_size=image_size, **kwargs
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    source = builder.as_data_source()["train"]
    records = sorted((source[i] for i in range(len(source))), key=lambda r: r["id"])
    return builder, records, me_common.read_report(builder)


def label_counts(builder: tfds.core.DatasetBuilder, records) -> dict[str, int]:
    """Records per class name."""
    names = builder.info.features["label"].names
    counts = collections.Counter(names[int(r["label"])] for r in records)
    return {name: counts[name] for name in names}


def ids(records) -> list[str]:
    return [r["id"].decode() for r in records]


def by_id(records) -> dict[str, dict[str, Any]]:
    return {r["id"].decode(): r for r in records}


def reported(report: dict[str, Any], outcome: str, what: str = "clips") -> dict[str, list[str]]:
    """``{reason: [clip ids]}`` of one outcome in a report (``what="videos"``: a
    long-video report's videos)."""
    return {reason: [c["id"] for c in items] for reason, items in report[what][outcome].items()}


def intervals(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A long-video record's intervals as one dict each, text decoded."""
    columns = record["intervals"]
    rows = zip(*columns.values(), strict=True)
    rows = [dict(zip(columns, values, strict=True)) for values in rows]
    return [{k: v.decode() if isinstance(v, bytes) else v for k, v in r.items()} for r in rows]
