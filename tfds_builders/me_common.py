"""What every micro-expression builder does alike.

A builder describes its release declaratively (a :class:`SheetLayout`: sheet file names,
column names, subject and folder naming); this module does the rest:

1. find the annotation sheet anywhere inside ``manual_dir`` by its known file names
   (:func:`find_sheet`), read it by column NAME from the first row whose first cell is
   ``Subject`` (:func:`read_sheet`; notes rows above it are skipped);
2. find the frame root, the folder that holds the subject (or emotion) folders, by
   probing the sheet's clips against every candidate folder (:func:`find_frame_root`);
3. check each clip (:func:`check_clip`): every clip is *kept*, kept with an *estimated*
   apex (the middle of onset..offset), *skipped* with its reason, or *excluded* by the
   config's class map (not an error);
4. load the frames the record needs (``onset_frame_numbers`` / ``apex_frame_numbers`` of
   :mod:`tfds_builders.clip_features`), grayscale -> RGB, optional Haar face crop (one box
   per clip, from the onset frame), resize to the config's square ``image_size``;
5. write the build report (:class:`BuildReport`): ``build_report.json`` in the builder's
   ``data_dir`` version folder, with counts by outcome and reason and the clips per reason.

Strict mode (builder kwarg ``strict=True`` or environment ``MMNET_TFDS_STRICT=1``) raises
:class:`BadClipError` on the first clip that would be skipped or estimated because of bad
data, naming the clip and the file.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from mmnet_jax import frames as frames_lib
from tfds_builders import clip_features as cf

REPORT_FILENAME = "build_report.json"
STRICT_ENV = "MMNET_TFDS_STRICT"
IMAGE_SUFFIXES = frames_lib.IMAGE_SUFFIXES

# Outcomes of a clip.
KEPT = "kept"
ESTIMATED = "estimated"
SKIPPED = "skipped"
EXCLUDED = "excluded"
OUTCOMES = (KEPT, ESTIMATED, SKIPPED, EXCLUDED)

# Reasons (stable strings: the report and the tests use them).
EXCLUDED_BY_CLASS_MAP = "excluded by class map"
APEX_NOT_A_NUMBER = "apex not a number"
APEX_OUT_OF_RANGE = "apex outside [onset, offset]"
ONSET_EQUALS_APEX = "onset == apex"
OFFSET_FROM_DISK = "offset missing or before onset: last frame on disk used"
NO_APEX_ANNOTATION = "no apex annotation: middle frame used"
ONSET_NOT_A_NUMBER = "onset not a number"
OFFSET_NOT_A_NUMBER = "offset not a number"
OFFSET_BEFORE_ONSET = "offset before onset"
ONSET_EQUALS_OFFSET = "onset == offset"
NO_SUBJECT_OR_CLIP = "subject or filename missing"
FOLDER_NOT_FOUND = "frames folder not found"
MISSING_FRAMES = "missing frames"
UNREADABLE_FRAME = "unreadable frame"
DUPLICATE_CLIP = "duplicate clip"
APEX_REASONS = (APEX_NOT_A_NUMBER, APEX_OUT_OF_RANGE, ONSET_EQUALS_APEX, NO_APEX_ANNOTATION)


class SourceNotFoundError(FileNotFoundError):
    """The sheet or the frame folder of a release is not inside ``manual_dir``."""


class SheetFormatError(ValueError):
    """The sheet has no header row with the columns the builder reads."""


class BadClipError(ValueError):
    """Strict mode: a clip would have been skipped or estimated."""


class NoClipsError(RuntimeError):
    """No clip could be built (the report says why)."""


# ---------------------------------------------------------------------------------------
# Configs


@dataclasses.dataclass(eq=False)
class MeConfig(tfds.core.BuilderConfig):
    """A task over one release: its classes and how sheet emotions map onto them.

    Attributes:
      class_names: the ``ClassLabel`` names, in label order.
      class_map: ``(emotion, class name)`` pairs; emotions are matched lower-cased and
        stripped. A key ``"<source>:<emotion>"`` applies to one source only (composites).
      image_size: side of the square RGB frames stored (default 224).
      frames_per_side: frames stored per side (onset side and apex side).
      face_crop: crop each clip to the Haar face box of its onset frame.
    """

    class_names: tuple[str, ...] = ()
    class_map: tuple[tuple[str, str], ...] = ()
    image_size: int = cf.DEFAULT_IMAGE_SIZE
    frames_per_side: int = cf.DEFAULT_FRAMES_PER_SIDE
    face_crop: bool = False

    def label_of(self, source: str, emotion: str) -> str | None:
        """The class of a sheet emotion, or None when the task leaves it out."""
        key = normalize_emotion(emotion)
        mapping = dict(self.class_map)
        return mapping.get(f"{source}:{key}", mapping.get(key))


def make_config(
    name: str,
    class_map: Mapping[str, str],
    class_names: Sequence[str],
    description: str,
    face_crop: bool = False,
) -> MeConfig:
    """A predefined config; checks that the map only targets declared classes."""
    unknown = sorted(set(class_map.values()) - set(class_names))
    if unknown:
        raise ValueError(f"{name}: class map targets undeclared classes {unknown}")
    return MeConfig(
        name=name,
        description=description,
        class_names=tuple(class_names),
        class_map=tuple((normalize_emotion(k), v) for k, v in class_map.items()),
        face_crop=face_crop,
    )


def derived_config(
    base: MeConfig,
    image_size: int | None = None,
    frames_per_side: int | None = None,
    face_crop: bool | None = None,
) -> MeConfig:
    """``base`` with other data options, under a name of its own (its own data folder).

    ``5class`` at 32 px -> ``5class_32px``; 3 frames per side -> ``..._3f``; face crop
    switched on or off against the predefined default -> ``..._crop`` / ``..._nocrop``.
    """
    changes: dict[str, Any] = {}
    parts = []
    if image_size is not None and image_size != base.image_size:
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        changes["image_size"] = int(image_size)
        parts.append(f"{int(image_size)}px")
    if frames_per_side is not None and frames_per_side != base.frames_per_side:
        if frames_per_side < 1:
            raise ValueError(f"frames_per_side must be at least 1, got {frames_per_side}")
        changes["frames_per_side"] = int(frames_per_side)
        parts.append(f"{int(frames_per_side)}f")
    if face_crop is not None and bool(face_crop) != base.face_crop:
        changes["face_crop"] = bool(face_crop)
        parts.append("crop" if face_crop else "nocrop")
    if not changes:
        return base
    return dataclasses.replace(base, name="_".join([base.name, *parts]), **changes)


def env_strict() -> bool:
    """Strict mode from the environment (``MMNET_TFDS_STRICT=1``)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------------------
# Cell values


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


# ---------------------------------------------------------------------------------------
# Releases described declaratively


@dataclasses.dataclass(frozen=True)
class ClipSource:
    """One clip as its release describes it, before any check.

    ``onset``/``apex``/``offset`` are the raw sheet cells; ``dir_candidates`` are paths
    relative to the frame root, tried in order (``'*'`` matches any folder, names match
    without case when no exact match exists).
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


# ---------------------------------------------------------------------------------------
# Finding files inside manual_dir

# Folders that hold frames, never sheets or other releases: not searched for sheets.
_FRAME_FOLDER = re.compile(
    r"^(sub\d+|s\d+|\d+|spno\.\d+|ep\d.*|color|depth|\d+_\d+_\d+|s\d+-\d+-\d+)$", re.I
)


def walk_dirs(top: epath.Path, max_depth: int) -> Iterator[tuple[epath.Path, int]]:
    """Folders under ``top`` breadth first (``top`` first), skipping frame folders."""
    queue = collections.deque([(top, 0)])
    while queue:
        folder, depth = queue.popleft()
        yield folder, depth
        if depth >= max_depth:
            continue
        for child in list_dirs(folder):
            if not _FRAME_FOLDER.match(child.name):
                queue.append((child, depth + 1))


def list_dirs(folder: epath.Path) -> list[epath.Path]:
    try:
        return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def find_sheet(
    manual_dir: epath.PathLike, names: Sequence[str], title: str, max_depth: int = 4
) -> epath.Path:
    """The annotation sheet: the shallowest file with one of ``names`` (earlier names win).

    Raises:
      SourceNotFoundError: naming the files expected and where.
    """
    manual_dir = epath.Path(manual_dir)
    wanted = {n.lower(): i for i, n in enumerate(names)}
    for folder, _ in walk_dirs(manual_dir, max_depth - 1):
        try:
            files = [p for p in folder.iterdir() if p.name.lower() in wanted]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        files = [p for p in files if p.is_file()]
        if files:
            return min(files, key=lambda p: (wanted[p.name.lower()], p.name))
    raise SourceNotFoundError(
        f"{title}: no annotation sheet found in {manual_dir} (searched {max_depth} folder "
        f"levels deep). Expected one of: {', '.join(names)}. Put the sheet of the release "
        f"inside that folder (see the builder's MANUAL_DOWNLOAD_INSTRUCTIONS)."
    )


class FolderIndex:
    """Cached folder listings, for case-tolerant lookups and frame listings."""

    def __init__(self) -> None:
        self._children: dict[str, dict[str, list[str]]] = {}
        self._frames: dict[str, dict[int, epath.Path]] = {}

    def children(self, folder: epath.Path) -> dict[str, list[str]]:
        """Sub-folder names of ``folder``, keyed by stripped lower-cased name."""
        key = os.fspath(folder)
        if key not in self._children:
            found: dict[str, list[str]] = collections.defaultdict(list)
            for child in list_dirs(folder):
                found[child.name.strip().lower()].append(child.name)
            self._children[key] = dict(found)
        return self._children[key]

    def child(self, folder: epath.Path, name: str) -> list[epath.Path]:
        """``folder/name`` if it exists (exact name first, then any case), else []."""
        if name == "*":
            return [folder / n for names in sorted(self.children(folder).values()) for n in names]
        names = self.children(folder).get(name.strip().lower(), [])
        exact = [n for n in names if n == name]
        return [folder / n for n in (exact or sorted(names))]

    def resolve(self, root: epath.Path, candidates: Iterable[tuple[str, ...]]) -> epath.Path | None:
        """The first candidate relative folder that exists under ``root``."""
        for parts in candidates:
            folders = [root]
            for part in parts:
                folders = [c for f in folders for c in self.child(f, part)]
                if not folders:
                    break
            if folders:
                return folders[0]
        return None

    def frames(self, folder: epath.Path) -> dict[int, epath.Path]:
        """Image files of ``folder`` keyed by frame number (the last number in the name)."""
        key = os.fspath(folder)
        if key not in self._frames:
            found: dict[int, epath.Path] = {}
            try:
                files = sorted(folder.iterdir(), key=lambda p: (frames_lib.suffix_rank(p), p.name))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                files = []
            for path in files:
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                number = frames_lib.frame_number(path.name)
                if number is not None:
                    found.setdefault(number, path)
            self._frames[key] = found
        return self._frames[key]


def find_frame_root(
    manual_dir: epath.PathLike,
    clips: Sequence[ClipSource],
    title: str,
    preferred_names: Sequence[str] = (),
    example: str = "",
    index: FolderIndex | None = None,
    max_depth: int = 4,
    sample: int = 40,
) -> epath.Path:
    """The folder under which the clips' ``dir_candidates`` resolve best.

    Every folder up to ``max_depth`` levels under ``manual_dir`` (``manual_dir`` itself
    included) that holds a first component of some clip's candidates is scored by how
    many of an even sample of the clips resolve under it; ties go to the earlier name in
    ``preferred_names``, then to the shallower folder.

    Raises:
      SourceNotFoundError: when no clip resolves anywhere.
    """
    manual_dir = epath.Path(manual_dir)
    index = index or FolderIndex()
    step = max(1, len(clips) // sample)
    probe = list(clips)[::step][:sample]
    firsts = {c[0].strip().lower() for clip in probe for c in clip.dir_candidates if c}
    wildcard = "*" in firsts
    ranks = {n.lower(): i for i, n in enumerate(preferred_names)}
    best: tuple[tuple[int, int, int, str], epath.Path] | None = None
    queue = collections.deque([(manual_dir, 0)])
    while queue:
        folder, depth = queue.popleft()
        children = index.children(folder)
        matches = wildcard or any(name in children for name in firsts)
        if matches:
            score = sum(index.resolve(folder, c.dir_candidates) is not None for c in probe)
            if score:
                order = (-score, ranks.get(folder.name.lower(), len(ranks)), depth, folder.name)
                if best is None or order < best[0]:
                    best = (order, folder)
        if depth >= max_depth:
            continue
        for lower, names in sorted(children.items()):
            if lower in firsts or _FRAME_FOLDER.match(lower):
                continue  # a subject or clip folder: no frame root below it
            for name in names:
                queue.append((folder / name, depth + 1))
    if best is None:
        hint = f" e.g. {manual_dir / example}" if example else ""
        raise SourceNotFoundError(
            f"{title}: no frame folder found in {manual_dir} (searched {max_depth} folder "
            f"levels deep) holding the sheet's clips: expected frames laid out as{hint}. "
            f"See the builder's MANUAL_DOWNLOAD_INSTRUCTIONS."
        )
    return best[1]


# ---------------------------------------------------------------------------------------
# Reading sheets


@dataclasses.dataclass
class SheetRows:
    """The data rows of a sheet: ``rows[i][field]`` with the 1-based sheet row number."""

    path: epath.Path
    worksheet: str
    header_row: int
    rows: list[tuple[int, dict[str, Any]]]


def read_sheet(path: epath.PathLike, columns: Mapping[str, Sequence[str]], title: str) -> SheetRows:
    """Reads the worksheet whose header row has the required columns.

    The header row is the first row whose first cell is ``Subject`` (notes rows above it
    are skipped), or failing that the first row with a ``Subject`` cell anywhere. Cells
    keep their raw values (``dtype=object``: subject ``'01'`` stays text, ``'/'`` stays).
    Fully blank rows are dropped.

    Raises:
      SheetFormatError: naming the columns missing.
    """
    path = epath.Path(path)
    with path.open("rb") as f:
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
    problems = []
    for worksheet, frame in book.items():
        values = frame.to_numpy(dtype=object)
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
        missing = [f for f in REQUIRED_FIELDS if f not in found]
        if missing:
            problems.append(
                f"worksheet {worksheet!r} row {header_at + 1}: no column for "
                + ", ".join(f"{f} ({'/'.join(columns[f])})" for f in missing)
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


def subject_folder_names(text: str, *patterns: str) -> list[str]:
    """Folder names a subject may have: ``patterns`` formatted with the subject number
    (``'sub{:02d}'``), then ``text`` itself, without duplicates."""
    number = subject_number(text)
    names = [p.format(number) for p in patterns] if number is not None else []
    return list(dict.fromkeys([*names, text]))


# ---------------------------------------------------------------------------------------
# Checking clips


@dataclasses.dataclass
class ClipPlan:
    """A clip that passed the checks: what to load."""

    clip: ClipSource
    label: str
    folder: epath.Path
    onset: int
    apex: int
    offset: int
    apex_estimated: bool
    estimated_reasons: list[str]
    notes: list[str]


@dataclasses.dataclass
class ClipProblem:
    """Why a clip is not written as annotated."""

    outcome: str
    reason: str
    detail: str
    file: str
    bad: bool = True  # False for outcomes that are not data faults (class map, SMIC apex)


def middle_frame(onset: int, offset: int) -> int:
    """The estimated apex: the middle of onset..offset, rounded up (never the onset)."""
    return onset + (offset - onset + 1) // 2


def check_clip(
    clip: ClipSource, config: MeConfig, root: epath.Path, index: FolderIndex
) -> tuple[ClipPlan | None, list[ClipProblem]]:
    """Runs the checks of the module docstring on one clip.

    Returns ``(plan, problems)``: ``plan`` is None when the clip is skipped or excluded
    (``problems[0]`` says why); otherwise ``problems`` lists the estimations made.
    """
    label = config.label_of(clip.source, clip.emotion)
    if label is None:
        return None, [
            ClipProblem(
                EXCLUDED,
                EXCLUDED_BY_CLASS_MAP,
                f"emotion {clip.emotion!r} is not in the {config.name} map",
                clip.where,
                bad=False,
            )
        ]

    def skip(reason: str, detail: str, file: str | None = None):
        return None, [ClipProblem(SKIPPED, reason, detail, file or clip.where)]

    onset = frame_number(clip.onset)
    if onset is None:
        return skip(ONSET_NOT_A_NUMBER, f"onset is {cell_text(clip.onset)!r}")
    folder = index.resolve(root, clip.dir_candidates)
    if folder is None:
        tried = ", ".join("/".join(c) for c in clip.dir_candidates[:4])
        return skip(FOLDER_NOT_FOUND, f"none of {tried} under {root}", os.fspath(root))
    frames = index.frames(folder)
    problems: list[ClipProblem] = []

    offset = frame_number(clip.offset)
    if offset is None or offset < onset:
        reason = OFFSET_NOT_A_NUMBER if offset is None else OFFSET_BEFORE_ONSET
        after = [n for n in frames if n > onset] if clip.offset_from_disk else []
        if not after:
            return skip(reason, f"offset is {cell_text(clip.offset)!r}, onset {onset}")
        problems.append(
            ClipProblem(
                ESTIMATED,
                OFFSET_FROM_DISK,
                f"offset {cell_text(clip.offset)!r} replaced by last frame {max(after)}",
                clip.where,
            )
        )
        offset = max(after)
    if offset == onset:
        return skip(ONSET_EQUALS_OFFSET, f"onset and offset are both {onset}")

    apex = frame_number(clip.apex)
    if not clip.apex_annotated:
        # The frame nearest the middle of onset..offset that is on disk.
        middle = middle_frame(onset, offset)
        apex = min((n for n in frames if onset < n <= offset), key=lambda n: (abs(n - middle), n))
        problems.append(
            ClipProblem(
                ESTIMATED,
                NO_APEX_ANNOTATION,
                f"the release has no apex; frame {apex} used",
                clip.where,
                bad=False,
            )
        )
    elif apex is None:
        problems.append(
            ClipProblem(
                ESTIMATED, APEX_NOT_A_NUMBER, f"apex is {cell_text(clip.apex)!r}", clip.where
            )
        )
    elif not onset <= apex <= offset:
        problems.append(
            ClipProblem(
                ESTIMATED,
                APEX_OUT_OF_RANGE,
                f"apex {apex} outside [{onset}, {offset}]",
                clip.where,
            )
        )
    elif apex == onset:
        problems.append(
            ClipProblem(ESTIMATED, ONSET_EQUALS_APEX, f"onset and apex are both {apex}", clip.where)
        )
    apex_estimated = any(p.reason in APEX_REASONS for p in problems)
    if apex_estimated and clip.apex_annotated:
        apex = middle_frame(onset, offset)
        problems[-1].detail += f"; apex set to {apex}"
    assert apex is not None

    needed = cf.onset_frame_numbers(onset, apex, config.frames_per_side) + cf.apex_frame_numbers(
        onset, apex, config.frames_per_side
    )
    missing = sorted({n for n in needed if n not in frames})
    if missing:
        return skip(
            MISSING_FRAMES,
            f"frame{'s' * (len(missing) > 1)} {', '.join(map(str, missing))} not in {folder}",
            os.fspath(folder),
        )
    plan = ClipPlan(
        clip=clip,
        label=label,
        folder=folder,
        onset=onset,
        apex=apex,
        offset=offset,
        apex_estimated=apex_estimated,
        estimated_reasons=[p.reason for p in problems],
        notes=[],
    )
    return plan, problems


# ---------------------------------------------------------------------------------------
# Frames


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier | None:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder:
        return None
    path = os.path.join(folder, "haarcascade_frontalface_default.xml")
    if not os.path.exists(path):
        return None
    cascade = cv2.CascadeClassifier(path)
    return None if cascade.empty() else cascade


def detect_face(rgb: np.ndarray, margin: float = 0.1) -> tuple[int, int, int, int] | None:
    """The largest Haar-cascade face of an RGB frame as a square ``(x0, y0, x1, y1)`` box
    grown by ``margin`` of its side on each side (clipped to the frame), or None.

    Raises:
      FileNotFoundError: when this OpenCV ships no Haar cascade (opencv 5.x wheels).
    """
    cascade = _face_cascade()
    if cascade is None:
        raise FileNotFoundError(
            "no haarcascade_frontalface_default.xml in cv2.data.haarcascades "
            "(opencv-python-headless 4.x ships it, 5.x does not)"
        )
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    h, w = gray.shape
    min_side = max(24, min(h, w) // 6)
    if min(h, w) < min_side:
        return None
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side,) * 2)
    if len(faces) == 0:
        return None
    x, y, fw, fh = max((tuple(int(v) for v in f) for f in faces), key=lambda f: f[2] * f[3])
    side = int(round(max(fw, fh) * (1 + 2 * margin)))
    cx, cy = x + fw / 2, y + fh / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    return max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)


def crop(rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return rgb
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def load_record(
    plan: ClipPlan, config: MeConfig, index: FolderIndex, face_crop: bool | None = None
) -> cf.ClipRecord:
    """Reads, crops (``face_crop``, default the config's) and resizes a checked clip.

    Raises:
      OSError: naming the frame that cannot be decoded.
    """
    frames = index.frames(plan.folder)
    onset_numbers = cf.onset_frame_numbers(plan.onset, plan.apex, config.frames_per_side)
    apex_numbers = cf.apex_frame_numbers(plan.onset, plan.apex, config.frames_per_side)
    cache: dict[int, np.ndarray] = {}
    for n in onset_numbers + apex_numbers:
        if n not in cache:
            try:
                cache[n] = frames_lib.read_rgb(frames[n])
            except frames_lib.FrameError as e:
                raise OSError(str(e)) from None
    box = None
    if config.face_crop if face_crop is None else face_crop:
        try:
            box = detect_face(cache[plan.onset])
        except FileNotFoundError as e:
            plan.notes.append(f"face crop unavailable ({e}): full frame")
        else:
            if box is None:
                plan.notes.append(
                    f"no face found in onset frame {frames[plan.onset].name}: full frame"
                )
    size = config.image_size
    sized = {n: frames_lib.resize_square(crop(img, box), size) for n, img in cache.items()}
    clip = plan.clip
    return cf.ClipRecord(
        subject=clip.subject,
        clip=clip.clip,
        source=clip.source,
        emotion=clip.emotion,
        action_units=clip.action_units,
        label=plan.label,
        onset=plan.onset,
        apex=plan.apex,
        offset=plan.offset,
        apex_estimated=plan.apex_estimated,
        onset_frames=[sized[n] for n in onset_numbers],
        apex_frames=[sized[n] for n in apex_numbers],
        onset_numbers=onset_numbers,
        apex_numbers=apex_numbers,
    )


# ---------------------------------------------------------------------------------------
# The report


class BuildReport:
    """Counts by outcome and reason, the clips per reason, and per-clip notes.

    JSON layout (``build_report.json``)::

        {"dataset", "config", "version", "manual_dir", "strict",
         "sources": {name: {"sheet", "frames", "rows"}},
         "counts": {"clips", "written", "kept", "estimated", "skipped", "excluded"},
         "labels": {class name: records written},
         "reasons": {outcome: {reason: count}},
         "clips": {outcome: {reason: [{"id", "detail", "file"}]}},
         "notes": [{"id", "note"}]}

    ``clips`` covers every clip of the sources: kept + estimated + skipped + excluded.
    An estimated clip is counted under its first reason; its detail lists them all.
    """

    def __init__(self, dataset: str, config: MeConfig, version: str, manual_dir: str, strict: bool):
        self.dataset = dataset
        self.config = config
        self.version = version
        self.manual_dir = manual_dir
        self.strict = strict
        self.sources: dict[str, dict[str, Any]] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.labels: collections.Counter[str] = collections.Counter()
        self.reasons: dict[str, collections.Counter[str]] = {
            o: collections.Counter() for o in OUTCOMES[1:]
        }
        self.clips: dict[str, dict[str, list[dict[str, str]]]] = {o: {} for o in OUTCOMES[1:]}
        self.notes: list[dict[str, str]] = []

    def add(self, clip_id: str, outcome: str, problems: Sequence[ClipProblem] = (), label=None):
        self.counts[outcome] += 1
        if label is not None:
            self.labels[label] += 1
        if outcome == KEPT or not problems:
            return
        first = problems[0]
        self.reasons[outcome][first.reason] += 1
        detail = "; ".join(p.detail if p is first else f"{p.reason}: {p.detail}" for p in problems)
        self.clips[outcome].setdefault(first.reason, []).append(
            {"id": clip_id, "detail": detail, "file": first.file}
        )

    def note(self, clip_id: str, text: str) -> None:
        self.notes.append({"id": clip_id, "note": text})

    def to_dict(self) -> dict[str, Any]:
        counts = {o: self.counts[o] for o in OUTCOMES}
        return {
            "dataset": self.dataset,
            "config": self.config.name,
            "version": self.version,
            "manual_dir": self.manual_dir,
            "strict": self.strict,
            "sources": self.sources,
            "counts": {
                "clips": sum(counts.values()),
                "written": counts[KEPT] + counts[ESTIMATED],
                **counts,
            },
            "labels": {name: self.labels[name] for name in self.config.class_names},
            "reasons": {o: dict(sorted(c.items())) for o, c in self.reasons.items()},
            "clips": self.clips,
            "notes": self.notes,
        }

    def write(self, folder: epath.PathLike) -> epath.Path:
        path = epath.Path(folder) / REPORT_FILENAME
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return path


def summarize(report: Mapping[str, Any], max_clips: int = 5) -> str:
    """A few lines for people: counts, labels, then each reason with its first clips."""
    counts = report["counts"]
    lines = [
        f"{report['dataset']}/{report['config']}: {counts['clips']} clips, "
        f"{counts['written']} written ({counts['kept']} kept, {counts['estimated']} with an "
        f"estimated apex), {counts['skipped']} skipped, {counts['excluded']} excluded by "
        "the class map",
        "  labels: " + ", ".join(f"{k} {v}" for k, v in report["labels"].items()),
    ]
    for outcome in (ESTIMATED, SKIPPED, EXCLUDED):
        for reason, clips in report["clips"].get(outcome, {}).items():
            shown = ", ".join(c["id"] for c in clips[:max_clips])
            more = f", ... (+{len(clips) - max_clips})" if len(clips) > max_clips else ""
            lines.append(f"  {outcome}, {reason}: {len(clips)}: {shown}{more}")
    if report.get("notes"):
        lines.append(f"  notes: {len(report['notes'])} (e.g. {report['notes'][0]['note']})")
    return "\n".join(lines)


def read_report(builder: tfds.core.DatasetBuilder) -> dict[str, Any]:
    """The build report of a prepared builder."""
    return json.loads((epath.Path(builder.data_dir) / REPORT_FILENAME).read_text())


# ---------------------------------------------------------------------------------------
# The builder base


class ClipBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared body of the micro-expression builders (one record per clip, one split).

    Subclasses set ``BUILDER_CONFIGS`` (of :class:`MeConfig`), ``MANUAL_DOWNLOAD_INSTRUCTIONS``,
    ``HOMEPAGE`` and either ``LAYOUT`` (a sheet-based release) or their own
    :meth:`_find_sources`.

    Extra constructor keywords (also through ``tfds.builder(name, **kwargs)``):
      image_size, frames_per_side, face_crop: data options; a value other than the
        config's makes a derived config with its own name (``5class_32px``), so each
        variant has its own data folder.
      strict: fail on the first bad clip (default: environment ``MMNET_TFDS_STRICT``).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = ""
    LAYOUT: SheetLayout | None = None

    def __init__(
        self,
        *,
        config: str | MeConfig | None = None,
        image_size: int | None = None,
        frames_per_side: int | None = None,
        face_crop: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ):
        if image_size is not None or frames_per_side is not None or face_crop is not None:
            base = config
            if base is None:
                base = self.BUILDER_CONFIGS[0]
            elif isinstance(base, str):
                base = self.builder_configs.get(base.split(":")[0])
                if base is None:
                    raise ValueError(
                        f"{self.name}: unknown config {config!r}; "
                        f"known: {', '.join(self.builder_configs)}"
                    )
            config = derived_config(base, image_size, frames_per_side, face_crop)
        self.strict = env_strict() if strict is None else bool(strict)
        super().__init__(config=config, **kwargs)

    @property
    def me_config(self) -> MeConfig:
        config = self.builder_config
        assert isinstance(config, MeConfig)
        return config

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.me_config
        return self.dataset_info_from_configs(
            features=cf.clip_features(
                list(config.class_names), config.image_size, config.frames_per_side
            ),
            homepage=self.HOMEPAGE or None,
        )

    def _find_sources(self, manual_dir: epath.Path) -> tuple[list[Source], list[dict]]:
        """The releases to read and the sheet rows that name no clip."""
        if self.LAYOUT is None:
            raise NotImplementedError
        source, broken = load_sheet_source(self.LAYOUT, manual_dir)
        return [source], broken

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = epath.Path(os.path.abspath(dl_manager.manual_dir))
        sources, broken = self._find_sources(manual_dir)
        return {"train": self._generate_examples(sources, broken, manual_dir)}

    def _generate_examples(self, sources: list[Source], broken: list[dict], manual_dir):
        config = self.me_config
        report = BuildReport(
            self.name, config, str(self.version), os.fspath(manual_dir), self.strict
        )
        index = FolderIndex()
        seen: set[str] = set()
        for item in broken:
            reason = item.get("reason", NO_SUBJECT_OR_CLIP)
            problem = ClipProblem(SKIPPED, reason, item["detail"], item["file"])
            self._fail_if_strict(item["id"], problem)
            report.add(item["id"], SKIPPED, [problem])
        for source in sources:
            report.sources[source.name] = source.describe()
            if source.face_crop is None:
                report.sources[source.name]["face_crop"] = config.face_crop
            for clip in source.clips:
                if clip.key in seen:
                    problem = ClipProblem(
                        SKIPPED, DUPLICATE_CLIP, "an earlier row has the same key", clip.where
                    )
                    self._fail_if_strict(clip.key, problem)
                    report.add(clip.key, SKIPPED, [problem])
                    continue
                seen.add(clip.key)
                plan, problems = check_clip(clip, config, source.frame_root, index)
                for problem in problems:
                    self._fail_if_strict(clip.key, problem)
                if plan is None:
                    report.add(clip.key, problems[0].outcome, problems)
                    continue
                try:
                    record = load_record(plan, config, index, source.face_crop)
                except OSError as e:
                    problem = ClipProblem(SKIPPED, UNREADABLE_FRAME, str(e), os.fspath(plan.folder))
                    self._fail_if_strict(clip.key, problem)
                    report.add(clip.key, SKIPPED, [problem])
                    continue
                outcome = ESTIMATED if plan.estimated_reasons else KEPT
                report.add(clip.key, outcome, problems, label=plan.label)
                for text in plan.notes:
                    report.note(clip.key, text)
                yield record.to_example(config.frames_per_side)
        path = report.write(self.data_dir)
        summary = summarize(report.to_dict())
        logging.info("Build report written to %s\n%s", path, summary)
        print(summary, flush=True)
        if not report.counts[KEPT] + report.counts[ESTIMATED]:
            raise NoClipsError(f"{self.name}/{config.name}: no clip could be built.\n{summary}")

    def _fail_if_strict(self, clip_id: str, problem: ClipProblem) -> None:
        if self.strict and problem.bad:
            raise BadClipError(
                f"strict mode: clip {clip_id} ({problem.file}): {problem.reason}: {problem.detail}"
            )
