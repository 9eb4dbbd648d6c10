"""The (onset, apex) frame pairs that predict and explain take, and their flags.

A pair is given one of three ways:

- ``--onset A.jpg --apex B.jpg``: two image files;
- ``--clip_dir D --onset_frame N --apex_frame M``: a clip folder whose frame files carry
  their number as the last digit group of the file stem (``reg_img46.jpg``,
  ``006_05562.jpg``, ``46.jpg``, ``img046.bmp``; see :func:`mmnet_jax.frames.frame_number`);
- ``--csv pairs.csv``: a batch, one pair a row, with columns ``onset,apex`` (image paths)
  or ``clip_dir,onset_frame,apex_frame``, and an optional ``id``. Relative paths are
  read relative to the CSV file's folder.

Problems with what the user gave raise :class:`mmnet_jax.cli.UserError` (one ``error:``
line, exit status 2).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Any

from absl import flags

from mmnet_jax import cli, frames


@dataclasses.dataclass
class Pair:
    """One (onset, apex) pair to run: an id for reports and file names, two image paths."""

    id: str
    onset: Path
    apex: Path
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """``id``, ``onset``, ``apex`` (paths as text) and any extra fields (clip, frames)."""
        return {"id": self.id, "onset": str(self.onset), "apex": str(self.apex), **self.extra}


def find_frame(clip_dir: str | os.PathLike, number: int, warn: frames.Warn = cli.note) -> Path:
    """The image file numbered ``number`` in ``clip_dir`` (by :func:`frames.frame_number`;
    when several files share the number, the preferred suffix wins, with a note).

    Raises:
      UserError: the folder is missing, or holds no image with that number.
    """
    folder = Path(clip_dir)
    if not folder.is_dir():
        raise cli.UserError(f"clip folder not found: {folder}")
    numbered: dict[int, list[Path]] = {}
    for p in folder.iterdir():
        n = frames.frame_number(p.name) if p.is_file() and frames.is_image(p) else None
        if n is not None:
            numbered.setdefault(n, []).append(p)
    matches = sorted(numbered.get(number, []), key=lambda p: (frames.suffix_rank(p), p.name))
    if not matches:
        if numbered:
            lo, hi = min(numbered), max(numbered)
            example = sorted(numbered[lo])[0].name
            found = (
                f"frames found are numbered {lo}..{hi} ({len(numbered)} numbers, e.g. {example})"
            )
        else:
            found = f"no numbered image files ({', '.join(frames.IMAGE_SUFFIXES)}) are there"
        raise cli.UserError(f"no frame numbered {number} in {folder}: {found}")
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        warn(f"{len(matches)} files in {folder} are frame {number} ({names}): using the first")
    return matches[0]


def clip_pair(
    clip_dir: str | os.PathLike,
    onset_frame: int,
    apex_frame: int,
    pair_id: str | None = None,
    warn: frames.Warn = cli.note,
) -> Pair:
    """The pair of frames ``onset_frame`` and ``apex_frame`` of a clip folder."""
    folder = Path(clip_dir)
    return Pair(
        id=pair_id or folder.name,
        onset=find_frame(folder, onset_frame, warn),
        apex=find_frame(folder, apex_frame, warn),
        extra={"clip_dir": str(folder), "onset_frame": onset_frame, "apex_frame": apex_frame},
    )


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _frame_number(text: str, where: str) -> int:
    try:
        return int(float(text))  # sheets often hold frame numbers as 46.0
    except ValueError:
        raise cli.UserError(f"{where}: {text!r} is not a frame number") from None


def read_pairs_csv(path: str | os.PathLike, warn: frames.Warn = cli.note) -> list[Pair]:
    """Pairs from a CSV file with a header row.

    Columns (names case-insensitive): ``onset`` and ``apex`` (image paths), or
    ``clip_dir``, ``onset_frame`` and ``apex_frame``; ``id`` optional (default
    ``row<N>``, N the line number). Relative paths are relative to the CSV's folder.

    Raises:
      UserError: the file is missing or empty, lacks the columns, or a row lacks a value.
    """
    path = Path(path)
    if not path.is_file():
        raise cli.UserError(f"CSV file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [(i + 1, row) for i, row in enumerate(csv.reader(f)) if any(c.strip() for c in row)]
    if not rows:
        raise cli.UserError(f"{path} is empty: expected a header row with onset,apex")
    header = [c.strip().lower() for c in rows[0][1]]
    col = {name: i for i, name in enumerate(header)}
    if {"onset", "apex"} <= col.keys():
        by_paths = True
    elif {"clip_dir", "onset_frame", "apex_frame"} <= col.keys():
        by_paths = False
    else:
        raise cli.UserError(
            f"{path}: the header ({','.join(header)}) needs columns onset,apex (image paths) "
            "or clip_dir,onset_frame,apex_frame (optionally id)"
        )
    pairs = []
    for line, row in rows[1:]:

        def cell(name: str, line=line, row=row) -> str:
            value = row[col[name]].strip() if col[name] < len(row) else ""
            if not value:
                raise cli.UserError(f"{path}, line {line}: no value in column {name!r}")
            return value

        pair_id = row[col["id"]].strip() if "id" in col and col["id"] < len(row) else ""
        pair_id = pair_id or f"row{line}"
        if by_paths:
            onset, apex = _resolve(cell("onset"), path.parent), _resolve(cell("apex"), path.parent)
            pairs.append(Pair(pair_id, onset, apex))
        else:
            onset = _frame_number(cell("onset_frame"), f"{path}, line {line}, onset_frame")
            apex = _frame_number(cell("apex_frame"), f"{path}, line {line}, apex_frame")
            clip = _resolve(cell("clip_dir"), path.parent)
            pairs.append(clip_pair(clip, onset, apex, pair_id, warn))
    if not pairs:
        raise cli.UserError(f"{path} has a header but no pairs")
    return pairs


def check_files(pairs: list[Pair]) -> None:
    """Fail early, before loading a model, when an image file is missing.

    Raises:
      UserError: naming the missing file and its pair.
    """
    for pair in pairs:
        for what, path in (("onset", pair.onset), ("apex", pair.apex)):
            if not path.is_file():
                raise cli.UserError(f"{what} image file not found: {path} (pair {pair.id})")


# ---------------------------------------------------------------------------------------
# Flags


def define_flags(fv: flags.FlagValues) -> None:
    """The input flags of predict and explain: the three ways to give pairs, and ``--id``."""
    flags.DEFINE_string("onset", None, "onset frame image file (with --apex)", flag_values=fv)
    flags.DEFINE_string("apex", None, "apex frame image file (with --onset)", flag_values=fv)
    flags.DEFINE_string(
        "clip_dir", None, "clip folder of numbered frame files (with --onset_frame, "
        "--apex_frame)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_integer("onset_frame", None, "onset frame number in --clip_dir", flag_values=fv)
    flags.DEFINE_integer("apex_frame", None, "apex frame number in --clip_dir", flag_values=fv)
    flags.DEFINE_string(
        "csv", None, "CSV of pairs: columns onset,apex[,id] or clip_dir,onset_frame,apex_frame"
        "[,id]; relative paths are relative to the CSV's folder", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_string(
        "id", None, "id of a single pair (default: from the file or folder names)", flag_values=fv
    )


def pairs_from_flags(fv: flags.FlagValues, warn: frames.Warn = cli.note) -> list[Pair]:
    """The pairs that the flags of :func:`define_flags` name.

    Raises:
      UserError: no way or more than one way given, or a way given incompletely.
    """
    by_files = fv.onset is not None or fv.apex is not None
    by_clip = any(v is not None for v in (fv.clip_dir, fv.onset_frame, fv.apex_frame))
    by_table = fv.csv is not None
    if by_files + by_clip + by_table != 1:
        raise cli.UserError(
            "give the input pairs one way: --onset A --apex B, or --clip_dir D --onset_frame N "
            "--apex_frame M, or --csv pairs.csv"
        )
    if by_files:
        if fv.onset is None or fv.apex is None:
            raise cli.UserError("--onset and --apex go together: give both image files")
        onset, apex = Path(fv.onset), Path(fv.apex)
        return [Pair(fv.id or f"{onset.stem}-{apex.stem}", onset, apex)]
    if by_clip:
        if None in (fv.clip_dir, fv.onset_frame, fv.apex_frame):
            raise cli.UserError("--clip_dir needs --onset_frame N and --apex_frame M")
        return [clip_pair(fv.clip_dir, fv.onset_frame, fv.apex_frame, fv.id, warn)]
    if fv.id is not None:
        raise cli.UserError("--id names a single pair; a CSV gives ids in its id column")
    return read_pairs_csv(fv.csv, warn)
