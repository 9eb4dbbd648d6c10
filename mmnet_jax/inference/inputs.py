"""The (onset, apex) frame pairs that predict and explain take, and their flags.

A pair is given one of four ways:

- ``--onset A.jpg --apex B.jpg``: two image files;
- ``--clip_dir D --onset_frame N --apex_frame M``: a clip folder whose frame files carry
  their number as the last digit group of the file stem (``reg_img46.jpg``,
  ``006_05562.jpg``, ``46.jpg``, ``img046.bmp``; see :func:`mmnet_jax.vision.frames.frame_number`);
- ``--video clip.mp4`` (a video file OpenCV can read) or ``--clip_dir D`` without
  both frame numbers: a whole clip. The face is located in the onset frame (the first
  frame unless ``--onset_frame`` is given) and every frame is levelled and cropped with
  that one transform (:func:`mmnet_jax.vision.faces.align_clip`; ``--noface_align`` for frames
  that are already face crops); the apex is spotted after the onset
  (:func:`mmnet_jax.vision.spot.spot_apex`) unless ``--apex_frame`` is given. Video frames are
  numbered from 0. A video is read as a stream and its face tracked
  (:class:`mmnet_jax.vision.tracking.FaceTracker`): the clip is the first face track (or
  the one holding ``--onset_frame``), cut where it ends (a shot change, the face lost);
  a track shorter than :data:`MIN_TRACK_SECONDS` is refused. The JSON says which frames
  were used (``frames_used``) and why the clip ends there (``cut``);
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

import cv2
import numpy as np
from absl import flags

from mmnet_jax import cli
from mmnet_jax.vision import faces, frames, spot, tracking

MIN_TRACK_SECONDS = 0.2  # a video's face track shorter than this is no clip


@dataclasses.dataclass
class Pair:
    """One (onset, apex) pair to run: an id for reports and file names, two image paths
    (or, for a whole clip, two prepared RGB uint8 frames, described in ``extra``)."""

    id: str
    onset: Path | np.ndarray
    apex: Path | np.ndarray
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """``id``, ``onset``, ``apex`` (paths as text) and any extra fields (clip, frames);
        ``extra`` may replace ``onset``/``apex`` (a clip's frames are not files)."""
        out: dict[str, Any] = {"id": self.id}
        for key, value in (("onset", self.onset), ("apex", self.apex)):
            if not isinstance(value, np.ndarray):
                out[key] = str(value)
        return {**out, **self.extra}


def _numbered_images(folder: Path) -> dict[int, list[Path]]:
    """A clip folder's image files by frame number (see :func:`frames.frame_number`).

    Raises:
      UserError: the folder is missing.
    """
    if not folder.is_dir():
        raise cli.UserError(f"clip folder not found: {folder}")
    numbered: dict[int, list[Path]] = {}
    for p in folder.iterdir():
        n = frames.frame_number(p.name) if p.is_file() and frames.is_image(p) else None
        if n is not None:
            numbered.setdefault(n, []).append(p)
    return numbered


def find_frame(clip_dir: str | os.PathLike, number: int, warn: frames.Warn = cli.note) -> Path:
    """The image file numbered ``number`` in ``clip_dir`` (by :func:`frames.frame_number`;
    when several files share the number, the preferred suffix wins, with a note).

    Raises:
      UserError: the folder is missing, or holds no image with that number.
    """
    folder = Path(clip_dir)
    numbered = _numbered_images(folder)
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
            if isinstance(path, np.ndarray):
                continue
            if not path.is_file():
                raise cli.UserError(f"{what} image file not found: {path} (pair {pair.id})")


# ---------------------------------------------------------------------------------------
# A whole clip: a video file or a folder of numbered frames, without onset or apex.


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """Every frame of a video file, RGB uint8 (H, W, 3), decoded by OpenCV.

    Raises:
      UserError: the file is missing, OpenCV cannot open it, or it holds no frame.
    """
    path = Path(path)
    if not path.is_file():
        raise cli.UserError(f"video file not found: {path}")
    capture = cv2.VideoCapture(str(path))
    out = []
    try:
        if not capture.isOpened():
            raise cli.UserError(f"cannot open video {path} (not a video, or a codec OpenCV lacks)")
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            out.append(np.ascontiguousarray(bgr[..., ::-1]))
    finally:
        capture.release()
    if not out:
        raise cli.UserError(f"no frame could be decoded from video {path}")
    return out


@dataclasses.dataclass
class TrackedVideo:
    """The frames of a video's face track (:func:`read_video_track`).

    Attributes:
      numbers: the frames' numbers in the video (from 0), consecutive.
      images: RGB uint8 frames, one per number.
      track: the face track they are.
      fps: the frame rate the durations use.
      fps_note: where the frame rate came from.
      frames_read: frames decoded (reading stops where the track ends).
    """

    numbers: list[int]
    images: list[np.ndarray]
    track: tracking.Track
    fps: float
    fps_note: str
    frames_read: int


def read_video_track(
    path: str | os.PathLike,
    onset_frame: int | None = None,
    face_backend: str = "auto",
    warn: frames.Warn = cli.note,
) -> TrackedVideo:
    """The frames of a video's first face track (or from ``onset_frame`` to the end of the
    track holding it), read as a stream: frames before are dropped, and reading stops
    where the track ends.

    Raises:
      UserError: the file is missing or unreadable or holds no frame; no face is tracked
        (at ``onset_frame`` when given); the track lasts less than
        :data:`MIN_TRACK_SECONDS`.
    """
    path = Path(path)
    try:
        source = tracking.open_video(path)
    except tracking.VideoError as e:
        raise cli.UserError(str(e)) from None
    if source.fps is None:
        fps, fps_note = 30.0, "the video reports none: 30 fps assumed"
        warn(f"video {path} reports no frame rate: 30 fps assumed for its face track")
    else:
        fps, fps_note = source.fps, "the video's"
    try:
        tracker = tracking.FaceTracker(fps, backend=face_backend)
    except faces.BackendUnavailable as e:
        raise cli.UserError(str(e)) from None
    chosen: int | None = None
    numbers: list[int] = []
    images: list[np.ndarray] = []
    read = 0
    try:
        for rgb in source:
            read += 1
            record = tracker.step(rgb)
            if chosen is None:
                if record.track is not None and onset_frame in (None, record.frame):
                    chosen = record.track
                elif onset_frame is not None and record.frame >= onset_frame:
                    break  # the onset frame has no tracked face
                else:
                    continue
            elif record.track != chosen:
                break  # the track ended: the clip is cut here
            numbers.append(record.frame)
            images.append(rgb)
    except (tracking.VideoError, faces.BackendUnavailable) as e:
        raise cli.UserError(str(e)) from None
    tracker.finish()
    if read == 0:
        raise cli.UserError(f"no frame could be decoded from video {path}")
    if chosen is None:
        if onset_frame is not None and onset_frame >= read:
            raise cli.UserError(
                f"--onset_frame {onset_frame}: video {path} has frames 0..{read - 1} "
                f"({read} frames)"
            )
        if onset_frame is None or not tracker.tracks:
            at = 0 if onset_frame is None else onset_frame
            raise cli.UserError(
                f"no face found in onset frame {at} of video {path} (use --noface_align "
                "if the frames are already face crops)"
            )
        spans = ", ".join(f"{t.start}..{t.stop - 1}" for t in tracker.tracks)
        raise cli.UserError(
            f"--onset_frame {onset_frame}: no face tracked there in video {path} (face "
            f"tracks: frames {spans})"
        )
    track = tracker.tracks[chosen]
    if track.length / fps < MIN_TRACK_SECONDS:
        raise cli.UserError(
            f"video {path}: the face track at frames {track.start}..{track.stop - 1} lasts "
            f"{track.length / fps:.2f} s (ended by {track.end}), shorter than "
            f"{MIN_TRACK_SECONDS} s: not a clip"
        )
    return TrackedVideo(numbers, images, track, fps, fps_note, read)


def read_clip_dir(clip_dir: str | os.PathLike, warn: frames.Warn = cli.note):
    """A clip folder's numbered frames in order: (frame numbers, RGB uint8 frames).

    Raises:
      UserError: the folder is missing, holds no numbered image, or a frame is unreadable.
    """
    folder = Path(clip_dir)
    numbered = _numbered_images(folder)
    if not numbered:
        raise cli.UserError(
            f"no numbered image files ({', '.join(frames.IMAGE_SUFFIXES)}) in {folder}"
        )
    numbers = sorted(numbered)
    images = []
    for n in numbers:
        path = find_frame(folder, n, warn)
        try:
            images.append(frames.read_rgb(path))
        except frames.FrameError as e:
            raise cli.UserError(str(e)) from None
    return numbers, images


def clip_requested(fv: flags.FlagValues) -> bool:
    """Whether the flags ask for a whole clip (``--video``, or ``--clip_dir`` without both
    ``--onset_frame`` and ``--apex_frame``) rather than a named pair."""
    named = fv.onset_frame is not None and fv.apex_frame is not None
    return fv.video is not None or (fv.clip_dir is not None and not named)


def _index_of(numbers: list[int], number: int | None, flag: str, source: str) -> int | None:
    if number is None:
        return None
    if number not in numbers:
        raise cli.UserError(
            f"--{flag} {number}: {source} has frames {numbers[0]}..{numbers[-1]}"
            f" ({len(numbers)} frames)"
        )
    return numbers.index(number)


def user_clip(
    source: str | os.PathLike,
    *,
    is_video: bool,
    onset_frame: int | None = None,
    apex_frame: int | None = None,
    face_align: bool = True,
    face_backend: str = "auto",
    apex_method: str = spot.DEFAULT_METHOD,
    pair_id: str | None = None,
    warn: frames.Warn = cli.note,
) -> Pair:
    """A whole clip turned into one (onset, apex) pair of prepared frames.

    Reads the clip (:func:`read_video` or :func:`read_clip_dir`), levels and crops every
    frame with the onset frame's face (``face_align``), then spots the apex among the
    frames after the onset (``apex_method``) unless ``apex_frame`` is given. The pair's
    ``extra`` says which frames were used and how: ``onset_frame``, ``onset_chosen``,
    ``apex_frame``, ``apex_chosen``, ``frames_read``, ``face_alignment``.

    Raises:
      UserError: unreadable input, a frame number not in the clip, an apex before the
        onset, or no face in the onset frame.
    """
    source = Path(source)
    tracked: TrackedVideo | None = None
    if is_video and face_align:
        if onset_frame is not None and apex_frame is not None and apex_frame < onset_frame:
            raise cli.UserError(f"--apex_frame {apex_frame} comes before the onset frame")
        tracked = read_video_track(source, onset_frame, face_backend, warn)
        numbers, images = tracked.numbers, tracked.images
    elif is_video:
        images = read_video(source)
        numbers = list(range(len(images)))
    else:
        numbers, images = read_clip_dir(source, warn)
    what = f"video {source}" if is_video else f"clip folder {source}"
    onset = _index_of(numbers, onset_frame, "onset_frame", what)
    onset_chosen = "given (--onset_frame)" if onset is not None else "first frame"
    if tracked is not None and onset is None:
        onset_chosen = "first frame" if numbers[0] == 0 else "first frame of the face track"
    onset = 0 if onset is None else onset
    cut = None
    if tracked is not None:
        track = tracked.track
        cut = None if track.end == "end of video" else track.end
        if apex_frame is not None and apex_frame not in numbers:
            until = f"cut: {cut}" if cut else "to the end of the video"
            raise cli.UserError(
                f"--apex_frame {apex_frame}: video {source}: the face track used covers "
                f"frames {numbers[0]}..{numbers[-1]} ({until})"
            )
    apex = _index_of(numbers, apex_frame, "apex_frame", what)
    if apex is not None and apex < onset:
        raise cli.UserError(f"--apex_frame {apex_frame} comes before the onset frame")
    shapes = {im.shape for im in images[onset:]}
    if len(shapes) > 1:
        raise cli.UserError(f"{what}: frames differ in size ({sorted(shapes)[:2]}...)")
    clip = images[onset:]
    alignment: Any = "off (--noface_align): frames used as they are"
    if face_align:
        try:
            clip, align = faces.align_clip(clip, 0, backend=face_backend)
        except faces.FaceNotFound:
            raise cli.UserError(
                f"no face found in onset frame {numbers[onset]} of {what} (use --noface_align "
                "if the frames are already face crops)"
            ) from None
        except faces.BackendUnavailable as e:
            raise cli.UserError(str(e)) from None
        alignment = align.describe()
    if apex is None:
        if len(clip) < 2:
            raise cli.UserError(f"{what}: no frame after the onset to spot an apex in")
        found = spot.spot_apex(clip, 0, len(clip) - 1, apex_method)
        apex, apex_chosen = (
            onset + found.apex,
            found.describe().replace(
                f"[0, {len(clip) - 1}]", f"frames {numbers[onset]}..{numbers[-1]}"
            ),
        )
    else:
        apex_chosen = "given (--apex_frame)"
    onset_no, apex_no = numbers[onset], numbers[apex]
    kind = "video" if is_video else "clip_dir"
    extra = {
        kind: str(source),
        "onset": f"{source} frame {onset_no}",
        "apex": f"{source} frame {apex_no}",
        "frames_read": len(images) if tracked is None else tracked.frames_read,
        "onset_frame": onset_no,
        "onset_chosen": onset_chosen,
        "apex_frame": apex_no,
        "apex_chosen": apex_chosen,
        "face_alignment": alignment,
    }
    if is_video:
        # Which frames the clip is, and why it ends where it does.
        extra["frames_used"] = [onset_no, numbers[-1]]
        if tracked is None:
            extra["cut"] = None
            extra["face_track"] = "not tracked (--noface_align): every frame used"
        else:
            extra["cut"] = cut
            extra["face_track"] = {
                **tracked.track.describe(tracked.fps), "fps": tracked.fps,
                "fps_from": tracked.fps_note,
            }  # fmt: skip
            if cut:
                warn(f"{source}: frames {onset_no}..{numbers[-1]} used: the face track ends "
                     f"there ({cut})")  # fmt: skip
    warn(f"{source}: onset frame {onset_no} ({onset_chosen}), apex frame {apex_no} ({apex_chosen})")
    name = pair_id or (source.stem if is_video else source.name)
    return Pair(name, clip[0], clip[apex - onset], extra)


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
    flags.DEFINE_string(
        "video", None, "a video file (any OpenCV can read): the face is aligned, the onset is "
        "the first frame (or --onset_frame, numbered from 0) and the apex spotted (or "
        "--apex_frame); --clip_dir without --apex_frame does the same with a frame folder",
        flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_boolean(
        "face_align", True, "with --video or a whole --clip_dir: locate the face in the onset "
        "frame and level and crop every frame with that one transform (--noface_align: "
        "frames are already face crops)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_enum(
        "face_backend", "auto", list(faces.BACKENDS), "face locator: dlib (the faces extra), "
        "haar (OpenCV), or auto (dlib when installed)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_enum(
        "apex_method", spot.DEFAULT_METHOD, list(spot.METHODS), "how a whole clip's apex "
        "is spotted (see mmnet_jax/vision/spot.py)", flag_values=fv,
    )  # fmt: skip


def pairs_from_flags(fv: flags.FlagValues, warn: frames.Warn = cli.note) -> list[Pair]:
    """The pairs that the flags of :func:`define_flags` name.

    Raises:
      UserError: no way or more than one way given, or a way given incompletely.
    """
    by_files = fv.onset is not None or fv.apex is not None
    by_video = fv.video is not None
    by_clip = any(v is not None for v in (fv.clip_dir, fv.onset_frame, fv.apex_frame))
    by_clip = by_clip and not by_video
    by_table = fv.csv is not None
    if by_files + by_clip + by_table + by_video != 1 or (by_video and fv.clip_dir is not None):
        raise cli.UserError(
            "give the input pairs one way: --onset A --apex B, or --clip_dir D --onset_frame N "
            "--apex_frame M, or --csv pairs.csv, or a whole clip: --video V or --clip_dir D "
            "(onset and apex optional)"
        )
    if clip_requested(fv):
        return [
            user_clip(
                fv.video if by_video else fv.clip_dir,
                is_video=by_video,
                onset_frame=fv.onset_frame,
                apex_frame=fv.apex_frame,
                face_align=fv.face_align,
                face_backend=fv.face_backend,
                apex_method=fv.apex_method,
                pair_id=fv.id,
                warn=warn,
            )
        ]
    if by_files:
        if fv.onset is None or fv.apex is None:
            raise cli.UserError("--onset and --apex go together: give both image files")
        onset, apex = Path(fv.onset), Path(fv.apex)
        return [Pair(fv.id or f"{onset.stem}-{apex.stem}", onset, apex)]
    if by_clip:
        if fv.clip_dir is None:
            raise cli.UserError("--onset_frame and --apex_frame need --clip_dir D or --video V")
        return [clip_pair(fv.clip_dir, fv.onset_frame, fv.apex_frame, fv.id, warn)]
    if fv.id is not None:
        raise cli.UserError("--id names a single pair; a CSV gives ids in its id column")
    return read_pairs_csv(fv.csv, warn)
