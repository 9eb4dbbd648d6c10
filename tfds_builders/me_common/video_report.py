"""The build report of the long-video builders: ``build_report.json`` with every video
(kept, skipped or excluded, with its reason), every interval of the sheet (kept,
estimated or skipped) and each quirk found in it, and how the frames were prepared."""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tfds_builders.me_common.checks import ESTIMATED, EXCLUDED, KEPT, SKIPPED, ClipProblem
from tfds_builders.me_common.report import BuildReport, face_backend
from tfds_builders.me_common.video_config import VideoConfig
from tfds_builders.video_features import Interval

VIDEO_SKIPPED = "its video is skipped"


class VideoReport(BuildReport):
    """Counts by outcome and reason for videos and for intervals.

    JSON layout (``build_report.json``)::

        {"dataset", "config", "version", "manual_dir", "strict",
         "sources": {name: {"sheet", "frames", "rows", "ignored_rows", ...}},
         "counts": {"videos", "written", "kept", "skipped", "excluded"},
         "reasons": {outcome: {reason: count}},
         "videos": {outcome: {reason: [{"id", "detail", "file"}]}},
         "notes": [{"id", "note"}],
         "intervals": {"counts": {"intervals", "written", "kept", "estimated", "skipped"},
                       "types": {"micro", "macro"}, "emotions": {emotion: count},
                       "reasons": {reason: count},
                       "items": {reason: [{"id", "outcome", "detail", "file"}]}},
         "preparation": {"image_size", "grayscale", "face_crop", "face_align",
                         "face_every", "face_backend", "face_alignment": {mode: videos},
                         "frames_stored", "png_bytes",
                         "cache": {"folder", "reused", "made"}}}

    ``videos`` covers every video the sheet names and every video folder on disk: kept
    + skipped + excluded. ``intervals`` covers every interval row of the sheet (a row
    that names no known video is a skipped interval); an interval is listed under EACH
    reason it has (its ``outcome`` says what became of it), and counted once in
    ``counts``.
    """

    def __init__(self, dataset: str, config: VideoConfig, version: str, manual_dir: str, strict):
        super().__init__(dataset, config, version, manual_dir, strict)  # type: ignore[arg-type]
        self.interval_counts: collections.Counter[str] = collections.Counter()
        self.interval_reasons: collections.Counter[str] = collections.Counter()
        self.interval_items: dict[str, list[dict[str, str]]] = {}
        self.types: collections.Counter[str] = collections.Counter()
        self.emotions: collections.Counter[str] = collections.Counter()
        self.frames_stored = 0
        self.png_bytes = 0
        self.cache: dict[str, Any] = {}

    def interval(
        self,
        interval_id: str,
        outcome: str,
        problems: Sequence[ClipProblem],
        interval: Interval | None = None,
    ) -> None:
        self.interval_counts[outcome] += 1
        if interval is not None and outcome != SKIPPED:
            self.types[interval.type] += 1
            if interval.emotion:
                self.emotions[interval.emotion] += 1
        for p in problems:
            self.interval_reasons[p.reason] += 1
            self.interval_items.setdefault(p.reason, []).append(
                {"id": interval_id, "outcome": outcome, "detail": p.detail, "file": p.file}
            )

    def written(self, face_alignment: str, frames: int, png_bytes: int) -> None:
        self.face_modes[json.loads(face_alignment)["mode"]] += 1
        self.frames_stored += frames
        self.png_bytes += png_bytes

    def to_dict(self) -> dict[str, Any]:
        config = self.config
        assert isinstance(config, VideoConfig)
        counts = {o: self.counts[o] for o in (KEPT, SKIPPED, EXCLUDED)}
        intervals = {o: self.interval_counts[o] for o in (KEPT, ESTIMATED, SKIPPED)}
        return {
            "dataset": self.dataset,
            "config": config.name,
            "version": self.version,
            "manual_dir": self.manual_dir,
            "strict": self.strict,
            "sources": self.sources,
            "counts": {"videos": sum(counts.values()), "written": counts[KEPT], **counts},
            "reasons": {o: dict(sorted(self.reasons[o].items())) for o in (SKIPPED, EXCLUDED)},
            "videos": {o: self.clips[o] for o in (SKIPPED, EXCLUDED)},
            "notes": self.notes,
            "intervals": {
                "counts": {
                    "intervals": sum(intervals.values()),
                    "written": intervals[KEPT] + intervals[ESTIMATED],
                    **intervals,
                },
                "types": {t: self.types[t] for t in ("micro", "macro")},
                "emotions": dict(sorted(self.emotions.items())),
                "reasons": dict(sorted(self.interval_reasons.items())),
                "items": self.interval_items,
            },
            "preparation": {
                **config.options(),
                "face_backend": face_backend(config.face_crop),
                "face_alignment": dict(sorted(self.face_modes.items())),
                "frames_stored": self.frames_stored,
                "png_bytes": self.png_bytes,
                "cache": self.cache,
            },
        }


def summarize_videos(report: Mapping[str, Any], max_items: int = 5) -> str:
    """A few lines for people: videos and intervals by outcome, then each reason with
    its first videos or intervals, then how the frames were stored."""
    counts, iv = report["counts"], report["intervals"]
    ic = iv["counts"]
    lines = [
        f"{report['dataset']}/{report['config']}: {counts['videos']} videos, "
        f"{counts['written']} written, {counts['skipped']} skipped, {counts['excluded']} "
        f"excluded; {ic['intervals']} intervals, {ic['written']} written ({ic['estimated']} "
        f"with an estimated offset), {ic['skipped']} skipped",
        "  intervals: " + ", ".join(f"{k} {v}" for k, v in iv["types"].items()),
    ]

    def listing(items: list[dict]) -> str:
        shown = ", ".join(item["id"] for item in items[:max_items])
        more = f", ... (+{len(items) - max_items})" if len(items) > max_items else ""
        return f"{len(items)}: {shown}{more}"

    for outcome in (SKIPPED, EXCLUDED):
        for reason, items in report["videos"].get(outcome, {}).items():
            lines.append(f"  video {outcome}, {reason}: {listing(items)}")
    for reason, items in iv["items"].items():
        lines.append(f"  interval, {reason}: {listing(items)}")
    prep = report["preparation"]
    modes = ", ".join(f"{m} {n}" for m, n in prep["face_alignment"].items()) or "none"
    cache = prep.get("cache") or {}
    lines.append(
        f"  frames: {prep['frames_stored']} stored ({prep['png_bytes'] / 1e6:.1f} MB of PNG), "
        f"faces: {modes}; cache: {cache.get('reused', 0)} videos reused, "
        f"{cache.get('made', 0)} made"
    )
    if report.get("notes"):
        lines.append(f"  notes: {len(report['notes'])} (e.g. {report['notes'][0]['note']})")
    return "\n".join(lines)
