"""Spotting and spot-then-recognise (STRS) scores, computed exactly as the public scorer
of MEGC 2023 onward (genbing99/STRS-Metric, ``strs_metric.py``) computes them, its
quirks included. Pure Python and NumPy: no JAX, no files.

- :func:`iou`: two intervals' intersection over union in frames, both ends inclusive.
- :func:`match`: the scorer's matching, video by video (*multi-TP matching*: one
  prediction may be the true positive of several ground-truth intervals).
- :func:`spotting_scores`: TP, FP, FN, precision, recall and F1 over all videos; usable
  alone (micro and macro intervals scored apart, emotions ignored).
- :func:`strs_scores`: the spotting scores, the analysis scores over the spotted pairs
  (the emotion of each true positive), and STRS = F1(spotting) x F1(analysis).

The scorer's quirks, reproduced (docs/spotting.md names each with an example):

1. *Multi-TP matching*: within a video, each prediction (in row order) is compared with
   every ground-truth interval (in row order) and is a true positive of each one not
   yet taken with IoU >= the threshold; the first prediction to reach an interval takes
   it (greedy in row order, not the best IoU), and a later one becomes a false positive.
   So the spotting TP count is a count of pairs and may exceed the predictions.
2. *Coverage*: only the subjects that have a prediction are scored, and within them only
   the videos that have ground truth: ground truth of a subject with no prediction is no
   false negative, and a prediction in a video without ground truth is no false
   positive. ``coverage="all"`` counts both instead (not the scorer's rule).
3. *Analysis F1 of means*: the analysis F1 is 2PR/(P+R) of the MEANS of the per-emotion
   precisions and recalls; the mean of the per-emotion F1s is its "UF1".
4. *Its "UAR" is the mean of the per-emotion precisions* (``uar_strs_metric``); the usual
   UAR, the mean per-emotion recall, is ``uar``.
5. *One-valued emotions score 0*: an emotion that no spotted pair is labelled or
   predicted as, and also one that EVERY spotted pair is both labelled and predicted as
   (all right), gets precision and recall 0 (scikit-learn's ``confusion_matrix`` is then
   1x1, and the scorer's bare ``except`` sets its counts to 0).
6. *Analysis FN = analysis FP*: its analysis FN counts the pairs predicted as an emotion
   of the analysis set but labelled otherwise, the same pairs as its analysis FP.
7. *No emotion*: an interval without an emotion (an empty CSV cell, which pandas reads
   as NaN) equals no emotion, not even another missing one; a ground-truth interval
   without one puts "no emotion" into the analysis set, where it scores 0.

Where the scorer fails, the natural value (documented in docs/spotting.md):

- no spotted pair (also: no prediction) while the analysis set has an emotion: it
  raises ``KeyError: 'gt'``; here every analysis figure is 0 (no emotion has a true
  positive: precision and recall 0 by its own rule for 0/0) and STRS is 0;
- mean precision + mean recall = 0: its analysis F1 is NaN (a NumPy 0/0 warning) and so
  is STRS; here the analysis F1 is 0, as its own per-emotion F1 is, and STRS is 0;
- an empty analysis set (``emotions=()``, or no ground truth at all): its means are NaN
  (with a NumPy warning); here too (NaN), and STRS NaN.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np

from mmnet_jax.evaluation import metrics

IOU_THRESHOLD = 0.5
COVERAGES = ("strs-metric", "all")


@dataclasses.dataclass(frozen=True)
class Interval:
    """One interval of a video, frames ``onset..offset`` both included; ``emotion`` is
    None where there is none (spotting only, or an empty cell)."""

    subject: str
    video: str
    onset: int
    offset: int
    emotion: str | None = None


@dataclasses.dataclass(frozen=True)
class Matches:
    """The scorer's matching. Indices refer to the ground-truth and predicted sequences
    given to :func:`match`."""

    pairs: tuple[tuple[int, int, float], ...]  # (ground-truth index, prediction index, IoU)
    false_positives: tuple[int, ...]  # predictions that matched nothing
    false_negatives: tuple[int, ...]  # ground-truth intervals that nothing matched


@dataclasses.dataclass(frozen=True)
class SpottingScores:
    """Counts over all videos, and precision, recall, F1 (each 0 where its denominator
    is 0)."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AnalysisScores(SpottingScores):
    """The emotions of the spotted pairs: ``precision``, ``recall`` are the means of the
    per-emotion ones, ``f1`` = 2PR/(P+R) of those means, ``uf1`` the mean per-emotion F1,
    ``uar`` the usual UAR (mean recall over the emotions that label a spotted pair),
    ``uar_strs_metric`` the scorer's "UAR" (the mean per-emotion precision)."""

    uf1: float
    uar: float
    uar_strs_metric: float


@dataclasses.dataclass(frozen=True)
class StrsScores:
    strs: float
    spotting: SpottingScores
    analysis: AnalysisScores

    def to_dict(self) -> dict:
        return {
            "strs": self.strs,
            "spotting": self.spotting.to_dict(),
            "analysis": self.analysis.to_dict(),
        }


def frames(onset: int, offset: int) -> int:
    """How many frames ``onset..offset`` (both included) holds; 0 when offset < onset."""
    return max(0, offset - onset + 1)


def iou(a: Interval, b: Interval) -> float:
    """Intersection over union of two intervals' frame sets (both ends included); 0 when
    both are empty (offset < onset)."""
    inter = (
        frames(max(a.onset, b.onset), min(a.offset, b.offset))
        if frames(a.onset, a.offset) and frames(b.onset, b.offset)
        else 0
    )
    union = frames(a.onset, a.offset) + frames(b.onset, b.offset) - inter
    return inter / union if union else 0.0


def _by_video(rows: Sequence[Interval]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault((r.subject, r.video), []).append(i)
    return out


def scored_videos(
    gt: Sequence[Interval], pred: Sequence[Interval], coverage: str = "strs-metric"
) -> list[tuple[str, str]]:
    """The (subject, video) pairs scored: under the scorer's rule (``"strs-metric"``) the
    videos with ground truth of the subjects with a prediction; under ``"all"`` every
    video of either sequence."""
    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {COVERAGES}, not {coverage!r}")
    videos = list(_by_video(gt))
    if coverage == "all":
        return list(dict.fromkeys(videos + list(_by_video(pred))))
    predicted = {p.subject for p in pred}
    return [v for v in videos if v[0] in predicted]


def uncounted(gt: Sequence[Interval], pred: Sequence[Interval]) -> tuple[int, int]:
    """What the scorer's rule (coverage quirk) leaves out: (ground-truth intervals of
    subjects with no prediction, predictions in videos without ground truth)."""
    predicted = {p.subject for p in pred}
    with_gt = {(g.subject, g.video) for g in gt}
    return (
        sum(g.subject not in predicted for g in gt),
        sum((p.subject, p.video) not in with_gt for p in pred),
    )


def match(
    gt: Sequence[Interval],
    pred: Sequence[Interval],
    iou_threshold: float = IOU_THRESHOLD,
    coverage: str = "strs-metric",
) -> Matches:
    """The scorer's matching (multi-TP matching), video by video, each sequence in its
    given order: every prediction is compared with every ground-truth interval of its
    video and pairs with each one not yet taken whose IoU is >= ``iou_threshold``; a
    prediction that pairs with none is a false positive, an interval that no prediction
    took a false negative. Videos scored: :func:`scored_videos`."""
    gt_of, pred_of = _by_video(gt), _by_video(pred)
    pairs, fps, fns = [], [], []
    for video in scored_videos(gt, pred, coverage):
        taken: set[int] = set()
        for p in pred_of.get(video, []):
            matched = False
            for g in gt_of.get(video, []):
                v = iou(pred[p], gt[g])
                if v >= iou_threshold and g not in taken:
                    pairs.append((g, p, v))
                    taken.add(g)
                    matched = True
            if not matched:
                fps.append(p)
        fns += [g for g in gt_of.get(video, []) if g not in taken]
    return Matches(tuple(pairs), tuple(fps), tuple(fns))


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1, each 0 where its denominator is 0 (the scorer's rule)."""
    precision = tp / (tp + fp) if tp + fp != 0 else 0.0
    recall = tp / (tp + fn) if tp + fn != 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall != 0 else 0.0
    return precision, recall, f1


def _spotting(m: Matches) -> SpottingScores:
    tp, fp, fn = len(m.pairs), len(m.false_positives), len(m.false_negatives)
    return SpottingScores(tp, fp, fn, *_prf(tp, fp, fn))


def spotting_scores(
    gt: Sequence[Interval],
    pred: Sequence[Interval],
    iou: float = IOU_THRESHOLD,
    coverage: str = "strs-metric",
) -> SpottingScores:
    """The scorer's spotting figures over all videos (emotions ignored): TP counts the
    pairs of :func:`match`, FP its unmatched predictions, FN its unmatched intervals."""
    return _spotting(match(gt, pred, iou, coverage))


def _same(a: str | None, b: str | None) -> bool:
    """Equal emotions; a missing emotion (NaN to the scorer) equals none."""
    return a is not None and a == b


def _mean(values: list[float]) -> float:
    return float(np.mean(np.asarray(values, np.float64))) if values else math.nan


def _emotion_counts(pairs: list[tuple[str | None, str | None]], emotion: str | None):
    """One emotion's (TP, FP, FN) over the (label, prediction) pairs, one-vs-rest, 0s
    where the pairs are one-valued for it (one-valued quirk)."""
    y = [_same(g, emotion) for g, _ in pairs]
    p = [_same(q, emotion) for _, q in pairs]
    if len(set(y) | set(p)) < 2:
        return 0, 0, 0
    yp = list(zip(y, p, strict=True))
    return yp.count((True, True)), yp.count((False, True)), yp.count((True, False))


def _usual_uar(pairs: list[tuple[str | None, str | None]], emotions: list[str | None]) -> float:
    """Mean recall over the emotions that label a pair (pairs without a label left out),
    as :func:`metrics.from_confusion` counts it; predictions outside the set are wrong."""
    named = [e for e in emotions if e is not None]
    index = {e: i for i, e in enumerate(named)}
    kept = [(index[g], index.get(q, len(named))) for g, q in pairs if g is not None]
    if not kept:
        return 0.0
    labels, preds = zip(*kept, strict=True)
    return metrics.from_confusion(metrics.confusion(labels, preds, len(named) + 1))["uar"]


def analysis_scores(
    gt: Sequence[Interval],
    pred: Sequence[Interval],
    m: Matches,
    emotions: Iterable[str | None] | None = None,
) -> AnalysisScores:
    """The scorer's analysis figures over the spotted pairs of ``m`` whose ground truth is
    in the analysis set ``emotions`` (default: every emotion of ``gt``, none included)."""
    if emotions is None:
        emotions = {g.emotion for g in gt}
    analysed = sorted(set(emotions), key=lambda e: (e is None, e or ""))
    allowed = set(analysed)
    pairs = [(gt[g].emotion, pred[p].emotion) for g, p, _ in m.pairs]
    pairs = [(g, q) for g, q in pairs if g in allowed]
    tp = sum(_same(g, q) for g, q in pairs)
    fp = sum(q is not None and q in allowed and not _same(g, q) for g, q in pairs)
    per_emotion = [_prf(*_emotion_counts(pairs, e)) for e in analysed]
    precision = _mean([x[0] for x in per_emotion])
    recall = _mean([x[1] for x in per_emotion])
    # The scorer divides even when both are 0 (NaN); 0 here. NaN means stay NaN.
    f1 = (2 * precision * recall) / (precision + recall) if precision + recall != 0 else 0.0
    return AnalysisScores(
        tp=tp,
        fp=fp,
        fn=fp,  # the same pairs (analysis FN quirk)
        precision=precision,
        recall=recall,
        f1=f1,
        uf1=_mean([x[2] for x in per_emotion]),
        uar=_usual_uar(pairs, analysed),
        uar_strs_metric=precision,
    )


def strs_scores(
    gt: Sequence[Interval],
    pred: Sequence[Interval],
    iou: float = IOU_THRESHOLD,
    emotions: Iterable[str | None] | None = None,
    coverage: str = "strs-metric",
) -> StrsScores:
    """The scorer's ``evaluate_STRS``: spotting, analysis and STRS = F1 x F1.

    Args:
      gt, pred: the ground-truth and predicted intervals; within a video their order is
        the order of matching (the scorer's row order).
      iou: the spotting threshold (the scorer's is 0.5).
      emotions: the analysis set (the scorer's ``analysis_emotion``); default: every
        emotion of ``gt``.
      coverage: ``"strs-metric"`` (the scorer's videos) or ``"all"``.
    """
    m = match(gt, pred, iou, coverage)
    spotting = _spotting(m)
    analysis = analysis_scores(gt, pred, m, emotions)
    return StrsScores(spotting.f1 * analysis.f1, spotting, analysis)
