"""The builder base: :class:`ClipBuilder`, the shared body of the micro-expression
builders (find sources, check each clip, load its frames, write the report)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from mmnet_jax.vision import flow
from tfds_builders import clip_features as cf
from tfds_builders.me_common.checks import (
    DUPLICATE_CLIP,
    ESTIMATED,
    EXCLUDED,
    FLOW_FAILED,
    KEPT,
    NO_APEX_ANNOTATION,
    NO_APEX_SPOTTED,
    NO_FACE_FOUND,
    NO_SUBJECT_OR_CLIP,
    SKIPPED,
    UNREADABLE_FRAME,
    ClipProblem,
    check_clip,
)
from tfds_builders.me_common.config import (
    MeConfig,
    config_with_options,
    derived_config,
    env_strict,
)
from tfds_builders.me_common.errors import BadClipError, NoClipsError
from tfds_builders.me_common.files import FolderIndex
from tfds_builders.me_common.frames import FlowFailed, NoFaceError, load_record
from tfds_builders.me_common.report import BuildReport, summarize
from tfds_builders.me_common.sheets import load_sheet_source
from tfds_builders.me_common.sources import SheetLayout, Source


class ClipBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared body of the micro-expression builders (one record per clip, one split).

    Subclasses set ``BUILDER_CONFIGS`` (of :class:`MeConfig`), ``MANUAL_DOWNLOAD_INSTRUCTIONS``,
    ``HOMEPAGE`` and either ``LAYOUT`` (a sheet-based release) or their own
    :meth:`_find_sources`.

    Extra constructor keywords (also through ``tfds.builder(name, **kwargs)``):
      image_size, frames_per_side, face_crop, face_align, apex_method, flow_size: data
        options (see :class:`MeConfig`); a value other than the config's makes a derived
        config with its own name (``5class_32px``, ``5class_flow28``), so each variant has
        its own data folder (a build without flow keeps the predefined config's name,
        features and version).
      strict: fail on the first bad clip (default: environment ``MMNET_TFDS_STRICT``);
        with face alignment on, a clip whose onset frame shows no face is such a clip
        (skipped, reason "no face found"); otherwise it is kept uncropped, with a note.
        A clip whose flow cannot be computed is skipped (reason "flow not computed").
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = ""
    # The data options this builder takes (mmnet prepare's flags of the same names).
    DATA_OPTIONS: tuple[str, ...] = (
        "image_size",
        "frames_per_side",
        "face_crop",
        "face_align",
        "apex_method",
        "flow_size",
    )
    LAYOUT: SheetLayout | None = None
    # What ``manual_dir`` must hold, in a few words (for messages); derived from LAYOUT
    # when empty.
    EXPECTED_FILES = ""

    def __init__(
        self,
        *,
        config: str | MeConfig | None = None,
        image_size: int | None = None,
        frames_per_side: int | None = None,
        face_crop: bool | None = None,
        face_align: bool | None = None,
        apex_method: str | None = None,
        flow_size: int | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ):
        options = (image_size, frames_per_side, face_crop, face_align, apex_method, flow_size)
        config = config_with_options(self, config, derived_config, options)
        self.strict = env_strict() if strict is None else bool(strict)
        super().__init__(config=config, **kwargs)

    @classmethod
    def expected_files(cls) -> str:
        """What the release folder must hold, in one line: ``'the sheet X (or Y) and frames
        laid out as Cropped/sub01/...'``."""
        if cls.EXPECTED_FILES or cls.LAYOUT is None:
            return cls.EXPECTED_FILES
        first, *others = cls.LAYOUT.sheet_names
        alternatives = f" (or {', '.join(others)})" if others else ""
        return (
            f"the annotation sheet {first}{alternatives} and frames laid out as "
            f"{cls.LAYOUT.example_frame}"
        )

    @property
    def me_config(self) -> MeConfig:
        config = self.builder_config
        assert isinstance(config, MeConfig)
        return config

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.me_config
        metadata = None
        if config.flow_size:
            metadata = tfds.core.MetadataDict(flow=flow_metadata(config.flow_size))
        return self.dataset_info_from_configs(
            features=cf.clip_features(
                list(config.class_names),
                config.image_size,
                config.frames_per_side,
                provenance=True,
                flow_size=config.flow_size,
            ),
            homepage=self.HOMEPAGE or None,
            metadata=metadata,
        )

    def _find_sources(self, manual_dir: epath.Path) -> tuple[list[Source], list[dict]]:
        """The releases to read, and the clips reported without being read: dicts with
        ``id``, ``detail``, ``file``, optional ``reason`` and ``outcome`` (default skipped,
        e.g. a sheet row that names no clip; ``excluded`` is not a data fault)."""
        if self.LAYOUT is None:
            raise NotImplementedError
        source, broken = load_sheet_source(self.LAYOUT, manual_dir)
        return [source], broken

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = epath.Path(os.path.abspath(dl_manager.manual_dir))
        if self.me_config.flow_size:
            flow.DEFAULT_PARAMS.create()  # FlowUnavailable before any clip is read
        sources, broken = self._find_sources(manual_dir)
        return {"train": self._generate_examples(sources, broken, manual_dir)}

    def _generate_examples(self, sources: list[Source], broken: list[dict], manual_dir):
        config = self.me_config
        report = BuildReport(
            self.name, config, str(self.version), os.fspath(manual_dir), self.strict
        )
        flow_seconds: list[float] | None = [] if config.flow_size else None
        total = sum(len(source.clips) for source in sources)
        with _flow_bar(config.flow_size, total, self.name) as bar:
            yield from self._clip_examples(sources, broken, report, flow_seconds, bar)
        if flow_seconds is not None:
            report.flow = {
                **flow_metadata(config.flow_size),
                "records": len(flow_seconds),
                "seconds": round(sum(flow_seconds), 3),
                "seconds_per_clip": round(sum(flow_seconds) / max(1, len(flow_seconds)), 4),
            }
        path = report.write(self.data_dir)
        summary = summarize(report.to_dict())
        logging.info("Build report written to %s\n%s", path, summary)
        print(summary, flush=True)
        if not report.counts[KEPT] + report.counts[ESTIMATED]:
            raise NoClipsError(f"{self.name}/{config.name}: no clip could be built.\n{summary}")

    def _clip_examples(self, sources, broken, report, flow_seconds, bar):
        """The examples of every clip, each clip's outcome added to ``report``; the flow
        time of each written clip appended to ``flow_seconds`` (flow builds)."""
        config = self.me_config
        index = FolderIndex()
        seen: set[str] = set()
        for item in broken:
            reason = item.get("reason", NO_SUBJECT_OR_CLIP)
            outcome = item.get("outcome", SKIPPED)
            problem = ClipProblem(
                outcome, reason, item["detail"], item["file"], bad=outcome != EXCLUDED
            )
            self._fail_if_strict(item["id"], problem)
            report.add(item["id"], outcome, [problem])
        for source in sources:
            report.sources[source.name] = source.describe()
            crop = config.face_crop if source.face_crop is None else source.face_crop
            report.sources[source.name]["face_crop"] = crop
            report.sources[source.name]["face_align"] = crop and config.face_align
            for clip in source.clips:
                bar.update(1)
                if clip.key in seen:
                    problem = ClipProblem(
                        SKIPPED, DUPLICATE_CLIP, "an earlier row has the same key", clip.where
                    )
                    self._fail_if_strict(clip.key, problem)
                    report.add(clip.key, SKIPPED, [problem])
                    continue
                seen.add(clip.key)
                plan, problems = check_clip(clip, config, source.frame_root, index)
                for problem in problems:
                    self._fail_if_strict(clip.key, problem)
                if plan is None:
                    report.add(clip.key, problems[0].outcome, problems)
                    continue
                try:
                    record = load_record(
                        plan,
                        config,
                        index,
                        source.face_crop,
                        require_face=self.strict,
                        flow_seconds=flow_seconds,
                    )
                except (OSError, NoFaceError, FlowFailed) as e:
                    reason = UNREADABLE_FRAME
                    if isinstance(e, NoFaceError):
                        reason = NO_FACE_FOUND
                    elif isinstance(e, FlowFailed):
                        reason = FLOW_FAILED
                    problem = ClipProblem(SKIPPED, reason, str(e), os.fspath(plan.folder))
                    self._fail_if_strict(clip.key, problem)
                    report.add(clip.key, SKIPPED, [problem])
                    continue
                if plan.apex_method not in ("annotated", "middle"):
                    for problem in problems:
                        if problem.reason == NO_APEX_ANNOTATION:
                            problem.reason = NO_APEX_SPOTTED
                            problem.detail = (
                                f"the release has no apex; frame {plan.apex} spotted "
                                f"({plan.apex_method})"
                            )
                report.prepared(record)
                outcome = ESTIMATED if plan.estimated_reasons else KEPT
                report.add(clip.key, outcome, problems, label=plan.label)
                for text in plan.notes:
                    report.note(clip.key, text)
                yield record.to_example(config.frames_per_side)

    def _fail_if_strict(self, clip_id: str, problem: ClipProblem) -> None:
        if self.strict and problem.bad:
            raise BadClipError(
                f"strict mode: clip {clip_id} ({problem.file}): {problem.reason}: {problem.detail}"
            )


def flow_metadata(size: int) -> dict[str, Any]:
    """What a flow build's ``flow`` feature holds (its ``metadata.json`` and build report)."""
    return {
        "size": int(size),
        "channels": list(flow.CHANNELS),
        "units": "u, v: pixels at size x size (x right, y down); strain: dimensionless",
        "normalised": False,
        "computed_on": "the labelled onset and apex frames after the clip's face crop, at "
        "the crop's full size, then resized (u, v scaled by the resize factor)",
        "tvl1": flow.DEFAULT_PARAMS.describe(),
    }


@contextlib.contextmanager
def _flow_bar(size: int, total: int, name: str):
    """A tqdm bar over the clips of a flow build (nothing shown without flow)."""
    from tqdm import tqdm  # noqa: PLC0415 - only flow builds show it

    bar = tqdm(
        total=total,
        disable=not size,
        desc=f"{name}: clips with optical flow",
        unit="clip",
        dynamic_ncols=True,
    )
    try:
        yield bar
    finally:
        bar.close()
