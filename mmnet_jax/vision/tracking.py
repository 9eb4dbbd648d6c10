"""Face tracks in a long video, read as a stream (one frame in memory at a time).

:func:`open_video` and :func:`open_frames_dir` read a video file (``cv2.VideoCapture``)
or a folder of numbered frame files one frame at a time; :class:`FaceTracker` follows the
largest face through the frames:

- **detection** every ``detect_every`` frames (default a quarter second), with the box
  detector of :func:`mmnet_jax.vision.faces.detect_box` (dlib's HOG detector without
  upsampling and OpenCV's Haar cascade, on the frame scaled to ``detect_size`` pixels on
  its longer side: a few milliseconds);
- **tracking** between detections by template matching: the face as it was in the
  track's first frame (the box's square, at ``crop_size / (1 + 2 margin)`` pixels) is
  searched for (normalised cross-correlation, sub-pixel peak) within a quarter of its
  side of where it was in the previous frame. The box follows the match, never the
  detector, so it moves smoothly and every frame of a track is aligned with the same
  reference; detections only confirm it (IoU >= ``min_iou``);
- a track **ends** at a shot change (the colour histogram of the frame jumps by more
  than ``shot_threshold`` from the previous frame), when the face is lost (the template's
  match falls below ``min_match``, or no detection confirmed the box for
  ``lost_after_s`` seconds), or when the largest face detected does not overlap the box
  (another face). A match below ``min_match``, or one that falls by more than
  ``max_drop`` in a frame, is checked by running the detector at once: no face there, the
  face is lost; a face there while the match stays below ``min_match`` and fewer than
  four of the template's nine blocks still match at 0.85, the face changed (another
  face in the same place, or a pose far from the start's: a new track starts from the
  detection); below ``min_match / 2`` the face is lost at once. A new track
  starts at the next detection.

Each frame gives a :class:`TrackedFrame`: its number (from 0, over the frames read), the
track's id or None, the box in frame pixels, the match and, when tracked, the aligned
grayscale crop (``crop_size`` pixels, the box grown by ``margin`` on each side) that a
spotter scores. :func:`untracked_ranges` lists the frames without a tracked face.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import time
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from mmnet_jax.vision import faces, frames

Box = tuple[float, float, float, float]
_MIN_BLOCK_STD = 2.0  # grey levels: a template block flatter than this is not matched
_STRONG_BLOCK = 0.85  # a block whose best match reaches this is still the template's face
_MIN_STRONG = 4  # with a low match, fewer such blocks than this: another face


class VideoError(ValueError):
    """A video or frame folder that cannot be read (the message names it)."""


# ---------------------------------------------------------------------------------------
# Reading


@dataclasses.dataclass
class FrameSource:
    """A video file or a folder of numbered frames, read one frame at a time.

    Attributes:
      path: the file or folder.
      kind: ``"video"`` or ``"frames"``.
      fps: the frame rate the file reports (None when it reports none, and for folders).
      reported_frames: the frame count the file reports (may be wrong), or the number
        of frame files.
      decode_seconds: time spent decoding so far.
      frames_read: frames yielded so far.
    """

    path: pathlib.Path
    kind: str
    fps: float | None
    reported_frames: int | None
    files: list[pathlib.Path] | None = None
    decode_seconds: float = 0.0
    frames_read: int = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        """RGB uint8 (H, W, 3) frames in order.

        Raises:
          VideoError: a frame file cannot be decoded.
        """
        if self.kind == "video":
            yield from self._video()
            return
        for path in self.files or []:
            start = time.perf_counter()
            try:
                image = frames.read_rgb(path)
            except (frames.FrameError, OSError) as e:
                raise VideoError(str(e)) from None
            self.decode_seconds += time.perf_counter() - start
            self.frames_read += 1
            yield image

    def _video(self) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            while True:
                start = time.perf_counter()
                ok, bgr = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self.decode_seconds += time.perf_counter() - start
                self.frames_read += 1
                yield rgb
        finally:
            capture.release()


def open_video(path: str | os.PathLike) -> FrameSource:
    """A video file for reading frame by frame.

    Raises:
      VideoError: the file is missing or OpenCV cannot open it.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise VideoError(f"video file not found: {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(f"cannot open video {path} (not a video, or a codec OpenCV lacks)")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    fps_ok = math.isfinite(fps) and 0 < fps < 10_000
    return FrameSource(path, "video", fps if fps_ok else None, count if count > 0 else None)


def open_frames_dir(folder: str | os.PathLike) -> FrameSource:
    """A folder of frame files, in the order of their frame numbers (the last digit group
    of each file stem, :func:`mmnet_jax.vision.frames.frame_number`; when two files share
    a number, the preferred suffix wins). Frames count from 0 over the files, whatever
    their numbers.

    Raises:
      VideoError: the folder is missing or holds no numbered image file.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise VideoError(f"frames folder not found: {folder}")
    numbered: dict[int, pathlib.Path] = {}
    for p in sorted(folder.iterdir(), key=lambda p: (frames.suffix_rank(p), p.name)):
        n = frames.frame_number(p.name) if p.is_file() and frames.is_image(p) else None
        if n is not None:
            numbered.setdefault(n, p)
    if not numbered:
        raise VideoError(
            f"no numbered image files ({', '.join(frames.IMAGE_SUFFIXES)}) in {folder}"
        )
    files = [numbered[n] for n in sorted(numbered)]
    return FrameSource(folder, "frames", None, len(files), files)


# ---------------------------------------------------------------------------------------
# Tracking


@dataclasses.dataclass(frozen=True)
class TrackedFrame:
    """One frame's result.

    Attributes:
      frame: the frame's number (from 0, over the frames read).
      track: the id of the face track it belongs to, or None (no tracked face).
      box: ``(x0, y0, x1, y1)`` the tracked face's square in frame pixels (floats), or None.
      match: normalised cross-correlation of the track's template at the box (1 at the
        track's first frame; NaN when untracked).
      detected: whether the detector ran on this frame.
      crop: the aligned grayscale face crop, uint8 (crop_size, crop_size), or None.
    """

    frame: int
    track: int | None
    box: Box | None
    match: float
    detected: bool
    crop: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)


@dataclasses.dataclass
class Track:
    """A run of frames in which one face was followed.

    Attributes:
      id: 0, 1, ... in order of start.
      start, stop: its first frame and the frame after its last.
      first_box: the box at the start (the detection's square).
      end: why it ended (``shot change at frame N``, ``face lost at frame N (...)``,
        ``face changed at frame N (...)``, ``another face at frame N``, ``end of video``).
      eyes: the eye centres ``((x, y), (x, y))`` (image-left first) in the track's crops,
        pixels, from the landmarks found at the start (:func:`mmnet_jax.vision.faces.locate`
        on the face's region; the crops move with the box, so the eyes stay there while
        the head keeps its pose), or None when none were found.
      eyes_method: the landmark method (``dlib-5``, ``haar``), or ``""``.
    """

    id: int
    start: int
    stop: int
    first_box: Box
    end: str = ""
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None
    eyes_method: str = ""

    @property
    def length(self) -> int:
        return self.stop - self.start

    def describe(self, fps: float | None = None) -> dict:
        out = {"track": self.id, "start": self.start, "end": self.stop - 1,
               "frames": self.length, "box": [round(v, 1) for v in self.first_box],
               "ended_by": self.end}  # fmt: skip
        if fps:
            out["seconds"] = round(self.length / fps, 3)
        return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _histogram(rgb: np.ndarray) -> np.ndarray:
    """Per-channel 16-bin colour histograms of a thumbnail, each summing to 1: (3, 16)."""
    h, w = rgb.shape[:2]
    scale = 64 / max(h, w)
    thumb = rgb if scale >= 1 else cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )  # fmt: skip
    out = np.stack(
        [cv2.calcHist([thumb], [c], None, [16], [0, 256])[:, 0] for c in range(3)]
    ).astype(np.float64)
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, ...] | None:
    """The similarity ``dst = zoom R(turn) src + shift`` that point pairs (N, 2) agree on,
    as ``(shift_x, shift_y, turn, zoom, pairs that agree)``, or None with fewer than 4
    pairs.

    Least median of squares over the similarities through every two pairs (so fewer than
    half of the pairs may move otherwise), then least squares over the pairs within
    2.5 robust deviations (at least 0.2 px) of the best one. Points are complex numbers
    here: a similarity is ``q = z p + t``."""
    n = len(src)
    if n < 4:
        return None
    p = src[:, 0] + 1j * src[:, 1]
    q = dst[:, 0] + 1j * dst[:, 1]
    i, j = np.triu_indices(n, 1)
    z = (q[j] - q[i]) / (p[j] - p[i])
    t = q[i] - z * p[i]
    errors = np.abs(z[:, None] * p[None, :] + t[:, None] - q[None, :])
    medians = np.median(errors, axis=1)
    best = int(np.argmin(medians))
    keep = errors[best] <= max(0.2, 2.5 * 1.4826 * float(medians[best]))
    if keep.sum() < 3:
        return None
    pk, qk = p[keep], q[keep]
    pc, qc = pk - pk.mean(), qk - qk.mean()
    zz = complex(np.sum(qc * np.conj(pc)) / np.sum(np.abs(pc) ** 2))
    tt = complex(qk.mean() - zz * pk.mean())
    return tt.real, tt.imag, math.atan2(zz.imag, zz.real), abs(zz), int(keep.sum())


def _subpixel(scores: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """The peak of a 3-point parabola through the match scores around (x, y), per axis."""

    def offset(m1: float, c: float, p1: float) -> float:
        den = m1 - 2 * c + p1
        return 0.0 if den >= 0 else float(np.clip(0.5 * (m1 - p1) / den, -0.5, 0.5))

    h, w = scores.shape
    dx = offset(scores[y, x - 1], scores[y, x], scores[y, x + 1]) if 0 < x < w - 1 else 0.0
    dy = offset(scores[y - 1, x], scores[y, x], scores[y + 1, x]) if 0 < y < h - 1 else 0.0
    return x + dx, y + dy


@dataclasses.dataclass
class _Active:
    """What the tracker holds of the open track."""

    track: Track
    centre: tuple[float, float]  # frame pixels
    side: float  # the box's side, frame pixels
    levels: int  # pyramid levels taken before the affine sampling
    scale: float  # track-scale pixels per frame pixel (at the track's start)
    template: np.ndarray  # float32 (T, T)
    last_seen: int  # the last frame a detection confirmed the box
    match: float = 1.0  # the template's match in the previous frame
    angle: float = 0.0  # the face's turn since the start, radians (image axes)
    zoom: float = 1.0  # the face's size relative to the start


class FaceTracker:
    """Follows the largest face of a stream of frames (see the module docstring).

    Feed frames in order to :meth:`step`; call :meth:`finish` after the last one.
    ``tracks`` holds the tracks so far, ``timings`` the seconds spent per stage
    (``detect``, ``track``, ``align``).

    Args:
      fps: the video's frame rate (for the durations below).
      backend: the detector (:data:`mmnet_jax.vision.faces.BACKENDS`).
      detect_every: frames between detections (default: a quarter second, at least 1).
      lost_after_s: a track whose box no detection confirmed for this long ends.
      min_match: below this match the detector must confirm the box (at once), below
        half of it the track ends.
      max_drop: so must it when the match falls by more than this from one frame to the
        next.
      min_iou: a detection confirms the box when their IoU reaches this.
      shot_threshold: a shot change when the colour histograms of two consecutive frames
        differ by more than this (half the L1 distance, 0 to 1).
      crop_size: side of the aligned crops, pixels.
      margin: the crop is the box grown by this fraction of its side on each side.
      detect_size: the detector sees the frame scaled to this many pixels on its longer
        side.
    """

    def __init__(
        self,
        fps: float,
        backend: str = "auto",
        detect_every: int | None = None,
        lost_after_s: float = 2.0,
        min_match: float = 0.7,
        max_drop: float = 0.15,
        min_iou: float = 0.3,
        shot_threshold: float = 0.5,
        crop_size: int = 64,
        margin: float = 0.15,
        detect_size: int = 320,
    ):
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        faces.resolve_backend(backend)  # validates
        self.fps = float(fps)
        self.backend = backend
        self.detect_every = max(1, round(0.25 * fps)) if detect_every is None else detect_every
        self.lost_after = max(1, round(lost_after_s * fps))
        self.min_match = min_match
        self.max_drop = max_drop
        self.min_iou = min_iou
        self.shot_threshold = shot_threshold
        self.crop_size = int(crop_size)
        self.margin = margin
        self.detect_size = detect_size
        self.template_size = max(8, round(crop_size / (1 + 2 * margin)))
        self.radius = max(2, round(0.25 * self.template_size))
        self.tracks: list[Track] = []
        self.shot_changes: list[int] = []
        self.timings = {"detect": 0.0, "track": 0.0, "align": 0.0}
        self._index = 0
        self._active: _Active | None = None
        self._previous_hist: np.ndarray | None = None
        self._last_detect = -(10**9)
        self._redetect = False

    # -- helpers -------------------------------------------------------------------------

    def _detect(self, gray: np.ndarray) -> Box | None:
        start = time.perf_counter()
        h, w = gray.shape
        scale = self.detect_size / max(h, w)
        image = gray
        if abs(scale - 1) > 0.05:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(gray, size, interpolation=method)
        else:
            scale = 1.0
        # A margin of repeated edge pixels: a face that fills the frame or touches its
        # edge is found far more often (measured on mp4 clips of synthetic faces filling a
        # 128 px frame: dlib 137 of 143 frames without the margin, 143 with it).
        pad = max(1, round(0.1 * max(image.shape)))
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = faces.detect_box(image, self.backend)
        self.timings["detect"] += time.perf_counter() - start
        if found is None:
            return None
        x0, y0, x1, y1 = (float(v) - pad for v in found)
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(image.shape[1] - 2 * pad, x1), min(image.shape[0] - 2 * pad, y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0 / scale, y0 / scale, x1 / scale, y1 / scale)

    @staticmethod
    def _pyramid(gray: np.ndarray, levels: int) -> np.ndarray:
        for _ in range(levels):
            gray = cv2.pyrDown(gray)
        return gray

    def _sample(self, image: np.ndarray, active: _Active, centre, size: int) -> np.ndarray:
        """A ``size`` x ``size`` window of the pyramid image at track scale whose middle is
        ``centre`` (frame pixels), turned and scaled with the face (so the face keeps its
        start's pose in it); bilinear, edges repeated."""
        s = active.scale * 2**active.levels / active.zoom  # track pixels per pyramid pixel
        c, si = math.cos(active.angle), math.sin(active.angle)
        a = s * np.array([[c, si], [-si, c]])  # s R(-angle)
        mid = (size - 1) / 2
        where = np.asarray(centre, np.float64) / 2**active.levels
        matrix = np.hstack([a, (mid - a @ where)[:, None]])
        return cv2.warpAffine(
            image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def _eyes(self, gray: np.ndarray, square: Box) -> tuple[tuple, str] | tuple[None, str]:
        """The eye centres (frame pixels) from the landmarks of the face in ``square``'s
        neighbourhood (scaled so the face is about 120 px), or None."""
        start = time.perf_counter()
        side = square[2] - square[0]
        h, w = gray.shape
        x0, y0 = max(0, int(square[0] - side / 2)), max(0, int(square[1] - side / 2))
        x1, y1 = min(w, int(square[2] + side / 2) + 1), min(h, int(square[3] + side / 2) + 1)
        region = gray[y0:y1, x0:x1]
        zoom = 120 / side
        if region.size == 0:
            return None, ""
        region = cv2.resize(region, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA
                            if zoom < 1 else cv2.INTER_LINEAR)  # fmt: skip
        try:
            face = faces.locate(region, self.backend)
        finally:
            self.timings["detect"] += time.perf_counter() - start
        if face is None or face.method == "haar-box":
            return None, ""
        eyes = tuple((x0 + ex / zoom, y0 + ey / zoom) for ex, ey in (face.left_eye, face.right_eye))
        return eyes, face.method

    def _match(self, window: np.ndarray, template: np.ndarray):
        """The template's match in the search window (normalised cross-correlation at the
        best place), and the face's motion in the window: ``(shift_x, shift_y, turn,
        zoom, blocks that agree, blocks matched at 0.85 or more)``, track pixels and
        radians.

        Each of the template's nine blocks is searched for alone, and a similarity
        (shift, turn, zoom) is fitted to where they went, leaving out the blocks that
        disagree (a blink, an expression): one match of the whole face would follow a
        moving brow or closing eyes (measured on synthetic videos: up to 0.8 px at a
        blink, 1 px at a brow movement), and a slow turn of the head moves the blocks
        apart."""
        r = self.radius
        scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        x, y = _subpixel(scores, bx, by)
        fallback = (float(x) - r, float(y) - r, 0.0, 1.0, 0)  # the whole template's
        t = template.shape[0]
        size = t // 3
        half = (t - 1) / 2
        where, went = [], []
        strong = 0
        for y0 in (0, size, t - size):
            for x0 in (0, size, t - size):
                block = template[y0 : y0 + size, x0 : x0 + size]
                if block.std() < _MIN_BLOCK_STD:
                    continue  # no texture to match
                sub = window[y0 : y0 + size + 2 * r, x0 : x0 + size + 2 * r]
                found = cv2.matchTemplate(sub, block, cv2.TM_CCOEFF_NORMED)
                _, peak, _, (qx, qy) = cv2.minMaxLoc(found)
                strong += peak >= _STRONG_BLOCK
                qx, qy = _subpixel(found, qx, qy)
                centre = (x0 + (size - 1) / 2 - half, y0 + (size - 1) / 2 - half)
                where.append(centre)
                went.append((centre[0] + qx - r, centre[1] + qy - r))
        if len(where) < 5:
            return best, (*fallback, strong)
        fit = _similarity(np.asarray(where), np.asarray(went))
        return best, (*(fit if fit is not None else fallback), strong)

    def _start(self, index: int, gray: np.ndarray, box: Box) -> None:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(box[2] - box[0], box[3] - box[1])
        scale = self.template_size / side
        levels = max(0, int(math.floor(math.log2(1 / scale)))) if scale < 1 else 0
        square = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        track = Track(len(self.tracks), index, index + 1, square)
        eyes, track.eyes_method = self._eyes(gray, square)
        if eyes is not None:
            # Frame pixels -> crop pixels (the crop's middle is the box's centre).
            mid = (self.crop_size - 1) / 2
            track.eyes = tuple(  # type: ignore[assignment]
                (mid + (ex - cx) * scale, mid + (ey - cy) * scale) for ex, ey in eyes
            )
        active = _Active(track, (cx, cy), side, levels, scale, np.zeros(0, np.float32), index)
        image = self._pyramid(gray, levels)
        active.template = self._sample(image, active, (cx, cy), self.template_size).astype(
            np.float32
        )
        self.tracks.append(track)
        self._active = active

    def _end(self, index: int, why: str) -> None:
        if self._active is not None:
            self._active.track.stop = index
            self._active.track.end = why
        self._active = None
        self._redetect = True  # look for a face at once

    def _box(self, active: _Active) -> Box:
        (cx, cy), half = active.centre, active.side * active.zoom / 2
        return (cx - half, cy - half, cx + half, cy + half)

    # -- the step ------------------------------------------------------------------------

    def step(self, rgb: np.ndarray) -> TrackedFrame:
        """Take the next frame (RGB uint8 (H, W, 3), or gray (H, W)) and return its result."""
        index = self._index
        self._index += 1
        start = time.perf_counter()
        rgb = np.asarray(rgb)
        colour = rgb if rgb.ndim == 3 else np.repeat(rgb[..., None], 3, axis=-1)
        gray = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        hist = _histogram(colour)
        shot = (
            self._previous_hist is not None
            and 0.5 * np.abs(hist - self._previous_hist).sum() / 3 > self.shot_threshold
        )
        self._previous_hist = hist
        if shot:
            self.shot_changes.append(index)
            self._end(index, f"shot change at frame {index}")

        match = math.nan
        strong = 0
        image = None
        active = self._active
        if active is not None:
            image = self._pyramid(gray, active.levels)
            size = self.template_size + 2 * self.radius
            window = self._sample(image, active, active.centre, size).astype(np.float32)
            best, motion = self._match(window, active.template)
            shift_x, shift_y, turn, zoom, _, strong = motion
            match = float(best) if math.isfinite(best) else -1.0
            if match < self.min_match / 2:
                self._end(index, f"face lost at frame {index} (template match {match:.2f})")
                active = None
            else:
                # Window pixels -> frame pixels: the window is the frame turned by -angle
                # and scaled by scale / zoom about the centre.
                c, si = math.cos(active.angle), math.sin(active.angle)
                k = active.zoom / active.scale
                active.centre = (
                    active.centre[0] + k * (c * shift_x - si * shift_y),
                    active.centre[1] + k * (si * shift_x + c * shift_y),
                )
                active.angle += turn
                active.zoom *= zoom
        self.timings["track"] += time.perf_counter() - start

        detected = False
        # A low match, or a sudden fall of it (a face that vanishes), is checked at once.
        doubtful = active is not None and (
            match < self.min_match or active.match - match > self.max_drop
        )
        if active is not None:
            active.match = match
        if index - self._last_detect >= self.detect_every or self._redetect or doubtful:
            detected = True
            self._last_detect = index
            found = self._detect(gray)
            if active is not None:
                if found is None:
                    if doubtful:
                        self._end(
                            index,
                            f"face lost at frame {index} (template match {match:.2f}, no "
                            "face detected)",
                        )
                        active = None
                    elif index - active.last_seen > self.lost_after:
                        self._end(
                            index,
                            f"face lost at frame {index} (no detection since frame "
                            f"{active.last_seen})",
                        )
                        active = None
                elif _iou(found, self._box(active)) >= self.min_iou:
                    if match < self.min_match and strong < _MIN_STRONG:
                        # A face is there but no longer the one of the template: another
                        # face in the same place (a cut between two close-ups), or a pose
                        # far from the start's. A new track starts from the detection.
                        # (A large expression lowers the match too, but most blocks
                        # still match well: on synthetic videos 5-6 of 9 blocks at 0.9
                        # during a macro-expression, at most 2 above 0.8 for another
                        # face.)
                        self._end(index, f"face changed at frame {index} (template match "
                                  f"{match:.2f})")  # fmt: skip
                        active = None
                    else:
                        active.last_seen = index
                else:
                    self._end(index, f"another face at frame {index}")
                    active = None
            if active is None and found is not None:
                self._start(index, gray, found)
                active = self._active
                image = None
        self._redetect = False

        if active is None:
            return TrackedFrame(index, None, None, math.nan, detected)
        start = time.perf_counter()
        if image is None:
            image = self._pyramid(gray, active.levels)
        crop = self._sample(image, active, active.centre, self.crop_size)
        active.track.stop = index + 1
        self.timings["align"] += time.perf_counter() - start
        return TrackedFrame(
            index,
            active.track.id,
            self._box(active),
            1.0 if math.isnan(match) else match,
            detected,
            crop,
        )

    def finish(self) -> list[Track]:
        """Close the open track (``end of video``); returns every track."""
        if self._active is not None:
            self._end(self._index, "end of video")
        return self.tracks


def track_faces(
    images: Iterable[np.ndarray], fps: float, tracker: FaceTracker | None = None, **kwargs
) -> Iterator[TrackedFrame]:
    """:meth:`FaceTracker.step` over a stream of frames (a :class:`FrameSource` or any
    iterable of RGB frames); ``kwargs`` go to :class:`FaceTracker` when none is given.
    The tracker's :meth:`~FaceTracker.finish` runs after the last frame."""
    tracker = tracker or FaceTracker(fps, **kwargs)
    for rgb in images:
        yield tracker.step(rgb)
    tracker.finish()


def untracked_ranges(records: Iterable[TrackedFrame]) -> list[tuple[int, int]]:
    """The runs of frames without a tracked face, as inclusive ``(first, last)`` frames."""
    out: list[list[int]] = []
    for r in records:
        if r.track is None:
            if out and out[-1][1] == r.frame - 1:
                out[-1][1] = r.frame
            else:
                out.append([r.frame, r.frame])
    return [(a, b) for a, b in out]
