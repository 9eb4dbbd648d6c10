"""Releases described declaratively: :class:`SheetLayout` (how a release names its sheet,
columns, subjects and frame folders), :class:`ClipSource` (one clip as the release
describes it, before any check) and :class:`Source` (a release found in ``manual_dir``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from etils import epath

from tfds_builders.me_common.cells import subject_number


@dataclasses.dataclass(frozen=True)
class ClipSource:
    """One clip as its release describes it, before any check.

    ``onset``/``apex``/``offset`` are the raw sheet cells; ``dir_candidates`` are paths
    relative to the frame root, tried in order (``'*'`` matches any folder, names match
    without case when no exact match exists). ``label``, when set, is the clip's class
    as a published clip list gives it (a composite's official list): it is used instead
    of the config's class map.
    """

    source: str
    subject: str
    clip: str
    emotion: str
    action_units: str
    onset: Any
    apex: Any
    offset: Any
    where: str
    dir_candidates: tuple[tuple[str, ...], ...]
    apex_annotated: bool = True
    offset_from_disk: bool = True
    label: str | None = None

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.clip}"


@dataclasses.dataclass(frozen=True)
class SheetLayout:
    """How one release names its sheet, columns, subjects and frame folders.

    Attributes:
      source: short name stored in each record's ``source`` feature (``'casme2'``).
      title: the release's name in messages (``'CASME II'``).
      sheet_names: accepted sheet file names, most preferred first.
      columns: field -> accepted column names (compared by :func:`normalize_column`);
        fields ``subject``, ``filename``, ``onset``, ``apex``, ``offset``, ``emotion`` are
        required, ``action_units`` is optional.
      subject_id: sheet subject cell text -> the subject id used in keys.
      clip_dirs: ``(subject text, filename, emotion)`` -> frame folders relative to the
        frame root, in the order to try.
      clip_id: ``(filename, onset cell text)`` -> the clip id used in keys.
      frame_root_names: names of frame roots in the release, most preferred first (a
        tie between candidate roots goes to the earlier name).
      example_frame: an example frame path relative to ``manual_dir``, for messages.
      offset_from_disk: a clip folder holds that clip only, so a missing offset can be
        taken from its last frame (False where a folder holds a whole video).
    """

    source: str
    title: str
    sheet_names: tuple[str, ...]
    columns: Mapping[str, tuple[str, ...]]
    subject_id: Callable[[str], str]
    clip_dirs: Callable[[str, str, str], Sequence[tuple[str, ...]]]
    clip_id: Callable[[str, str], str] = lambda filename, onset: filename
    frame_root_names: tuple[str, ...] = ()
    example_frame: str = ""
    offset_from_disk: bool = True


REQUIRED_FIELDS = ("subject", "filename", "onset", "apex", "offset", "emotion")

# Column names as the releases write them (normalized: lower case, no spaces).
COMMON_COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub"),
    "filename": ("filename", "fiename", "seq"),
    "onset": ("onsetframe", "onset", "onsetf"),
    "apex": ("apexframe", "apex", "apexf", "apexf1"),
    "offset": ("offsetframe", "offset", "offsetf"),
    "action_units": ("actionunits", "au", "aus"),
    "emotion": ("estimatedemotion", "emotion"),
}


@dataclasses.dataclass
class Source:
    """A release found inside ``manual_dir``: its clips and where its files are."""

    name: str
    title: str
    clips: list[ClipSource]
    frame_root: epath.Path
    sheet: epath.Path | None = None
    rows: int = 0
    frame_root_names: tuple[str, ...] = ()
    face_crop: bool | None = None  # None: the config's face_crop
    ignored_rows: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "sheet": os.fspath(self.sheet) if self.sheet else None,
            "frames": os.fspath(self.frame_root),
            "rows": self.rows,
            "ignored_rows": self.ignored_rows,
            "face_crop": self.face_crop,
        }


def subject_folder_names(text: str, *patterns: str) -> list[str]:
    """Folder names a subject may have: ``patterns`` formatted with the subject number
    (``'sub{:02d}'``), then ``text`` itself, without duplicates."""
    number = subject_number(text)
    names = [p.format(number) for p in patterns] if number is not None else []
    return list(dict.fromkeys([*names, text]))
