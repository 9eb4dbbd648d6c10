"""Sheet cell values -> text, frame numbers and subject numbers, whatever type the
spreadsheet reader gave (int, float, ``'46.0'``, ``'/'``, blank, NaN)."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np


def normalize_emotion(value: Any) -> str:
    return cell_text(value).lower()


def normalize_column(value: Any) -> str:
    """``'Onset Frame'`` -> ``'onsetframe'``: column names compared without case or spaces."""
    return re.sub(r"[^a-z0-9]", "", cell_text(value).lower())


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def cell_text(value: Any) -> str:
    """Sheet cell -> text: integral numbers without ``.0``, blanks as ``''``."""
    if is_blank(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(float(value))
    return str(value).strip()


def frame_number(value: Any) -> int | None:
    """Sheet cell -> frame number, or None when it is not a whole number (``'/'``)."""
    if is_blank(value) or isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else None
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return int(float(text))
    return None


def subject_number(text: str) -> int | None:
    """The number in a subject id (``'sub04'``, ``'04'``, ``'spNO.12'``), if any."""
    found = re.findall(r"\d+", text)
    return int(found[-1]) if found else None
