"""Apex spotting: the frame of largest facial motion in a clip's [onset, offset].

A micro-expression rises from the onset, peaks at the apex and relaxes by the offset, while
the head drifts and the light changes slowly over the whole clip. The score of a frame is
how far its face is from the *rest face* at that moment, measured on blurred grayscale
crops at a small working size (so sensor noise and hair-fine texture do not count):

- ``"detrended"`` (the default): the rest face at frame t is the straight line between the
  onset and offset frames, ``(1 - a) * onset + a * offset`` with ``a = (t - onset) /
  (offset - onset)``, so slow drift that is linear in time cancels and only what comes
  and goes (the expression) remains;
- ``"onset"``: the rest face is the onset frame (the classic frame difference against the
  onset; drift after the apex keeps growing and can win);
- ``"middle"``: no measurement, the middle frame of [onset, offset] (what SMIC users did).

The score is the mean of the largest 10 % of per-pixel absolute differences (a micro
expression moves a small part of the face), smoothed over 5 frames; the apex is its
arg max. Frames should be face crops aligned with one transform for the whole clip
(:func:`mmnet_jax.vision.faces.align_clip`), so that alignment adds no motion. The error
of each method on synthetic clips whose true apex is known:
``python benchmarks/apex_spotting.py --seed 1 --subjects 8 --clips_per_subject 5``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

METHODS = ("detrended", "onset", "middle")
DEFAULT_METHOD = "detrended"
WORK_SIZE = 64  # side of the grayscale crops that are compared
BLUR_SIGMA = 2.0  # of the Gaussian blur at WORK_SIZE, in pixels (tuned on seed 0)
TOP_FRACTION = 0.1  # the score averages the largest 10 % of pixel differences
SMOOTH = 5  # frames in the moving average of the score


@dataclasses.dataclass(frozen=True)
class Spot:
    """A spotted apex.

    Attributes:
      apex: index of the apex in the frames given (between onset and offset).
      onset, offset: the indices searched between (inclusive).
      method: one of :data:`METHODS`.
      scores: the smoothed motion score of each frame of [onset, offset] (empty for
        ``"middle"``), float64 (offset - onset + 1,).
    """

    apex: int
    onset: int
    offset: int
    method: str
    scores: np.ndarray

    def describe(self) -> str:
        """How the apex was chosen, in a few words (for JSON and reports)."""
        if self.method == "middle":
            return f"middle frame of [{self.onset}, {self.offset}] (no measurement)"
        return (
            f"spotted ({self.method}): largest motion score in [{self.onset}, {self.offset}]"
            f", from blurred {WORK_SIZE} px grayscale face crops"
        )


def _work(frame: np.ndarray) -> np.ndarray:
    """RGB or gray uint8 (H, W[, 3]) -> blurred float32 grayscale (WORK_SIZE, WORK_SIZE)."""
    frame = np.asarray(frame)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    small = cv2.resize(gray, (WORK_SIZE, WORK_SIZE), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small.astype(np.float32), (0, 0), BLUR_SIGMA)


def _top_mean(diff: np.ndarray) -> float:
    flat = np.abs(diff).ravel()
    k = max(1, int(round(TOP_FRACTION * flat.size)))
    return float(np.partition(flat, flat.size - k)[flat.size - k :].mean())


def motion_scores(
    frames: Sequence[np.ndarray],
    onset: int = 0,
    offset: int | None = None,
    method: str = "detrended",
) -> np.ndarray:
    """The raw (unsmoothed) motion score of each frame of ``frames[onset : offset + 1]``.

    Args:
      frames: face crops, RGB (H, W, 3) or gray (H, W) uint8, all the same size.
      onset, offset: indices into ``frames``; offset defaults to the last frame.
      method: ``"detrended"`` or ``"onset"`` (see the module docstring).

    Returns:
      float64 (offset - onset + 1,); the onset's score is 0.
    """
    offset = len(frames) - 1 if offset is None else offset
    _check(len(frames), onset, offset, method)
    if method == "middle":
        raise ValueError("the middle method has no scores")
    work = [_work(frames[i]) for i in range(onset, offset + 1)]
    first, last = work[0], work[-1]
    span = max(1, offset - onset)
    scores = np.zeros(len(work))
    for t, image in enumerate(work):
        if method == "onset":
            rest = first
        else:
            a = t / span
            rest = (1 - a) * first + a * last
        scores[t] = _top_mean(image - rest)
    return scores


def smooth(scores: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    """Centred moving average (the window shrinks at the ends)."""
    if window <= 1 or len(scores) < 3:
        return np.asarray(scores, np.float64)
    kernel = np.ones(window)
    total = np.convolve(scores, kernel, mode="same")
    count = np.convolve(np.ones(len(scores)), kernel, mode="same")
    return total / count


def spot_apex(
    frames: Sequence[np.ndarray],
    onset: int = 0,
    offset: int | None = None,
    method: str = DEFAULT_METHOD,
) -> Spot:
    """The apex of a clip of face crops within [onset, offset] (indices into ``frames``).

    Args:
      frames: RGB (H, W, 3) or gray (H, W) uint8 face crops of one clip, in time order,
        all aligned with one transform.
      onset, offset: the indices to search between; offset defaults to the last frame.
      method: one of :data:`METHODS`.

    Returns:
      A :class:`Spot` (``apex`` is an index into ``frames``). Ties go to the earlier frame.

    Raises:
      ValueError: an unknown method, or onset/offset outside the frames or out of order.
    """
    offset = len(frames) - 1 if offset is None else offset
    _check(len(frames), onset, offset, method)
    if method == "middle":
        return Spot((onset + offset) // 2, onset, offset, method, np.zeros(0))
    scores = smooth(motion_scores(frames, onset, offset, method))
    return Spot(onset + int(np.argmax(scores)), onset, offset, method, scores)


def _check(n: int, onset: int, offset: int, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown apex spotting method {method!r}; known: {', '.join(METHODS)}")
    if not 0 <= onset <= offset < n:
        raise ValueError(f"need 0 <= onset ({onset}) <= offset ({offset}) < {n} frames")
