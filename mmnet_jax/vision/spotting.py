"""Spotting micro- and macro-expressions in the face tracks of a long video, without
training.

A :class:`Spotter` turns the aligned face crops of one track into a score per frame
(:meth:`Spotter.score`) and the scores into intervals (:meth:`Spotter.intervals`):
``(onset, apex, offset, score)``, indices into the track's frames, inclusive, typed
``micro`` or ``macro`` by their duration at the video's frame rate (up to
:data:`MICRO_MAX_SECONDS` is micro). A learned spotter can sit behind the same interface.

:class:`BaselineSpotter` (``baseline``) scores how far each frame's face is from the
*rest face* around it:

1. each crop is blurred (Gaussian, ``blur_sigma`` px at the crop's size), so sensor noise
   and fine texture do not count;
2. the rest face at frame i comes from two per-pixel medians: of ``references`` frames
   spread over ``[i - reference_s, i - gap_s]`` (before) and over ``[i + gap_s, i +
   reference_s]`` (after). A median ignores the frames of an expression as long as it
   fills less than half of its side. Per pixel, the difference from the nearer of the
   two counts (``sides="nearer"``): just before or after a long macro-expression one
   side lies mostly inside it, and its median is the expression, not the rest face
   (``sides="mean"``, their mean, cancels drift linear in time instead, but echoes
   such macro-expressions: measured, F1 0.948 against 0.971 on the tuning videos). The
   tracker has already taken out the head's drift. Near a track's ends, the side that
   exists;
3. per region, the upper face (brows, forehead), the lower face (nose, mouth) and the
   eyes (:meth:`BaselineSpotter.regions`, from the eye centres the tracker found), a
   frame's value is the mean of the largest ``top_fraction`` of its absolute differences
   from the rest face (an expression moves a small part of the face), over the region's
   median over the track (each region from its own noise floor);
4. the frame's score is the larger of the upper and lower face's; the eyes never count,
   and where they change more than ``blink_ratio`` times as much as the upper face (a
   blink) the upper face's value is scaled down by ``blink_ratio * upper / eyes``.
   Smoothed over ``smooth_s``;
5. per track, the threshold is ``mean + p (max - mean)`` of the scores (the threshold of
   Moilanen et al. that MEAN_Spot-then-recognize and the MEGC baselines use), and at
   least ``min_snr`` robust deviations (1.4826 MAD) above the median, so a track without
   expressions gives none. Each run of frames above it is one interval, its apex the
   highest frame; its onset and offset are where the score falls back below ``median +
   extent (peak - median)`` on each side, moved out by the factor that makes that
   crossing the start of a raised-cosine rise. In rounds: the macro-expressions a round
   finds are set aside and the threshold (with its median and MAD) is taken again over
   the other frames, so large macro-expressions do not hide the micro ones;
6. an interval of at most :data:`MICRO_MAX_SECONDS` (frames / fps) is ``micro``, a
   longer one ``macro``; one shorter than ``min_seconds`` is dropped (a blink the eye
   regions did not catch).

MEAN_Spot-then-recognize (genbing99) scores TV-L1 optical flow between frames i and
i + k (k = 0.1 s) with a trained network, smooths over 2 k' (k' half the mean annotated
duration), takes the same threshold with p = 0.55 and makes each peak the interval
peak +- k'. The baseline here needs no annotation: its durations come from the scores.
The parameters were tuned on synthetic long videos
(:mod:`tfds_builders.synthetic_me.long_video`); docs/spotting_long_videos.md gives the
measured F1.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from mmnet_jax.vision import tracking
from mmnet_jax.vision.spot import smooth

MICRO_MAX_SECONDS = 0.5
Eyes = tuple[tuple[float, float], tuple[float, float]] | None


@dataclasses.dataclass(frozen=True)
class Interval:
    """A spotted expression: indices into the scored frames, inclusive.

    Attributes:
      onset, apex, offset: onset <= apex <= offset.
      score: the (smoothed) score at the apex.
      type: ``micro`` or ``macro`` (by duration).
    """

    onset: int
    apex: int
    offset: int
    score: float
    type: str

    def __iter__(self):
        """``onset, apex, offset, score`` (so an interval unpacks as a 4-tuple)."""
        return iter((self.onset, self.apex, self.offset, self.score))

    def shifted(self, frames: int) -> Interval:
        return dataclasses.replace(
            self, onset=self.onset + frames, apex=self.apex + frames, offset=self.offset + frames
        )


def interval_type(onset: int, offset: int, fps: float) -> str:
    """``micro`` when ``offset - onset + 1`` frames last at most :data:`MICRO_MAX_SECONDS`."""
    return "micro" if (offset - onset + 1) / fps <= MICRO_MAX_SECONDS + 1e-9 else "macro"


class Spotter(abc.ABC):
    """Per-frame scores of one face track, and intervals from them."""

    name: str = ""

    @abc.abstractmethod
    def score(self, frames: Sequence[np.ndarray], fps: float, eyes: Eyes = None) -> np.ndarray:
        """A score per frame (float64 (N,)) of one track's aligned face crops (gray or
        RGB uint8, all one size). ``eyes``: the eye centres in crop pixels, if known."""

    @abc.abstractmethod
    def threshold(self, scores: np.ndarray, fps: float) -> float:
        """The level above which a track's scores were taken as expressions."""

    @abc.abstractmethod
    def intervals(self, scores: np.ndarray, fps: float) -> list[Interval]:
        """The expressions in a track's scores, in time order."""


@dataclasses.dataclass(frozen=True)
class BaselineSpotter(Spotter):
    """The training-free spotter of the module docstring; its parameters (seconds are
    converted to frames at the video's rate)."""

    reference_s: float = 3.0
    gap_s: float = 0.25
    references: int = 12
    blur_sigma: float = 1.5
    top_fraction: float = 0.02
    eye_width: float = 0.45  # semi-axes of the eye ellipses, fractions of the eye distance
    eye_height: float = 0.3
    split: float = 0.4  # upper / lower face: this many eye distances below the eye line
    refine_x: float = 0.2  # how far (eye distances) the eye centres may move to the iris
    refine_y: float = 0.12
    min_seconds: float = 0.15  # shorter intervals are dropped (blinks)
    blink_ratio: float = 2.0
    sides: str = "nearer"  # or "mean": how the two sides' medians make the rest face
    smooth_s: float = 0.1
    p: float = 0.1
    min_snr: float = 8.0
    extent: float = 0.35
    name: str = "baseline"

    # -- scores --------------------------------------------------------------------------

    def refine_eyes(self, features: np.ndarray, eyes: Eyes) -> Eyes:
        """Each eye moved to the darkest point (the iris) of the track's mean face within a
        quarter of the eye distance of where the landmarks put it."""
        if eyes is None or len(features) == 0:
            return eyes
        (lx, ly), (rx, ry) = eyes
        distance = float(np.hypot(rx - lx, ry - ly))
        mean = cv2.GaussianBlur(features.mean(axis=0), (0, 0), max(0.8, 0.08 * distance))
        h, w = mean.shape
        reach_x, reach_y = self.refine_x * distance, self.refine_y * distance
        out = []
        for ex, ey in eyes:
            x0, x1 = int(max(0, ex - reach_x)), int(min(w, ex + reach_x + 1))
            y0, y1 = int(max(0, ey - reach_y)), int(min(h, ey + reach_y + 1))
            if x0 >= x1 or y0 >= y1:
                out.append((ex, ey))
                continue
            window = mean[y0:y1, x0:x1]
            j, i = np.unravel_index(int(np.argmin(window)), window.shape)
            out.append((float(x0 + i), float(y0 + j)))
        return (out[0], out[1])

    def regions(self, size: int, eyes: Eyes) -> list[np.ndarray]:
        """Three masks of a ``size`` crop: the upper face (brows, forehead) and the lower
        face (nose, mouth, chin), both without the eyes, and the eyes (ellipses around
        the eye centres). Without eyes, they are assumed where the tracker's crops
        usually hold them (a third of the way down, a third of the crop apart)."""
        if eyes is None:
            eyes = ((size / 3, size / 3), (2 * size / 3, size / 3))
        (lx, ly), (rx, ry) = eyes
        distance = max(1.0, float(np.hypot(rx - lx, ry - ly)))
        yy, xx = np.mgrid[:size, :size]
        keep = np.ones((size, size), bool)
        for ex, ey in eyes:
            inside = ((xx - ex) / (self.eye_width * distance)) ** 2 + (
                (yy - ey) / (self.eye_height * distance)
            ) ** 2 <= 1
            keep &= ~inside
        lower = yy >= (ly + ry) / 2 + self.split * distance
        return [keep & ~lower, keep & lower, ~keep]

    def _features(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for frame in frames:
            frame = np.asarray(frame)
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
            out.append(cv2.GaussianBlur(gray.astype(np.float32), (0, 0), self.blur_sigma))
        return np.stack(out) if out else np.zeros((0, 1, 1), np.float32)

    def _offsets(self, fps: float) -> np.ndarray:
        gap = max(1, round(self.gap_s * fps))
        far = max(gap, round(self.reference_s * fps))
        return np.unique(np.round(np.linspace(gap, far, self.references)).astype(int))

    def _residuals(self, f: np.ndarray, fps: float) -> np.ndarray:
        offsets = self._offsets(fps)
        n = len(f)
        out = np.zeros_like(f)
        for i in range(n):
            before = i - offsets
            after = i + offsets
            sides = [f[before[before >= 0]], f[after[after < n]]]
            medians = [np.median(side, axis=0) for side in sides if len(side)]
            if not medians:
                continue
            if self.sides == "mean" or len(medians) == 1:
                out[i] = np.abs(f[i] - sum(medians) / len(medians))
            else:  # "nearer": per pixel, the side nearer the frame
                out[i] = np.minimum(np.abs(f[i] - medians[0]), np.abs(f[i] - medians[1]))
        return out

    def residuals(self, frames: Sequence[np.ndarray], fps: float) -> np.ndarray:
        """|frame - rest face| per pixel, float32 (N, H, W) (steps 1-2; with
        ``sides="nearer"`` the smaller of the differences from the two sides' medians)."""
        return self._residuals(self._features(frames), fps)

    def region_scores(self, frames: Sequence[np.ndarray], fps: float, eyes: Eyes = None):
        """Per region (upper face, lower face, eyes: :meth:`regions`), the mean of the
        largest ``top_fraction`` of each frame's residuals over that series' median over
        the track (so each region counts from its own noise floor): float64 (3, N)."""
        f = self._features(frames)
        if len(f) == 0:
            return np.zeros((3, 0))
        res = self._residuals(f, fps)
        if f.shape[1] != f.shape[2]:
            whole = np.ones(f.shape[1:], bool)
            masks = [whole, np.zeros_like(whole), np.zeros_like(whole)]
        else:
            masks = self.regions(f.shape[1], self.refine_eyes(f, eyes))
        out = np.zeros((3, len(f)))
        for row, mask in enumerate(masks):
            flat = res[:, mask]
            if flat.shape[1] == 0:
                continue
            k = max(1, int(round(self.top_fraction * flat.shape[1])))
            top = np.partition(flat, flat.shape[1] - k, axis=1)[:, flat.shape[1] - k :].mean(1)
            out[row] = top / max(float(np.median(top)), 1e-6)
        return out

    def raw_scores(self, frames: Sequence[np.ndarray], fps: float, eyes: Eyes = None):
        """The unsmoothed score of each frame (float64 (N,)): the larger of the upper and
        lower face's :meth:`region_scores`, the upper face's scaled down by
        ``blink_ratio * upper / eyes`` where the eyes change more than ``blink_ratio``
        times as much as the rest of the upper face (a blink: the lids move the skin
        around the eyes a little too)."""
        upper, lower, eye = self.region_scores(frames, fps, eyes)
        if self.blink_ratio > 0:
            upper = upper * np.clip(self.blink_ratio * upper / np.maximum(eye, 1e-6), 0, 1)
        return np.maximum(upper, lower)

    def score(self, frames: Sequence[np.ndarray], fps: float, eyes: Eyes = None) -> np.ndarray:
        return smooth(self.raw_scores(frames, fps, eyes), max(1, round(self.smooth_s * fps)))

    # -- intervals -----------------------------------------------------------------------

    def _level(self, scores: np.ndarray, keep: np.ndarray | None = None) -> float:
        """``mean + p (max - mean)`` of the scores (of those ``keep`` selects), and at least
        ``min_snr`` robust deviations above their median."""
        scores = np.asarray(scores, np.float64)
        pool = scores if keep is None else scores[keep]
        if pool.size == 0:
            return float("inf")
        mean = pool.mean()
        moilanen = mean + self.p * (pool.max() - mean)
        median = np.median(pool)
        mad = 1.4826 * np.median(np.abs(pool - median))
        return float(max(moilanen, median + self.min_snr * mad))

    def _extent_factor(self) -> float:
        """How much farther than the ``extent`` crossing the onset lies from the apex, for
        a raised-cosine rise (the shape of a facial action's intensity)."""
        return 1.0 / (1.0 - np.arccos(1.0 - 2.0 * self.extent) / np.pi)

    def _runs(self, s: np.ndarray, level: float, allowed: np.ndarray, fps: float):
        median = float(np.median(s))
        factor = self._extent_factor()
        above = (s > level) & allowed
        out: list[Interval] = []
        i, n = 0, len(s)
        while i < n:
            if not above[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and above[j + 1]:
                j += 1
            apex = i + int(np.argmax(s[i : j + 1]))
            floor = median + self.extent * (s[apex] - median)
            left, right = apex, apex
            while left > 0 and s[left - 1] > floor and allowed[left - 1]:
                left -= 1
            while right < n - 1 and s[right + 1] > floor and allowed[right + 1]:
                right += 1
            onset = max(0, int(round(apex - (apex - left + 0.5) * factor + 0.5)))
            offset = min(n - 1, int(round(apex + (right - apex + 0.5) * factor - 0.5)))
            if out and onset <= out[-1].offset:  # overlapping: one expression
                prev = out.pop()
                onset, offset = min(onset, prev.onset), max(offset, prev.offset)
                apex = prev.apex if prev.score > s[apex] else apex
            out.append(Interval(onset, apex, offset, float(s[apex]),
                                interval_type(onset, offset, fps)))  # fmt: skip
            i = max(j, right) + 1
        return out

    def _spot(self, scores: np.ndarray, fps: float) -> tuple[list[Interval], float]:
        """Runs above the threshold (module docstring, steps 5-6), in rounds: the macro-
        expressions found in a round are set aside and the threshold is taken again over
        the other frames, so that large macro-expressions do not hide the micro ones.
        Returns the intervals and the last round's threshold."""
        s = np.asarray(scores, np.float64)
        if s.size < 3:
            return [], float("inf")
        allowed = np.ones(len(s), bool)
        macros: list[Interval] = []
        found: list[Interval] = []
        level = float("inf")
        for _ in range(4):
            level = self._level(s, allowed)
            found = self._runs(s, level, allowed, fps)
            new = [iv for iv in found if iv.type == "macro"]
            if not new or not allowed.any():
                break
            macros += new
            for iv in new:
                allowed[iv.onset : iv.offset + 1] = False
            found = [iv for iv in found if iv.type != "macro"]
        shortest = self.min_seconds * fps
        found = [iv for iv in found if iv.offset - iv.onset + 1 >= shortest - 1e-9]
        return sorted(macros + found, key=lambda iv: iv.onset), level

    def intervals(self, scores: np.ndarray, fps: float) -> list[Interval]:
        return self._spot(scores, fps)[0]

    def threshold(self, scores: np.ndarray, fps: float) -> float:
        """The last round's threshold (the one the micro-expressions were cut at)."""
        return self._spot(scores, fps)[1]


SPOTTERS: dict[str, type[Spotter]] = {"baseline": BaselineSpotter}


def make_spotter(name: str = "baseline", **params) -> Spotter:
    """A spotter by name (:data:`SPOTTERS`)."""
    if name not in SPOTTERS:
        raise ValueError(f"unknown spotter {name!r}; known: {', '.join(SPOTTERS)}")
    return SPOTTERS[name](**params)


def parameters(spotter: Spotter) -> dict:
    """A spotter's name and parameters, JSON-ready."""
    fields = dataclasses.asdict(spotter) if dataclasses.is_dataclass(spotter) else {}
    return {"name": spotter.name, **{k: v for k, v in fields.items() if k != "name"}}


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    return inter / ((a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter)


def _f1(
    predicted: Sequence[tuple[int, int]], truth: Sequence[tuple[int, int]], iou: float = 0.5
) -> tuple[float, int, int, int]:
    """F1, TP, FP, FN: a prediction is a true positive when its IoU with a ground-truth
    interval not matched yet reaches ``iou`` (greedy, best IoU first); one video."""
    pairs = sorted(
        ((_iou(p, t), a, b) for a, p in enumerate(predicted) for b, t in enumerate(truth)),
        reverse=True,
    )
    used_p, used_t = set(), set()
    for value, a, b in pairs:
        if value >= iou and a not in used_p and b not in used_t:
            used_p.add(a)
            used_t.add(b)
    tp = len(used_p)
    fp, fn = len(predicted) - tp, len(truth) - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0
    return f1, tp, fp, fn


# ---------------------------------------------------------------------------------------
# A whole video: tracking, then spotting track by track.


@dataclasses.dataclass
class TrackSpots:
    """The spotting of one face track.

    Attributes:
      track: the track (frames ``track.start`` .. ``track.stop - 1``).
      scores: the spotter's score of each of its frames.
      threshold: the spotter's threshold for them (the last round's, for the baseline).
      intervals: what was spotted, in the video's frame numbers.
    """

    track: tracking.Track
    scores: np.ndarray
    threshold: float
    intervals: list[Interval]


@dataclasses.dataclass
class VideoSpots:
    """The spotting of a whole video (:func:`spot_video`).

    Attributes:
      fps: the frame rate used.
      frames_read: frames in the video (all were read).
      tracks: one :class:`TrackSpots` per face track, in order.
      untracked: inclusive ``(first, last)`` runs of frames without a tracked face.
      shot_changes: frames at which the tracker saw a shot change.
      timings: seconds per stage: ``detect``, ``track``, ``align`` (the tracker's),
        ``score`` (the spotter's), and ``decode`` when the caller adds it.
    """

    fps: float
    frames_read: int
    tracks: list[TrackSpots]
    untracked: list[tuple[int, int]]
    shot_changes: list[int]
    timings: dict[str, float]

    @property
    def intervals(self) -> list[tuple[int, Interval]]:
        """``(track id, interval)`` over all tracks, in time order."""
        return [(t.track.id, iv) for t in self.tracks for iv in t.intervals]


def spot_video(
    images: Iterable[np.ndarray],
    fps: float,
    spotter: Spotter | None = None,
    tracker: tracking.FaceTracker | None = None,
    **tracker_params,
) -> VideoSpots:
    """Track the faces of a stream of frames and spot each track as soon as it ends.

    Only the current track's aligned crops are kept (``crop_size``² bytes a frame, 4 KB
    at 64 px), never the frames. ``tracker_params`` go to
    :class:`mmnet_jax.vision.tracking.FaceTracker` when no tracker is given.
    """
    spotter = spotter or BaselineSpotter()
    tracker = tracker or tracking.FaceTracker(fps, **tracker_params)
    spotted: list[TrackSpots] = []
    untracked: list[list[int]] = []
    crops: list[np.ndarray] = []
    current: int | None = None
    score_seconds = 0.0
    count = 0

    def close() -> None:
        nonlocal score_seconds
        track = tracker.tracks[current]
        start = time.perf_counter()
        scores = spotter.score(crops, fps, track.eyes)
        found = [iv.shifted(track.start) for iv in spotter.intervals(scores, fps)]
        spotted.append(TrackSpots(track, scores, spotter.threshold(scores, fps), found))
        score_seconds += time.perf_counter() - start

    for record in tracking.track_faces(images, fps, tracker):
        count += 1
        if record.track != current and current is not None:
            close()
            crops = []
        current = record.track
        if record.track is None:
            if untracked and untracked[-1][1] == record.frame - 1:
                untracked[-1][1] = record.frame
            else:
                untracked.append([record.frame, record.frame])
        else:
            crops.append(record.crop)
    if current is not None:
        close()
    timings = {**tracker.timings, "score": score_seconds}
    return VideoSpots(
        float(fps), count, spotted, [(a, b) for a, b in untracked], tracker.shot_changes, timings
    )
