"""The build report: counts by outcome and reason, the clips per reason and per-clip notes,
written as ``build_report.json`` in the builder's ``data_dir`` version folder; a short
summary for people (:func:`summarize`) and :func:`read_report` for a prepared builder."""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow_datasets as tfds
from etils import epath

from mmnet_jax.vision import faces
from tfds_builders import clip_features as cf
from tfds_builders.me_common.checks import (
    ESTIMATED,
    EXCLUDED,
    KEPT,
    OUTCOMES,
    SKIPPED,
    ClipProblem,
)
from tfds_builders.me_common.config import MeConfig

REPORT_FILENAME = "build_report.json"


class BuildReport:
    """Counts by outcome and reason, the clips per reason, and per-clip notes.

    JSON layout (``build_report.json``)::

        {"dataset", "config", "version", "manual_dir", "strict",
         "sources": {name: {"sheet", "frames", "rows"}},
         "counts": {"clips", "written", "kept", "estimated", "skipped", "excluded"},
         "labels": {class name: records written},
         "reasons": {outcome: {reason: count}},
         "clips": {outcome: {reason: [{"id", "detail", "file"}]}},
         "notes": [{"id", "note"}],
         "preparation": {"face_crop", "face_align", "face_backend", "apex_method",
                         "face_alignment": {mode: records}, "apex": {method: records},
                         "flow": {"size", "channels", "units", "normalised",
                                  "computed_on", "tvl1": {parameters}, "records",
                                  "seconds", "seconds_per_clip"}}}

    ``clips`` covers every clip of the sources: kept + estimated + skipped + excluded.
    An estimated clip is counted under its first reason; its detail lists them all.
    ``preparation`` holds the config's face and apex options, the face backend used
    (:func:`mmnet_jax.vision.faces.resolve_backend`, when alignment is on) and how many written
    records were aligned / box-cropped / left as full frames, and how their apex was
    chosen (the records' ``face_alignment`` and ``apex_method``); ``flow`` (flow builds
    only) what the records' ``flow`` holds, the TV-L1 parameters, and the time the flow
    took.
    """

    def __init__(self, dataset: str, config: MeConfig, version: str, manual_dir: str, strict: bool):
        self.dataset = dataset
        self.config = config
        self.version = version
        self.manual_dir = manual_dir
        self.strict = strict
        self.sources: dict[str, dict[str, Any]] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.labels: collections.Counter[str] = collections.Counter()
        self.reasons: dict[str, collections.Counter[str]] = {
            o: collections.Counter() for o in OUTCOMES[1:]
        }
        self.clips: dict[str, dict[str, list[dict[str, str]]]] = {o: {} for o in OUTCOMES[1:]}
        self.notes: list[dict[str, str]] = []
        self.face_modes: collections.Counter[str] = collections.Counter()
        self.apex_methods: collections.Counter[str] = collections.Counter()
        self.flow: dict[str, Any] | None = None

    def prepared(self, record: cf.ClipRecord) -> None:
        """Count how a written record was prepared (face mode and apex method)."""
        if record.face_alignment is not None:
            self.face_modes[json.loads(record.face_alignment)["mode"]] += 1
        if record.apex_method is not None:
            self.apex_methods[record.apex_method] += 1

    def add(self, clip_id: str, outcome: str, problems: Sequence[ClipProblem] = (), label=None):
        self.counts[outcome] += 1
        if label is not None:
            self.labels[label] += 1
        if outcome == KEPT or not problems:
            return
        first = problems[0]
        self.reasons[outcome][first.reason] += 1
        detail = "; ".join(p.detail if p is first else f"{p.reason}: {p.detail}" for p in problems)
        self.clips[outcome].setdefault(first.reason, []).append(
            {"id": clip_id, "detail": detail, "file": first.file}
        )

    def note(self, clip_id: str, text: str) -> None:
        self.notes.append({"id": clip_id, "note": text})

    def to_dict(self) -> dict[str, Any]:
        counts = {o: self.counts[o] for o in OUTCOMES}
        return {
            "dataset": self.dataset,
            "config": self.config.name,
            "version": self.version,
            "manual_dir": self.manual_dir,
            "strict": self.strict,
            "sources": self.sources,
            "counts": {
                "clips": sum(counts.values()),
                "written": counts[KEPT] + counts[ESTIMATED],
                **counts,
            },
            "labels": {name: self.labels[name] for name in self.config.class_names},
            "reasons": {o: dict(sorted(c.items())) for o, c in self.reasons.items()},
            "clips": self.clips,
            "notes": self.notes,
            "preparation": {
                "face_crop": self.config.face_crop,
                "face_align": self.config.face_align,
                "face_backend": face_backend(self.config.face_crop and self.config.face_align),
                "apex_method": self.config.apex_method,
                "face_alignment": dict(sorted(self.face_modes.items())),
                "apex": dict(sorted(self.apex_methods.items())),
                **({"flow": self.flow} if self.flow is not None else {}),
            },
        }

    def write(self, folder: epath.PathLike) -> epath.Path:
        path = epath.Path(folder) / REPORT_FILENAME
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return path


def face_backend(locating: bool) -> str | None:
    """The face backend faces are located with (``dlib`` or ``haar``), or None when
    ``locating`` is off or no backend is there."""
    if not locating:
        return None
    try:
        return faces.resolve_backend("auto")
    except faces.BackendUnavailable:
        return None


def summarize(report: Mapping[str, Any], max_clips: int = 5) -> str:
    """A few lines for people: counts, labels, then each reason with its first clips."""
    counts = report["counts"]
    lines = [
        f"{report['dataset']}/{report['config']}: {counts['clips']} clips, "
        f"{counts['written']} written ({counts['kept']} kept, {counts['estimated']} with an "
        # Excluded: by the class map, or by a composite's clip list (the reasons follow).
        f"estimated apex), {counts['skipped']} skipped, {counts['excluded']} excluded",
        "  labels: " + ", ".join(f"{k} {v}" for k, v in report["labels"].items()),
    ]
    for outcome in (ESTIMATED, SKIPPED, EXCLUDED):
        for reason, clips in report["clips"].get(outcome, {}).items():
            shown = ", ".join(c["id"] for c in clips[:max_clips])
            more = f", ... (+{len(clips) - max_clips})" if len(clips) > max_clips else ""
            lines.append(f"  {outcome}, {reason}: {len(clips)}: {shown}{more}")
    prep = report.get("preparation") or {}
    if prep.get("face_alignment") or prep.get("apex"):
        parts = [f"{mode} {n}" for mode, n in prep.get("face_alignment", {}).items()]
        parts += [f"apex {method} {n}" for method, n in prep.get("apex", {}).items()]
        lines.append("  frames: " + ", ".join(parts))
    if prep.get("flow"):
        f = prep["flow"]
        timing = f", {f['seconds_per_clip']:.3f} s per clip" if "seconds_per_clip" in f else ""
        state = "normalised 0..255" if f.get("normalised") else "raw"
        lines.append(f"  flow: {f['records']} records at {f['size']} px ({state}){timing}")
    if report.get("notes"):
        lines.append(f"  notes: {len(report['notes'])} (e.g. {report['notes'][0]['note']})")
    return "\n".join(lines)


def read_report(builder: tfds.core.DatasetBuilder) -> dict[str, Any]:
    """The build report of a prepared builder."""
    return json.loads((epath.Path(builder.data_dir) / REPORT_FILENAME).read_text())
