"""Markdown tables: the one builder that reports, ``mmnet compare`` and the benchmarks use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cell(x: Any) -> str:
    """``x`` as a table cell: ``|`` escaped, newlines as spaces."""
    return str(x).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]], align: str = "") -> list[str]:
    """The lines of a Markdown table.

    Args:
      header: the column names.
      rows: the cells of each row (any values; ``str`` of each, escaped).
      align: one letter per column, ``l`` or ``r`` (right-aligned: numbers); "" leaves
        every column to the renderer's default.
    """
    if align and len(align) != len(header):
        raise ValueError(f"align {align!r}: one letter per column of {len(header)}")
    sep = ["---:" if a == "r" else "---" for a in (align or "l" * len(header))]
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out
