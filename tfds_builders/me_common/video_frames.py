"""The frames of a long video: every frame read (grey or RGB), the face cropped, resized.

Face crop (:class:`FaceTrack`), with :func:`mmnet_jax.vision.faces.locate` (dlib with the
``faces`` extra, else OpenCV's Haar cascades) and :func:`mmnet_jax.vision.faces.alignment`
(eyes levelled, a square around the face):

- ``face_every=0`` (the default): ONE transform for the whole video, made from the
  first of up to :data:`PROBES` frames, spread over the video from its first frame,
  that shows a face, as the public spotting code crops CAS(ME)^2 and SAMM Long Videos
  (SoftNet-SpotME and MEAN_Spot-then-recognize: the dlib box of the first frame for
  every frame). The crop adds no motion of its own.
- ``face_every=N``: the face is located every N frames (and in the last frame); the
  crop follows it, its centre, scale and roll interpolated linearly between those
  frames (constant before the first and after the last). Detections far from the
  others (a centre more than half a face away from the median, or a size off by more
  than half) are dropped as misdetections. The crop then moves a little of its own,
  slowly, where the located faces disagree.

Each transform maps a source frame to a square crop of the first located face's own
side; the crop is then resized to the config's ``image_size`` (area filter down).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
from collections.abc import Callable, Mapping

import cv2
import numpy as np
from etils import epath

from mmnet_jax.vision import faces
from mmnet_jax.vision import frames as frames_lib
from tfds_builders.clip_features import encode_png
from tfds_builders.me_common.frames import NoFaceError
from tfds_builders.me_common.video_cache import CachedVideo
from tfds_builders.me_common.video_config import VideoConfig

# Frames probed for a face when one transform serves the whole video.
PROBES = 10


def read_frame(path: epath.PathLike, grayscale: bool) -> np.ndarray:
    """One frame file as grey (H, W) or RGB (H, W, 3) uint8 (the builders' only reader).

    Raises:
      OSError: naming the file that is missing or cannot be decoded.
    """
    try:
        return frames_lib.read_gray(path) if grayscale else frames_lib.read_rgb(path)
    except frames_lib.FrameError as e:
        raise OSError(str(e)) from None


def _params(matrix: np.ndarray, size: int) -> tuple[float, float, float, float]:
    """A similarity (2, 3) -> ``(source x, source y of the crop centre, log scale,
    angle)``."""
    a, b = matrix[0, 0], matrix[0, 1]
    centre = np.linalg.solve(matrix[:, :2], np.array([size / 2, size / 2]) - matrix[:, 2])
    return float(centre[0]), float(centre[1]), math.log(math.hypot(a, b)), math.atan2(b, a)


def _matrix(params: tuple[float, float, float, float], size: int) -> np.ndarray:
    x, y, log_scale, angle = params
    s = math.exp(log_scale)
    rot = s * np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    shift = np.array([size / 2, size / 2]) - rot @ np.array([x, y])
    return np.concatenate([rot, shift[:, None]], axis=1)


@dataclasses.dataclass(frozen=True)
class FaceTrack:
    """The crop of every frame: ``matrix(n)`` maps source pixels of frame ``n`` to a
    ``size`` x ``size`` crop; ``keys`` are the frames the face was located in, with
    their transforms (one key: the same transform for every frame)."""

    size: int
    keys: tuple[tuple[int, np.ndarray], ...]

    def matrix(self, number: int) -> np.ndarray:
        frames = [k for k, _ in self.keys]
        i = bisect.bisect_right(frames, number)
        if i == 0:
            return self.keys[0][1]
        if i == len(frames):
            return self.keys[-1][1]
        (f0, m0), (f1, m1) = self.keys[i - 1], self.keys[i]
        t = (number - f0) / (f1 - f0)
        p0, p1 = _params(m0, self.size), _params(m1, self.size)
        angle1 = p0[3] + math.remainder(p1[3] - p0[3], 2 * math.pi)
        mixed = [(1 - t) * a + t * b for a, b in zip(p0[:3], p1[:3], strict=True)]
        return _matrix((*mixed, (1 - t) * p0[3] + t * angle1), self.size)

    def apply(self, image: np.ndarray, number: int) -> np.ndarray:
        return cv2.warpAffine(
            np.ascontiguousarray(image), self.matrix(number), (self.size, self.size),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip


def _follow(matrix: np.ndarray, ref: faces.Face, face: faces.Face, rotate: bool) -> np.ndarray:
    """The reference crop ``matrix`` carried to another frame's face: composed with the
    similarity that takes that face's eye centres onto the reference face's (eyes are
    located more precisely than the detector's box; without ``rotate``, the similarity
    keeps only shift and scale)."""
    l0, r0 = complex(*ref.left_eye), complex(*ref.right_eye)
    l1, r1 = complex(*face.left_eye), complex(*face.right_eye)
    if abs(r1 - l1) < 1e-6:
        return matrix
    a = (r0 - l0) / (r1 - l1)
    if not rotate:
        a = complex(abs(a), 0.0)
    shift = l0 - a * l1
    similarity = np.array([[a.real, -a.imag, shift.real], [a.imag, a.real, shift.imag]])
    out = matrix[:, :2] @ similarity
    return np.concatenate(
        [out[:, :2], (matrix[:, :2] @ similarity[:, 2] + matrix[:, 2])[:, None]], 1
    )


def _consistent(found: list[tuple[int, faces.Face]]) -> list[tuple[int, faces.Face]]:
    """Drops detections whose box centre lies more than half a face from the median
    centre, or whose size is off the median by more than half (misdetections)."""
    if len(found) < 3:
        return found
    boxes = np.array([f.box for _, f in found], np.float64)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    centre, side = np.median(centres, axis=0), np.median(sides)
    keep = (np.linalg.norm(centres - centre, axis=1) <= side / 2) & (
        np.abs(np.log(sides / side)) <= math.log(1.5)
    )
    return [item for item, ok in zip(found, keep, strict=True) if ok]


def locate_face(
    read: Callable[[int], np.ndarray], numbers: list[int], config: VideoConfig
) -> tuple[FaceTrack | None, dict]:
    """The crop of a video (see the module docstring): ``(track or None, the record's
    face_alignment dict)``; None with ``mode`` ``"full frame"`` and a ``reason`` when
    no probed frame shows a face (or no detector is installed)."""
    every = config.face_every
    if every:
        probes = list(dict.fromkeys([*numbers[::every], numbers[-1]]))
    else:
        probes = numbers[:: max(1, len(numbers) // PROBES)][:PROBES]
    found: list[tuple[int, faces.Face]] = []
    for number in probes:
        try:
            face = faces.locate(read(number))
        except faces.BackendUnavailable as e:
            return None, {"mode": "full frame", "reason": f"face crop unavailable ({e})"}
        if face is None:
            continue
        if not config.face_align:
            face = dataclasses.replace(face, roll_degrees=0.0)
        found.append((number, face))
        if not every:
            break
    if not found:
        shown = ", ".join(map(str, probes[:PROBES]))
        more = f", ... ({len(probes)} frames)" if len(probes) > PROBES else ""
        return None, {
            "mode": "full frame",
            "reason": f"no face found in frames {shown}{more}",
        }
    kept = _consistent(found)
    reference = faces.alignment(kept[0][1])
    size = reference.size
    keys = tuple(
        (n, _follow(reference.matrix, kept[0][1], face, rotate=config.face_align))
        for n, face in kept
    )
    mode = "aligned" if config.face_align else "box"
    if not every:
        number, face = kept[0]
        info = {"mode": mode, **face.describe(), "crop_size": size, "frame": number}
        info["matrix"] = reference.describe()["matrix"]
        return FaceTrack(size, keys), info
    info = {
        "mode": mode,
        "method": kept[0][1].method,
        "crop_size": size,
        "face_every": every,
        "probed": len(probes),
        "found": len(found),
        "dropped": len(found) - len(kept),
        "keyframes": [
            {"frame": n, "box": [int(v) for v in f.box], "roll_degrees": round(f.roll_degrees, 3)}
            for n, f in kept
        ],
    }
    return FaceTrack(size, keys), info


def prepare_video(
    files: Mapping[int, epath.Path], config: VideoConfig, require_face: bool = False
) -> CachedVideo:
    """Reads every frame of a video (in frame-number order), crops the face, resizes and
    PNG-encodes it: the frames, their numbers, the face_alignment JSON and notes.

    Raises:
      OSError: a frame cannot be read (the message names it).
      NoFaceError: face crop on, no face found, and ``require_face``.
    """
    numbers = sorted(files)
    size, channels = config.image_size, config.channels

    def read(number: int) -> np.ndarray:
        return read_frame(files[number], config.grayscale)

    notes = []
    track, info = None, {"mode": "full frame", "reason": "face_crop off"}
    if config.face_crop:
        track, info = locate_face(read, numbers, config)
        if track is None:
            if require_face:
                raise NoFaceError(info["reason"])
            notes.append(f"{info['reason']}: full frames")
    png = []
    for number in numbers:
        image = read(number)
        if track is not None:
            image = track.apply(image, number)
        png.append(encode_png(frames_lib.resize_square(image, size).reshape(size, size, channels)))
    return CachedVideo(png, numbers, json.dumps(info, sort_keys=True), notes)
