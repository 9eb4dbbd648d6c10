"""Reading annotation sheets by column NAME from the first row whose first cell is
``Subject`` (notes rows above it skipped), and turning their rows into clips."""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from etils import epath

from tfds_builders.me_common.cells import cell_text, frame_number, is_blank, normalize_column
from tfds_builders.me_common.errors import SheetFormatError
from tfds_builders.me_common.files import find_frame_root, find_sheet
from tfds_builders.me_common.sources import REQUIRED_FIELDS, ClipSource, SheetLayout, Source


@dataclasses.dataclass
class SheetRows:
    """The data rows of a sheet: ``rows[i][field]`` with the 1-based sheet row number."""

    path: epath.Path
    worksheet: str
    header_row: int
    rows: list[tuple[int, dict[str, Any]]]


def read_workbook(path: epath.PathLike, title: str) -> dict[str, np.ndarray]:
    """Every worksheet of an .xlsx file as an object array of raw cell values
    (``header=None``, ``dtype=object``: subject ``'01'`` stays text, ``'/'`` stays, and
    no cell is read as NA).

    Raises:
      SheetFormatError: naming the file when it is not an .xlsx spreadsheet.
    """
    path = epath.Path(path)
    with path.open("rb") as f:
        try:
            # No NA parsing: a cell 'n/a' or 'NA' is reported as written, not as a blank.
            book = pd.read_excel(
                f,
                sheet_name=None,
                header=None,
                dtype=object,
                engine="openpyxl",
                keep_default_na=False,
                na_values=[],
            )
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as e:
            # An .xlsx file is a zip of XML parts: a CSV, an old .xls or a truncated
            # download saved under the sheet's name fails here, far from the file name.
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SheetFormatError(
                f"{title}: {path} is not an .xlsx spreadsheet ({reason}); save the "
                "release's sheet as .xlsx under that name"
            ) from None
    return {str(name): frame.to_numpy(dtype=object) for name, frame in book.items()}


def read_sheet(
    path: epath.PathLike,
    columns: Mapping[str, Sequence[str]],
    title: str,
    required: Sequence[str] = REQUIRED_FIELDS,
) -> SheetRows:
    """Reads the worksheet whose header row has the ``required`` columns.

    The header row is the first row whose first cell is ``Subject`` (notes rows above it
    are skipped), or failing that the first row with a ``Subject`` cell anywhere. Cells
    keep their raw values (:func:`read_workbook`). Fully blank rows are dropped.

    Raises:
      SheetFormatError: naming the columns missing, or the file when it is not .xlsx.
    """
    path = epath.Path(path)
    book = read_workbook(path, title)
    problems = []
    for worksheet, values in book.items():
        header_at = _header_row(values)
        if header_at is None:
            problems.append(f"worksheet {worksheet!r}: no row starting with 'Subject'")
            continue
        header = [normalize_column(v) for v in values[header_at]]
        found: dict[str, int] = {}
        for field, names in columns.items():
            for name in names:
                if name in header:
                    found[field] = header.index(name)
                    break
        missing = [f for f in required if f not in found]
        if missing:
            problems.append(
                f"worksheet {worksheet!r} row {header_at + 1}: no column for "
                + ", ".join(f"{f} ({'/'.join(columns.get(f, (f,)))})" for f in missing)
            )
            continue
        rows = []
        for i in range(header_at + 1, len(values)):
            row = {field: values[i][j] for field, j in found.items()}
            if all(is_blank(v) for v in values[i]):
                continue
            rows.append((i + 1, row))
        return SheetRows(path=path, worksheet=str(worksheet), header_row=header_at + 1, rows=rows)
    raise SheetFormatError(f"{title}: cannot read {path}: " + "; ".join(problems))


def _header_row(values: np.ndarray) -> int | None:
    for i, row in enumerate(values):
        if len(row) and normalize_column(row[0]) == "subject":
            return i
    for i, row in enumerate(values):
        if any(normalize_column(v) == "subject" for v in row):
            return i
    return None


def sheet_clips(
    layout: SheetLayout, sheet: SheetRows
) -> tuple[list[ClipSource], list[dict], list[str]]:
    """The sheet's clips; the rows that cannot name a clip (reported as skipped); and
    notes rows below the header (no subject or filename and no frame number: ignored)."""
    clips, broken, notes = [], [], []
    for row_number, row in sheet.rows:
        where = f"{sheet.path} row {row_number}"
        subject_text = cell_text(row.get("subject"))
        filename = cell_text(row.get("filename"))
        emotion = cell_text(row.get("emotion"))
        if not subject_text or not filename:
            if all(frame_number(row.get(f)) is None for f in ("onset", "apex", "offset")):
                text = " ".join(cell_text(v) for v in row.values() if cell_text(v))
                notes.append(f"{where}: {text[:80]}")
                continue
            broken.append(
                {
                    "id": f"{subject_text or '?'}/{filename or '?'}",
                    "detail": f"row has subject {subject_text!r}, filename {filename!r}",
                    "file": where,
                }
            )
            continue
        subject = layout.subject_id(subject_text)
        clips.append(
            ClipSource(
                source=layout.source,
                subject=subject,
                clip=layout.clip_id(filename, cell_text(row.get("onset"))),
                emotion=emotion,
                action_units=cell_text(row.get("action_units")),
                onset=row.get("onset"),
                apex=row.get("apex"),
                offset=row.get("offset"),
                where=where,
                dir_candidates=tuple(
                    tuple(parts) for parts in layout.clip_dirs(subject_text, filename, emotion)
                ),
                offset_from_disk=layout.offset_from_disk,
            )
        )
    return clips, broken, notes


def load_sheet_source(layout: SheetLayout, manual_dir: epath.PathLike) -> tuple[Source, list[dict]]:
    """Finds and reads a sheet-based release inside ``manual_dir``."""
    manual_dir = epath.Path(manual_dir)
    sheet_path = find_sheet(manual_dir, layout.sheet_names, layout.title)
    sheet = read_sheet(sheet_path, layout.columns, layout.title)
    clips, broken, notes = sheet_clips(layout, sheet)
    root = find_frame_root(
        manual_dir,
        clips,
        layout.title,
        preferred_names=layout.frame_root_names,
        example=layout.example_frame,
    )
    source = Source(
        name=layout.source,
        title=layout.title,
        clips=clips,
        frame_root=root,
        sheet=sheet_path,
        rows=len(sheet.rows),
        frame_root_names=layout.frame_root_names,
        ignored_rows=notes,
    )
    return source, broken
