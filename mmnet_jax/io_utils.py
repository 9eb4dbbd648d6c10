"""What the prediction, explanation and export commands share: inputs, model loading, errors.

Inputs are (onset, apex) frame pairs of face-cropped clips, given one of three ways:

- ``--onset A.jpg --apex B.jpg``: two image files;
- ``--clip_dir D --onset_frame N --apex_frame M``: a clip folder whose frame files carry
  their number as the last digit group of the file stem (``reg_img46.jpg``,
  ``006_05562.jpg``, ``46.jpg``, ``img046.bmp``);
- ``--csv pairs.csv``: a batch, one pair a row, with columns ``onset,apex`` (image paths)
  or ``clip_dir,onset_frame,apex_frame``, and an optional ``id``. Relative paths are
  read relative to the CSV file's folder.

Frames are read as training reads them: decoded by OpenCV to RGB uint8 (grayscale,
alpha and 16-bit images converted), then resized to the model's square ``image_size``
(area filter down, bilinear up). Every conversion is reported on stderr. Normalisation
(scale, mean, std) happens later, next to the model.

A :class:`UserError` is a problem with what the user gave (a path, a file, an option);
the commands print its message and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
EXIT_USER_ERROR = 2

Warn = Callable[[str], None]


class UserError(Exception):
    """A problem with the user's input: reported as ``error: <message>``, exit status 2."""


def warn_stderr(message: str) -> None:
    """The default sink for notes about conversions: one line on stderr."""
    print(f"note: {message}", file=sys.stderr)


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command's ``main``; a :class:`UserError` becomes a message and exit status 2."""
    try:
        return main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR


# ---------------------------------------------------------------------------------------
# Pairs


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


# The last digit group of a file stem: reg_img46 -> 46, 006_05562 -> 5562, img046 -> 46.
_LAST_NUMBER = re.compile(r"(\d+)\D*$")


def frame_number(name: str | os.PathLike) -> int | None:
    """The frame number of a frame file: the last digit group of its stem, or None."""
    match = _LAST_NUMBER.search(Path(name).stem)
    return int(match.group(1)) if match else None


def _suffix_rank(path: Path) -> int:
    suffix = path.suffix.lower()
    return IMAGE_SUFFIXES.index(suffix) if suffix in IMAGE_SUFFIXES else len(IMAGE_SUFFIXES)


def find_frame(clip_dir: str | os.PathLike, number: int, warn: Warn = warn_stderr) -> Path:
    """The image file numbered ``number`` in ``clip_dir`` (see :func:`frame_number`).

    Raises:
      UserError: the folder is missing, or holds no image with that number.
    """
    folder = Path(clip_dir)
    if not folder.is_dir():
        raise UserError(f"clip folder not found: {folder}")
    images = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    numbered = {}
    for p in images:
        n = frame_number(p.name)
        if n is not None:
            numbered.setdefault(n, []).append(p)
    matches = sorted(numbered.get(number, []), key=lambda p: (_suffix_rank(p), p.name))
    if not matches:
        if numbered:
            lo, hi = min(numbered), max(numbered)
            example = sorted(numbered[lo])[0].name
            found = (
                f"frames found are numbered {lo}..{hi} ({len(numbered)} numbers, e.g. {example})"
            )
        else:
            found = f"no numbered image files ({', '.join(IMAGE_SUFFIXES)}) are there"
        raise UserError(f"no frame numbered {number} in {folder}: {found}")
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        warn(f"{len(matches)} files in {folder} are frame {number} ({names}): using the first")
    return matches[0]


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _parse_frame(text: str, what: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        raise UserError(f"{what}: {text!r} is not a frame number") from None


def clip_pair(
    clip_dir: str | os.PathLike,
    onset_frame: int,
    apex_frame: int,
    pair_id: str | None = None,
    warn: Warn = warn_stderr,
) -> Pair:
    """The pair of frames ``onset_frame`` and ``apex_frame`` of a clip folder."""
    folder = Path(clip_dir)
    return Pair(
        id=pair_id or folder.name,
        onset=find_frame(folder, onset_frame, warn),
        apex=find_frame(folder, apex_frame, warn),
        extra={"clip_dir": str(folder), "onset_frame": onset_frame, "apex_frame": apex_frame},
    )


def read_pairs_csv(path: str | os.PathLike, warn: Warn = warn_stderr) -> list[Pair]:
    """Pairs from a CSV file with a header row.

    Columns (names case-insensitive): ``onset`` and ``apex`` (image paths), or
    ``clip_dir``, ``onset_frame`` and ``apex_frame``; ``id`` optional (default
    ``row<N>``, N the line number). Relative paths are relative to the CSV's folder.

    Raises:
      UserError: the file is missing or empty, lacks the columns, or a row lacks a value.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CSV file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        rows = [(i + 1, row) for i, row in enumerate(reader) if any(c.strip() for c in row)]
    if not rows:
        raise UserError(f"{path} is empty: expected a header row with onset,apex")
    header = [c.strip().lower() for c in rows[0][1]]
    col = {name: i for i, name in enumerate(header)}
    if {"onset", "apex"} <= col.keys():
        mode = "paths"
    elif {"clip_dir", "onset_frame", "apex_frame"} <= col.keys():
        mode = "clip"
    else:
        raise UserError(
            f"{path}: the header ({','.join(header)}) needs columns onset,apex (image paths) "
            "or clip_dir,onset_frame,apex_frame (optionally id)"
        )
    base = path.parent
    pairs = []
    for line, row in rows[1:]:

        def cell(name: str, line=line, row=row) -> str:
            value = row[col[name]].strip() if col[name] < len(row) else ""
            if not value:
                raise UserError(f"{path}, line {line}: no value in column {name!r}")
            return value

        pair_id = row[col["id"]].strip() if "id" in col and col["id"] < len(row) else ""
        pair_id = pair_id or f"row{line}"
        if mode == "paths":
            pairs.append(Pair(pair_id, _resolve(cell("onset"), base), _resolve(cell("apex"), base)))
        else:
            onset = _parse_frame(cell("onset_frame"), f"{path}, line {line}, onset_frame")
            apex = _parse_frame(cell("apex_frame"), f"{path}, line {line}, apex_frame")
            pairs.append(clip_pair(_resolve(cell("clip_dir"), base), onset, apex, pair_id, warn))
    if not pairs:
        raise UserError(f"{path} has a header but no pairs")
    return pairs


# ---------------------------------------------------------------------------------------
# Images


def _header_notes(path: Path) -> list[str]:
    """What the decoder will convert, read from the file header (no pixel decoding)."""
    try:
        from PIL import Image  # noqa: PLC0415 - only for the header

        with Image.open(path) as im:
            mode = im.mode
    except Exception:  # noqa: BLE001 - notes are best effort; decoding reports real errors
        return []
    if mode in ("L", "1", "P"):
        kind = {"L": "grayscale", "1": "1-bit", "P": "palette"}[mode]
        return [f"{kind} image, converted to RGB"]
    if mode in ("LA", "PA"):
        return ["grayscale image with alpha, converted to RGB (alpha dropped)"]
    if mode in ("RGBA", "RGBa"):
        return ["RGBA image, alpha channel dropped"]
    if mode == "CMYK":
        return ["CMYK image, converted to RGB"]
    if mode.startswith("I;16") or mode in ("I", "F"):
        return [f"{mode} image (more than 8 bits), converted to 8-bit RGB"]
    return []


def read_rgb(path: str | os.PathLike, warn: Warn = warn_stderr) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3), decoded as training decodes frames.

    Grayscale, palette, alpha and 16-bit images are converted, with a note to ``warn``.

    Raises:
      UserError: the file is missing or cannot be decoded as an image.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image file not found: {path}")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise UserError(f"cannot read image file {path}: {e}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"cannot decode image file {path} (not an image, or a format OpenCV lacks)")
    for note in _header_notes(path):
        warn(f"{path}: {note}")
    return np.ascontiguousarray(image[..., ::-1])


def as_rgb_uint8(image: np.ndarray, name: str, warn: Warn = warn_stderr) -> np.ndarray:
    """An in-memory frame as RGB uint8 (H, W, 3).

    Accepts (H, W), (H, W, 1), (H, W, 3) RGB and (H, W, 4) RGBA; uint8, or float in
    [0, 1] (scaled by 255), or uint16 (scaled by 1/257). Conversions are noted.

    Raises:
      UserError: another rank or channel count.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise UserError(
            f"{name}: shape {image.shape} is not a frame (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = np.round(image.astype(np.float32) / 257.0)
            warn(f"{name}: 16-bit frame, converted to 8-bit")
        elif np.issubdtype(image.dtype, np.floating):
            image = image.astype(np.float32) * 255.0
            warn(f"{name}: float frame, read as values in [0, 1] and scaled to 0..255")
        else:
            warn(f"{name}: {image.dtype} frame, clipped to 0..255")
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.shape[-1] == 1:
        warn(f"{name}: grayscale frame, converted to RGB")
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] == 4:
        warn(f"{name}: RGBA frame, alpha channel dropped")
        image = image[..., :3]
    return np.ascontiguousarray(image)


def resize_square(rgb: np.ndarray, size: int, name: str, warn: Warn = warn_stderr) -> np.ndarray:
    """Resize to ``size`` x ``size`` as the dataset builders do (area filter down,
    bilinear up; a plain resize, no aspect-preserving padding), noting any change."""
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    squash = "" if h == w else " (not square: stretched)"
    warn(f"{name}: {w}x{h} frame resized to the model's {size}x{size}{squash}")
    interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interpolation)


def load_frame(
    image: str | os.PathLike | np.ndarray, size: int, name: str | None = None, warn=warn_stderr
) -> tuple[np.ndarray, np.ndarray]:
    """``(original, model_input)``: a frame (path or array) as RGB uint8 at its own size,
    and resized to ``size`` x ``size`` for the model."""
    if isinstance(image, (str, os.PathLike)):
        name = name or str(image)
        rgb = read_rgb(image, warn)
    else:
        name = name or "frame"
        rgb = as_rgb_uint8(image, name, warn)
    return rgb, resize_square(rgb, size, name, warn)


def load_frames(
    images: Sequence[str | os.PathLike | np.ndarray] | np.ndarray,
    size: int,
    what: str = "frame",
    warn: Warn = warn_stderr,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (paths, arrays, or one (N, H, W, C) array) -> originals and (N, S, S, 3) uint8."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    originals, sized = [], []
    for i, image in enumerate(images):
        name = None if isinstance(image, (str, os.PathLike)) else f"{what} {i}"
        original, resized = load_frame(image, size, name, warn)
        originals.append(original)
        sized.append(resized)
    if not sized:
        return originals, np.zeros((0, size, size, 3), np.uint8)
    return originals, np.stack(sized)


# ---------------------------------------------------------------------------------------
# Command-line options


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``--workdir``/``--model_dir`` and ``--fold``."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--workdir",
        help="training run folder: uses WORKDIR/final_model, or a LOSO fold's model with "
        "--fold (a model directory is accepted here too)",
    )
    group.add_argument(
        "--model_dir", help="model directory (model.json + state/), e.g. from mmnet_jax.convert"
    )
    parser.add_argument("--fold", default=None, help="held-out subject of a LOSO fold's model")


def add_input_args(parser: argparse.ArgumentParser) -> None:
    """The three ways to give pairs (see the module docstring) and ``--id``."""
    group = parser.add_argument_group("input pairs (give one way)")
    group.add_argument("--onset", help="onset frame image file")
    group.add_argument("--apex", help="apex frame image file")
    group.add_argument("--clip_dir", help="clip folder with numbered frame files")
    group.add_argument("--onset_frame", type=int, help="onset frame number in --clip_dir")
    group.add_argument("--apex_frame", type=int, help="apex frame number in --clip_dir")
    group.add_argument("--csv", help="CSV of pairs: onset,apex[,id] or clip_dir,onset_frame,...")
    group.add_argument("--id", default=None, help="id of a single pair (default from the names)")


def pairs_from_args(args: argparse.Namespace, warn: Warn = warn_stderr) -> list[Pair]:
    """The pairs that ``add_input_args`` options name.

    Raises:
      UserError: no way or more than one way given, or a way given incompletely.
    """
    files = args.onset is not None or args.apex is not None
    clip = any(v is not None for v in (args.clip_dir, args.onset_frame, args.apex_frame))
    table = args.csv is not None
    if files + clip + table != 1:
        raise UserError(
            "give the input pairs one way: --onset A --apex B, or --clip_dir D --onset_frame N "
            "--apex_frame M, or --csv pairs.csv"
        )
    if files:
        if args.onset is None or args.apex is None:
            raise UserError("--onset and --apex go together: give both image files")
        onset, apex = Path(args.onset), Path(args.apex)
        return [Pair(args.id or f"{onset.stem}-{apex.stem}", onset, apex)]
    if clip:
        if None in (args.clip_dir, args.onset_frame, args.apex_frame):
            raise UserError("--clip_dir needs --onset_frame N and --apex_frame M")
        return [clip_pair(args.clip_dir, args.onset_frame, args.apex_frame, args.id, warn)]
    if args.id is not None:
        raise UserError("--id names a single pair; a CSV gives ids in its id column")
    return read_pairs_csv(args.csv, warn)


# ---------------------------------------------------------------------------------------
# Models


def _has_model(folder: Path) -> bool:
    return (folder / "model.json").is_file()


def load_trained_model(
    workdir: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    fold: str | None = None,
) -> tuple[Any, dict]:
    """``(model, meta)`` in eval mode, from a training workdir or a model directory.

    ``workdir`` with ``fold=None`` loads ``WORKDIR/final_model`` (or ``WORKDIR`` itself
    when it is a model directory); with ``fold`` it loads that LOSO fold's model through
    ``mmnet_jax.checkpoint.load_from_workdir``. ``model_dir`` loads a model directory.

    Raises:
      UserError: missing folders, no final model, or a checkpoint that does not load.
    """
    return model_loader(workdir, model_dir, fold)()


def model_loader(
    workdir: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    fold: str | None = None,
) -> Callable[[], tuple[Any, dict]]:
    """Check where the model is (cheap: the commands do it before reading frames) and
    return a function that loads it; see :func:`load_trained_model`."""
    from mmnet_jax import checkpoint  # noqa: PLC0415 - keeps `--help` and input errors fast

    if (workdir is None) == (model_dir is None):
        raise UserError("give one of --workdir or --model_dir")
    if model_dir is not None:
        if fold is not None:
            raise UserError("--fold selects a fold of a training workdir: use it with --workdir")
        path = Path(model_dir)
        if not path.is_dir():
            raise UserError(f"model directory not found: {path}")
        if not _has_model(path):
            raise UserError(
                f"{path} is not a model directory: {path / 'model.json'} is missing (model "
                "directories are written by training with --config.final_model=True, as "
                "WORKDIR/final_model, or by python -m mmnet_jax.convert)"
            )
        return lambda: _load(lambda: checkpoint.load_model(path), path)

    path = Path(workdir)
    if not path.is_dir():
        raise UserError(f"workdir not found: {path}")
    load_from_workdir = getattr(checkpoint, "load_from_workdir", None)
    if fold is None:
        if _has_model(path):  # a model directory given as --workdir
            return lambda: _load(lambda: checkpoint.load_model(path), path)
        final = path / "final_model"
        if not _has_model(final):
            raise UserError(
                f"{path} has no final model ({final / 'model.json'} is missing). Train with "
                "--config.final_model=True to write one, or pass --fold SUBJECT to use the "
                "model of a LOSO fold"
            )
        if load_from_workdir is None:
            return lambda: _load(lambda: checkpoint.load_model(final), final)
        return lambda: _load(lambda: load_from_workdir(path, fold=None), final)
    if load_from_workdir is None:
        raise UserError(
            "--fold needs mmnet_jax.checkpoint.load_from_workdir, which this version of "
            "mmnet_jax lacks; use --workdir with a final model, or --model_dir"
        )
    return lambda: _load(lambda: load_from_workdir(path, fold=fold), f"{path} (fold {fold})")


def _load(loader: Callable[[], tuple[Any, dict]], where) -> tuple[Any, dict]:
    # Missing or unreadable files (OSError) and checkpoints that do not fit their
    # config, are damaged or lack the fold (ValueError, KeyError, TypeError) are the
    # user's to fix; the loaders' messages name the file and field.
    try:
        model, meta = loader()
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"cannot load the model from {where}: {type(e).__name__}: {e}") from None
    model.eval()
    return model, meta


def class_names(model: Any, meta: dict) -> list[str]:
    """The model's class names from its metadata (``class_<i>`` when absent)."""
    n = model.config.num_classes
    names = list(meta.get("class_names") or [f"class_{i}" for i in range(n)])
    if len(names) != n:
        raise UserError(f"model.json lists {len(names)} class names for a {n}-way head")
    return names


def normalization(meta: dict) -> tuple[np.float32, np.ndarray, np.ndarray]:
    """``(divisor, mean, std)`` of the model's preprocessing, from model.json (else the
    defaults of ``mmnet_jax.frames``): ``(uint8 / divisor - mean) / std``."""
    from mmnet_jax import frames  # noqa: PLC0415

    p = meta.get("preprocess") or {}
    divisor = np.float32(1.0 / float(p.get("scale", 1.0 / 255.0)))  # 255 exactly by default
    mean = np.asarray(p.get("mean", frames.MEAN), np.float32)
    std = np.asarray(p.get("std", frames.STD), np.float32)
    return divisor, mean, std
