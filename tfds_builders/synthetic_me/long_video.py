"""Synthetic long videos with micro- and macro-expressions at known frames (pure NumPy).

A long video is one synthetic face of :mod:`tfds_builders.synthetic_me.generator` (the
same identities, the same drawing and the same expression warps) moving slowly in a
larger frame, under slowly changing light, with sensor noise, making several

- **micro-expressions**: 0.2-0.5 s from onset to offset, low amplitude, one local facial
  action around the mouth or the brows;
- **macro-expressions**: longer than 0.5 s (0.6-2.5 s) and larger;
- **blinks**: 0.1-0.2 s, the eyelids only (not part of the ground truth);

at frames drawn from the seed, never overlapping (each event keeps a gap of 0.3 s to the
next). Ground truth intervals are inclusive frame numbers counted from 0; an event's
intensity is 0 at its onset and offset and largest at its apex (a raised cosine).

Everything is deterministic in the seed: :func:`make_video` with the same arguments
gives the same frames; another seed gives another face, other events and other motion.
The face is the seed's first identity that OpenCV's frontal-face Haar cascade finds (a
drawn face that no detector finds would test nothing of spotting; see
:func:`_with_detectable_face`). The head drifts along slow sinusoids (periods of 14 to
67 s: a few per cent of its size in x and y, 1.5 degrees of roll, 2 % of scale), and
the light's gain along another.
Frames are drawn one at a time (:meth:`LongVideo.frame`, :meth:`LongVideo.frames`), so a
video of minutes never sits in memory; :func:`write_mp4` and :func:`write_frames` store
one. :func:`concatenate` joins videos into one with shot changes (another face, another
background) at known frames.

Demo (a two-minute 640x360 video and its ground truth)::

    python -m tfds_builders.synthetic_me.long_video --out demo.mp4 --seconds 120 \\
        --width 640 --height 360

Public API: :data:`EXPRESSIONS`, :class:`Event`, :class:`LongVideo`, :class:`Concatenation`,
:func:`make_video`, :func:`concatenate`, :func:`write_mp4`, :func:`write_frames`,
:func:`write_ground_truth`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import pathlib
import sys
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from mmnet_jax.vision import faces
from tfds_builders.synthetic_me import generator

# The facial actions a long video's expressions use (around the mouth and the brows) and
# the emotion each one stands for here.
EXPRESSIONS: dict[str, str] = {
    "brow_raise": "surprise",
    "brow_lower": "anger",
    "lip_corner_pull": "happiness",
    "lip_corner_depress": "sadness",
    "lip_press": "repression",
}
TYPES = ("micro", "macro", "blink")
# Durations (onset to offset) in seconds, and amplitudes (the generator's intensity scale:
# its recognition clips use 0.75-1.0).
MICRO_SECONDS = (0.2, 0.5)
MACRO_SECONDS = (0.6, 2.5)
BLINK_SECONDS = (0.1, 0.2)
MICRO_AMPLITUDE = (0.45, 0.75)
MACRO_AMPLITUDE = (1.0, 1.4)
GAP_SECONDS = 0.3  # between any two events
MARGIN_SECONDS = 0.5  # no event in the first and last half second

# Spawn-key tags, apart from the generator's own (0-3).
_TAG_VIDEO = 10
_TAG_NOISE = 11
_TAG_IDENTITY = 12
_IDENTITY_ATTEMPTS = 200
_PLACE_ATTEMPTS = 50


@dataclasses.dataclass(frozen=True)
class Event:
    """One expression or blink of a video; frames inclusive, numbered from 0.

    Attributes:
      type: ``micro``, ``macro`` or ``blink``.
      expression: the facial action (a key of :data:`EXPRESSIONS`, or ``blink``).
      emotion: the emotion it stands for (``""`` for a blink).
      onset, apex, offset: frame numbers, onset < apex < offset.
      amplitude: intensity at the apex.
    """

    type: str
    expression: str
    emotion: str
    onset: int
    apex: int
    offset: int
    amplitude: float

    def intensity(self, frame: int) -> float:
        """0 outside (onset, offset), ``amplitude`` at the apex, a raised cosine between."""
        if frame <= self.onset or frame >= self.offset:
            return 0.0
        if frame <= self.apex:
            s = (frame - self.onset) / (self.apex - self.onset)
        else:
            s = (self.offset - frame) / (self.offset - self.apex)
        return float(self.amplitude * 0.5 * (1.0 - math.cos(math.pi * s)))

    def shifted(self, frames: int) -> Event:
        return dataclasses.replace(
            self, onset=self.onset + frames, apex=self.apex + frames, offset=self.offset + frames
        )

    def describe(self, fps: float) -> dict:
        """JSON/CSV-ready: type, expression, emotion, frames and seconds."""
        return {
            "type": self.type,
            "expression": self.expression,
            "emotion": self.emotion,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "onset_s": round(self.onset / fps, 4),
            "offset_s": round(self.offset / fps, 4),
            "amplitude": round(self.amplitude, 4),
        }


class _Reading:
    """Reading frames one at a time, for a video that draws ``frame(i)`` on demand."""

    num_frames: int

    def frame(self, frame: int) -> np.ndarray:
        raise NotImplementedError

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start`` .. ``stop - 1`` one at a time."""
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        for i in range(start, stop):
            yield self.frame(i)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()


@dataclasses.dataclass(frozen=True)
class LongVideo(_Reading):
    """One synthetic face video (see the module docstring); frames are drawn on demand.

    Attributes:
      seed: what it was drawn from.
      num_frames, fps, width, height: the video's length and format.
      face_size: side in pixels of the square the head is drawn in.
      identity: the face (:class:`generator.Identity`).
      events: expressions and blinks, in time order.
      absent: ``(start, stop)`` frame ranges (stop exclusive) in which no face is drawn
        (the person stepped out): background only.
      centre: the head's mean position, pixels ``(x, y)``.
      drift: per axis (x px, y px, roll degrees, relative scale) the amplitudes, and the
        frequencies (Hz) and phases, of the slow sinusoids the head moves along.
      light: (gain amplitude, frequency Hz, phase) of the slow change of the light.
      noise_std: sensor noise, grey levels.
    """

    seed: int
    num_frames: int
    fps: float
    width: int
    height: int
    face_size: int
    identity: generator.Identity
    events: tuple[Event, ...]
    absent: tuple[tuple[int, int], ...]
    centre: tuple[float, float]
    drift: tuple[tuple[tuple[float, float, float], ...], ...]
    light: tuple[float, float, float]
    noise_std: float

    def __len__(self) -> int:
        return self.num_frames

    @property
    def ground_truth(self) -> list[Event]:
        """The micro- and macro-expressions (blinks left out), in time order."""
        return [e for e in self.events if e.type != "blink"]

    @property
    def blinks(self) -> list[Event]:
        return [e for e in self.events if e.type == "blink"]

    @property
    def shot_changes(self) -> list[int]:
        """Frames that start a new shot (none in a single video)."""
        return []

    def face_present(self, frame: int) -> bool:
        return not any(a <= frame < b for a, b in self.absent)

    def pose(self, frame: int) -> tuple[float, float, float, float]:
        """The head at ``frame``: centre x, y (pixels), roll (degrees), relative scale."""
        t = frame / self.fps
        values = [
            sum(a * math.sin(2 * math.pi * f * t + ph) for a, f, ph in axis) for axis in self.drift
        ]
        return self.centre[0] + values[0], self.centre[1] + values[1], values[2], values[3]

    def event_at(self, frame: int) -> Event | None:
        for e in self.events:
            if e.onset < frame < e.offset:
                return e
        return None

    def frame(self, frame: int) -> np.ndarray:
        """Frame ``frame`` (0-based) as RGB uint8 (height, width, 3)."""
        if not 0 <= frame < self.num_frames:
            raise IndexError(f"frame {frame} is not in a video of {self.num_frames} frames")
        return self._draw(frame, self.face_present(frame), self.event_at(frame))

    def _draw(self, frame: int, face: bool, event: Event | None) -> np.ndarray:
        canvas = np.empty((self.height, self.width, 3), np.float32)
        canvas[:] = self.identity.background.astype(np.float32)
        if face:
            self._draw_face(canvas, frame, event)
        # Light over the whole frame: the subject's colour and gradient, slowly varying gain.
        amp, freq, phase = self.light
        gain = 1.0 + amp * math.sin(2 * math.pi * freq * frame / self.fps + phase)
        x = np.linspace(-1, 1, self.width, dtype=np.float32)
        y = np.linspace(-1, 1, self.height, dtype=np.float32)
        gx, gy = (float(g) for g in self.identity.light_gradient)
        shade = 1.0 + gx * x[None, :] + gy * y[:, None]
        colour = (np.asarray(self.identity.light_gain, np.float32) * gain * 255.0).astype(
            np.float32
        )
        canvas *= shade[..., None] * colour
        noise = generator._rng(self.seed, _TAG_NOISE, int(frame))
        canvas += noise.standard_normal(canvas.shape, dtype=np.float32) * self.noise_std
        return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)

    def _draw_face(self, canvas: np.ndarray, frame: int, event: Event | None) -> None:
        cx, cy, roll_deg, dscale = self.pose(frame)
        n = self.face_size
        x0, y0 = int(math.floor(cx - n / 2)), int(math.floor(cy - n / 2))
        # The face's centre inside its square (normalised units, the square spans [-1, 1]);
        # the fraction of a pixel goes here, so the drift is smooth.
        centre = ((cx - x0) / n * 2 - 1, (cy - y0) / n * 2 - 1)
        face = _render_face(
            self.identity,
            n,
            centre,
            self.identity.scale * (1 + dscale),
            math.radians(roll_deg),
            event.expression if event is not None and event.type != "blink" else None,
            event.intensity(frame) if event is not None else 0.0,
            event.intensity(frame) if event is not None and event.type == "blink" else 0.0,
        )
        h, w = canvas.shape[:2]
        ax0, ay0, ax1, ay1 = max(0, x0), max(0, y0), min(w, x0 + n), min(h, y0 + n)
        if ax0 < ax1 and ay0 < ay1:
            canvas[ay0:ay1, ax0:ax1] = face[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]


def _render_face(
    identity: generator.Identity,
    n: int,
    centre: tuple[float, float],
    scale: float,
    roll: float,
    expression: str | None,
    k: float,
    blink: float,
) -> np.ndarray:
    """The head in an ``n`` x ``n`` square, RGB float32 in [0, 1] before the light.

    The generator's view mapping, expression warp and appearance (its private drawing
    functions: the long videos must show the same faces and the same actions), then the
    eyelids closed by ``blink`` (0 open .. 1 shut).
    """
    coords = (np.arange(n, dtype=np.float64) + 0.5) / n * 2 - 1
    x, y = np.meshgrid(coords, coords)
    c, s = math.cos(roll), math.sin(roll)
    px_, py_ = x - centre[0], y - centre[1]
    u = (c * px_ + s * py_) / scale
    v = (-s * px_ + c * py_) / scale
    px = 2.0 / n / scale
    wrinkles = identity.wrinkles.copy()
    if expression is not None and k > 0:
        du, dv, shading = generator._expression(identity, expression, k, u, v, px)
        for family, depth in generator._CLASS_WRINKLES[expression].items():
            wrinkles[generator.WRINKLES.index(family)] += k * generator._SHADING_SCALE * depth
    else:
        du, dv, shading = 0.0, 0.0, np.ones_like(u)
    img = generator._appearance(identity, u + du, v + dv, px, wrinkles) * shading[..., None]
    if blink > 0:
        img = _close_eyes(identity, img, u, v, px, blink)
    return img.astype(np.float32)


def _close_eyes(
    idt: generator.Identity, img: np.ndarray, u: np.ndarray, v: np.ndarray, px: float, b: float
) -> np.ndarray:
    """The upper lids lowered over ``b`` (0..1) of each eye's opening: lid skin above a
    lash line that moves down with it (the eye's own outline, as the generator draws it)."""
    lid_colour = idt.skin * 0.82
    for side in (-1.0, 1.0):
        eu = (u - side * idt.eye_sep) / idt.eye_half_w
        ev = v - idt.eye_v
        inside = np.abs(eu) < 1.05
        if not inside.any():
            continue
        lid = np.clip(1 - eu * eu, 0, None)
        upper = -idt.eye_half_h * lid**0.8
        lower = 0.75 * idt.eye_half_h * lid**0.9
        edge = upper + b * (lower - upper + 0.01)
        cover = generator._soft(np.maximum(upper - 0.02 - ev, ev - edge), px) * inside
        img = generator._blend(img, lid_colour, cover)
        lash = generator._line(ev - edge, 0.012, px) * inside
        img = img * (1 - 0.75 * b * lash)[..., None]
    return img


# ---------------------------------------------------------------------------- planning


def _place(
    rng: np.random.Generator,
    taken: list[tuple[int, int]],
    length: int,
    lo: int,
    hi: int,
    gap: int,
) -> int | None:
    """A start frame in [lo, hi - length] whose span keeps ``gap`` frames from every span
    in ``taken``, drawn uniformly among the free starts; None when none is free."""
    starts = np.arange(lo, hi - length + 1)
    if starts.size == 0:
        return None
    free = np.ones(starts.size, bool)
    for a, b in taken:
        free &= (starts + length - 1 < a - gap) | (starts > b + gap)
    if not free.any():
        return None
    return int(rng.choice(starts[free]))


def _event(rng: np.random.Generator, kind: str, fps: float) -> tuple[str, int, float]:
    """(expression, length in frames, amplitude) of one new event of ``kind``."""
    seconds, amplitude = {
        "micro": (MICRO_SECONDS, MICRO_AMPLITUDE),
        "macro": (MACRO_SECONDS, MACRO_AMPLITUDE),
        "blink": (BLINK_SECONDS, (1.0, 1.0)),
    }[kind]
    # Frames from onset to offset inclusive, at least 3 (onset < apex < offset); the
    # duration is that count over the frame rate (a micro-expression's at most 0.5 s).
    length = max(3, int(round(rng.uniform(*seconds) * fps)))
    expression = "blink" if kind == "blink" else str(rng.choice(sorted(EXPRESSIONS)))
    return expression, length, float(rng.uniform(*amplitude))


def make_video(
    seed: int,
    num_frames: int | None = None,
    *,
    seconds: float | None = None,
    fps: float = 30.0,
    width: int = 128,
    height: int = 128,
    micro: int = 3,
    macro: int = 2,
    blinks: int | None = None,
    absent: Sequence[tuple[int, int]] = (),
    face_fraction: float = 0.75,
) -> LongVideo:
    """Plan a synthetic long video (its frames are drawn on demand).

    Args:
      seed: any non-negative int; another seed gives another face and other events.
      num_frames or seconds: the length (one of them).
      fps: frames per second; durations in seconds become frames at this rate.
      width, height: the frame size in pixels (at least 48).
      micro, macro: how many micro- and macro-expressions.
      blinks: how many blinks (default: one every 4 s).
      absent: ``(start, stop)`` frame ranges with no face (stop exclusive); events are
        placed outside them.
      face_fraction: the side of the head's square as a fraction of the frame's height.

    Raises:
      ValueError: bad sizes, or the events do not fit in the video.
    """
    if (num_frames is None) == (seconds is None):
        raise ValueError("give one of num_frames and seconds")
    if num_frames is None:
        num_frames = int(round(seconds * fps))
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if fps <= 0 or num_frames < 1:
        raise ValueError(f"need fps > 0 and at least one frame, got {fps}, {num_frames}")
    if min(width, height) < 48:
        raise ValueError(f"frames must be at least 48 px a side, got {width}x{height}")
    if not 0.2 <= face_fraction <= 1.0:
        raise ValueError(f"face_fraction must be in [0.2, 1], got {face_fraction}")
    rng = generator._rng(seed, _TAG_VIDEO)
    blinks = int(round(num_frames / fps / 4.0)) if blinks is None else blinks

    gap = int(round(GAP_SECONDS * fps))
    margin = int(round(MARGIN_SECONDS * fps))
    # Longest first, so the long ones find room; the places are drawn again (up to
    # _PLACE_ATTEMPTS times) when one does not fit.
    counts = (("macro", macro), ("micro", micro), ("blink", blinks))
    plan = [(kind, *_event(rng, kind, fps)) for kind, count in counts for _ in range(count)]
    plan.sort(key=lambda p: -p[2])
    for attempt in range(_PLACE_ATTEMPTS):
        places = generator._rng(seed, _TAG_VIDEO, 1, attempt)
        taken = [(int(a), int(b) - 1) for a, b in absent]
        events = []
        for kind, expression, length, amplitude in plan:
            start = _place(places, taken, length, margin, num_frames - margin, gap)
            if start is None:
                break
            offset = start + length - 1
            apex = start + max(1, min(length - 2, int(round(places.uniform(0.35, 0.55) * length))))
            taken.append((start, offset))
            emotion = EXPRESSIONS.get(expression, "")
            events.append(Event(kind, expression, emotion, start, apex, offset, amplitude))
        else:
            break
    else:
        raise ValueError(
            f"{micro} micro, {macro} macro and {blinks} blinks do not fit in "
            f"{num_frames} frames at {fps} fps (make the video longer)"
        )
    events.sort(key=lambda e: e.onset)

    face_size = max(32, int(round(face_fraction * height)))
    span_x = max(0.0, (width - face_size) / 2)
    centre = (
        width / 2 + rng.uniform(-0.3, 0.3) * span_x,
        height / 2 + rng.uniform(-0.02, 0.02) * height,
    )

    def axis(amplitude: float) -> tuple[tuple[float, float, float], ...]:
        # Two slow sinusoids (periods of 14 to 67 s) per axis.
        return tuple(
            (float(amplitude * rng.uniform(0.4, 1.0)), float(rng.uniform(0.015, 0.07)),
             float(rng.uniform(0, 2 * math.pi)))
            for _ in range(2)
        )  # fmt: skip

    drift = (axis(0.05 * face_size), axis(0.03 * face_size), axis(1.5), axis(0.02))
    video = LongVideo(
        seed=seed,
        num_frames=int(num_frames),
        fps=float(fps),
        width=int(width),
        height=int(height),
        face_size=face_size,
        identity=None,
        events=tuple(events),
        absent=tuple((int(a), int(b)) for a, b in absent),
        centre=centre,
        drift=drift,
        light=(
            float(rng.uniform(0.005, 0.02)),
            float(rng.uniform(0.02, 0.1)),
            float(rng.uniform(0, 2 * math.pi)),
        ),  # fmt: skip
        noise_std=float(rng.uniform(1.0, 2.5)),
    )
    return _with_detectable_face(video)


def _with_detectable_face(video: LongVideo) -> LongVideo:
    """The video with the first identity of the seed whose face OpenCV's frontal-face Haar
    cascade (always installed) finds in the video's first and middle frames (drawn
    without expression).

    The generator's faces are drawings: the cascade misses about half of them (dlib's HOG
    detector about a quarter), for reasons that have nothing to do with real faces
    (texture, contrast). A video whose face no detector finds would test nothing of
    spotting, so such identities are drawn again, deterministically. Inside the head's
    square the background has no tilt: the frame's background is uniform, so the
    square pastes without a seam (the light's gradient spans the whole frame).
    """
    for attempt in range(_IDENTITY_ATTEMPTS):
        identity = generator.sample_identity(generator._rng(video.seed, _TAG_IDENTITY, attempt))
        candidate = dataclasses.replace(
            video, identity=dataclasses.replace(identity, background_tilt=0.0)
        )
        if all(
            faces.haar_box(cv2.cvtColor(candidate._draw(i, True, None), cv2.COLOR_RGB2GRAY))
            for i in (0, video.num_frames // 2)
        ):
            return candidate
    raise AssertionError(f"no detectable identity in {_IDENTITY_ATTEMPTS} draws")


@dataclasses.dataclass(frozen=True)
class Concatenation(_Reading):
    """Videos played one after another (same size and frame rate): a shot change at the
    first frame of each but the first. Has :class:`LongVideo`'s reading interface."""

    videos: tuple[LongVideo, ...]

    def __post_init__(self):
        if not self.videos:
            raise ValueError("nothing to concatenate")
        first = self.videos[0]
        for v in self.videos[1:]:
            if (v.width, v.height, v.fps) != (first.width, first.height, first.fps):
                raise ValueError("concatenated videos need one size and one frame rate")

    @property
    def fps(self) -> float:
        return self.videos[0].fps

    @property
    def width(self) -> int:
        return self.videos[0].width

    @property
    def height(self) -> int:
        return self.videos[0].height

    @property
    def num_frames(self) -> int:
        return sum(v.num_frames for v in self.videos)

    def __len__(self) -> int:
        return self.num_frames

    @property
    def shot_changes(self) -> list[int]:
        starts = np.cumsum([0] + [v.num_frames for v in self.videos])
        return [int(s) for s in starts[1:-1]]

    def _locate(self, frame: int) -> tuple[LongVideo, int]:
        if not 0 <= frame < self.num_frames:
            raise IndexError(f"frame {frame} is not in a video of {self.num_frames} frames")
        for v in self.videos:
            if frame < v.num_frames:
                return v, frame
            frame -= v.num_frames
        raise AssertionError("unreachable")

    def frame(self, frame: int) -> np.ndarray:
        video, local = self._locate(frame)
        return video.frame(local)

    def face_present(self, frame: int) -> bool:
        video, local = self._locate(frame)
        return video.face_present(local)

    def _shifted(self, pick) -> list[Event]:
        out, offset = [], 0
        for v in self.videos:
            out += [e.shifted(offset) for e in pick(v)]
            offset += v.num_frames
        return out

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._shifted(lambda v: v.events))

    @property
    def ground_truth(self) -> list[Event]:
        return self._shifted(lambda v: v.ground_truth)

    @property
    def blinks(self) -> list[Event]:
        return self._shifted(lambda v: v.blinks)


def concatenate(videos: Sequence[LongVideo]) -> Concatenation:
    """One video of several, with a shot change where each but the first begins."""
    return Concatenation(tuple(videos))


Video = LongVideo | Concatenation


# ---------------------------------------------------------------------------- writing


def write_mp4(video: Video, path: str | os.PathLike, fourcc: str = "mp4v") -> pathlib.Path:
    """Write the video with OpenCV's ``VideoWriter`` (``mp4v`` by default), frame by frame.

    Raises:
      OSError: OpenCV cannot open a writer for the path and codec.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*fourcc), float(video.fps), (video.width, video.height)
    )
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path} with codec {fourcc}")
    try:
        for frame in video.frames():
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path


def write_frames(
    video: Video, folder: str | os.PathLike, pattern: str = "img{:05d}.png"
) -> pathlib.Path:
    """Write every frame as an image file ``folder / pattern.format(frame number)``
    (numbered from 0; PNG by default, lossless)."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(video.frames()):
        path = folder / pattern.format(i)
        if not cv2.imwrite(str(path), np.ascontiguousarray(frame[..., ::-1])):
            raise OSError(f"OpenCV cannot write {path}")
    return folder


GROUND_TRUTH_COLUMNS = (
    "type", "expression", "emotion", "onset", "apex", "offset", "onset_s", "offset_s",
    "amplitude",
)  # fmt: skip


def write_ground_truth(video: Video, path: str | os.PathLike, blinks: bool = False) -> pathlib.Path:
    """The ground truth as CSV (:data:`GROUND_TRUTH_COLUMNS`), blinks too when asked."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    events = video.events if blinks else video.ground_truth
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, GROUND_TRUTH_COLUMNS)
        out.writeheader()
        for e in events:
            out.writerow(e.describe(video.fps))
    return path


# ---------------------------------------------------------------------------- demo


def main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic long video (mp4 or a frames folder) and its ground truth CSV."""
    from absl import flags  # noqa: PLC0415 - the module itself needs no absl

    from mmnet_jax import cli  # noqa: PLC0415

    def define(fv: flags.FlagValues) -> None:
        flags.DEFINE_string("out", None, "output .mp4 file, or a folder for frames",
                            required=True, flag_values=fv)  # fmt: skip
        flags.DEFINE_integer("seed", 0, "generator seed", lower_bound=0, flag_values=fv)
        flags.DEFINE_float("seconds", 60.0, "length", lower_bound=1.0, flag_values=fv)
        flags.DEFINE_float("fps", 30.0, "frame rate", lower_bound=1.0, flag_values=fv)
        flags.DEFINE_integer("width", 640, "frame width", lower_bound=48, flag_values=fv)
        flags.DEFINE_integer("height", 360, "frame height", lower_bound=48, flag_values=fv)
        flags.DEFINE_integer("micro", None, "micro-expressions (default: one per 10 s)",
                             lower_bound=0, flag_values=fv)  # fmt: skip
        flags.DEFINE_integer("macro", None, "macro-expressions (default: one per 20 s)",
                             lower_bound=0, flag_values=fv)  # fmt: skip
        flags.DEFINE_float("face_fraction", 0.55, "head square / frame height", flag_values=fv)

    def body(fv: flags.FlagValues, positional: list[str]) -> int:
        cli.no_positional(positional)
        micro = max(1, round(fv.seconds / 10)) if fv.micro is None else fv.micro
        macro = round(fv.seconds / 20) if fv.macro is None else fv.macro
        try:
            video = make_video(
                fv.seed, seconds=fv.seconds, fps=fv.fps, width=fv.width, height=fv.height,
                micro=micro, macro=macro, face_fraction=fv.face_fraction,
            )  # fmt: skip
        except ValueError as e:
            cli.fail(str(e))
        out = pathlib.Path(fv.out)
        if out.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv"):
            write_mp4(video, out)
            truth = out.with_suffix(".csv")
        else:
            write_frames(video, out)
            truth = out.parent / f"{out.name}_ground_truth.csv"
        write_ground_truth(video, truth)
        print(f"{out}: {video.num_frames} frames at {video.fps:g} fps; ground truth {truth}")
        return 0

    return cli.run(main.__doc__, define, body, argv)


if __name__ == "__main__":
    sys.exit(main())
