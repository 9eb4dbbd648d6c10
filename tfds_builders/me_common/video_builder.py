"""The long-video builder base: :class:`LongVideoBuilder`, one record per long video
(spotting), shared by CAS(ME)^2 and SAMM Long Videos.

A builder finds its release (:meth:`LongVideoBuilder._find_videos`: the sheet's
intervals grouped by video, each video's frame folder, the video folders no interval
names); this base checks every interval (``intervals.check_interval``), reads and crops
every frame of each video (``video_frames.prepare_video``), keeps each video's prepared
frames in the cache folder so that a rerun does not read them again (``video_cache``),
and writes the build report (``video_report.VideoReport``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from tfds_builders import video_features as vf
from tfds_builders.me_common.checks import (
    EXCLUDED,
    FOLDER_NOT_FOUND,
    KEPT,
    MISSING_FRAMES,
    NO_FACE_FOUND,
    SKIPPED,
    UNREADABLE_FRAME,
    ClipProblem,
)
from tfds_builders.me_common.config import config_with_options, env_strict
from tfds_builders.me_common.errors import BadClipError, NoClipsError
from tfds_builders.me_common.files import FolderIndex, find_frame_root
from tfds_builders.me_common.frames import NoFaceError
from tfds_builders.me_common.intervals import IntervalSource, check_interval
from tfds_builders.me_common.report import face_backend
from tfds_builders.me_common.video_cache import VideoCache, cache_key
from tfds_builders.me_common.video_config import VideoConfig, derived_video_config
from tfds_builders.me_common.video_frames import prepare_video
from tfds_builders.me_common.video_report import VIDEO_SKIPPED, VideoReport, summarize_videos

NO_INTERVAL = "no interval in the sheet"
CACHE_FOLDER = "video_cache"


@dataclasses.dataclass(frozen=True)
class _Probe:
    """A folder (relative to a frame root) that :func:`find_frame_root` probes."""

    dir_candidates: tuple[tuple[str, ...], ...]


def find_video_root(
    manual_dir: epath.Path,
    folders: Iterable[str],
    title: str,
    preferred: Sequence[str],
    example: str,
    index: FolderIndex,
) -> epath.Path:
    """The frame root of a long-video release: the folder under which most of
    ``folders`` (the subject or video folders the sheet names) are; ties go to the
    earlier name in ``preferred``.

    Raises:
      SourceNotFoundError: no such folder (the message shows ``example``).
    """
    probes = [_Probe(((name,),)) for name in dict.fromkeys(folders)]
    return find_frame_root(
        manual_dir, probes, title, preferred_names=preferred, example=example, index=index
    )


@dataclasses.dataclass
class VideoSource:
    """One long video as the release describes it: its intervals (sheet order) and its
    frame folder (None when not found: ``reason`` and ``detail`` say why)."""

    subject: str
    video_code: str
    video: str
    folder: epath.Path | None
    intervals: list[IntervalSource]
    where: str
    reason: str = FOLDER_NOT_FOUND
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.video_code}"


@dataclasses.dataclass
class VideoRelease:
    """A release found inside ``manual_dir``.

    ``excluded``: video folders on disk that no interval names; ``broken``: sheet rows
    that name no video (reported as skipped intervals), as dicts with ``id``,
    ``detail``, ``file`` and ``reason``.
    """

    name: str
    sheet: epath.Path
    frame_root: epath.Path
    rows: int
    videos: list[VideoSource]
    excluded: list[dict[str, str]] = dataclasses.field(default_factory=list)
    broken: list[dict[str, str]] = dataclasses.field(default_factory=list)
    ignored_rows: list[str] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "sheet": os.fspath(self.sheet),
            "frames": os.fspath(self.frame_root),
            "rows": self.rows,
            "ignored_rows": self.ignored_rows,
            **self.extra,
        }


class LongVideoBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared body of the long-video builders (one record per video, one split).

    Subclasses set ``SOURCE``, ``FPS``, ``HOMEPAGE``, ``EXPECTED_FILES``,
    ``MANUAL_DOWNLOAD_INSTRUCTIONS`` and :meth:`_find_videos`.

    Extra constructor keywords (also through ``tfds.builder(name, **kwargs)``):
      image_size, grayscale, face_crop, face_align, face_every: frame options (see
        :class:`VideoConfig`); a value other than the config's makes a derived config
        with its own name (``default_64px``), so each variant has its own data folder.
      strict: fail on the first bad video or interval (default: environment
        ``MMNET_TFDS_STRICT``); with face crop on, a video without a face is one.
      cache_dir: the folder of the per-video cache (default: ``video_cache`` in the
        config's folder of ``data_dir``, beside the version folders).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = ""
    SOURCE = ""
    FPS = 0.0
    EXPECTED_FILES = ""
    # The data options this builder takes (mmnet prepare's flags of the same names).
    DATA_OPTIONS: tuple[str, ...] = (
        "image_size",
        "grayscale",
        "face_crop",
        "face_align",
        "face_every",
    )
    BUILDER_CONFIGS = [
        VideoConfig(
            name="default",
            description="Every frame of each video: the face aligned with one transform "
            "from the first frame showing it, 128 px grey PNG.",
        )
    ]

    def __init__(
        self,
        *,
        config: str | VideoConfig | None = None,
        image_size: int | None = None,
        grayscale: bool | None = None,
        face_crop: bool | None = None,
        face_align: bool | None = None,
        face_every: int | None = None,
        strict: bool | None = None,
        cache_dir: epath.PathLike | None = None,
        **kwargs: Any,
    ):
        options = (image_size, grayscale, face_crop, face_align, face_every)
        config = config_with_options(self, config, derived_video_config, options)
        self.strict = env_strict() if strict is None else bool(strict)
        self.cache_dir = None if cache_dir is None else epath.Path(cache_dir)
        super().__init__(config=config, **kwargs)

    @classmethod
    def expected_files(cls) -> str:
        return cls.EXPECTED_FILES

    @property
    def video_config(self) -> VideoConfig:
        config = self.builder_config
        assert isinstance(config, VideoConfig)
        return config

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.video_config
        return self.dataset_info_from_configs(
            features=vf.video_features(config.image_size, config.channels),
            homepage=self.HOMEPAGE or None,
        )

    def _find_videos(self, manual_dir: epath.Path) -> VideoRelease:
        raise NotImplementedError

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = epath.Path(os.path.abspath(dl_manager.manual_dir))
        release = self._find_videos(manual_dir)
        return {"train": self._generate_examples(release, manual_dir)}

    def cache_folder(self) -> epath.Path:
        """Where each video's prepared frames are kept between builds."""
        if self.cache_dir is not None:
            return self.cache_dir
        # data_dir is <root>/<name>/<config>/<version> (or, while building, a temporary
        # folder beside it, deleted when a build fails): the cache sits beside both.
        return epath.Path(self.data_dir).parent / CACHE_FOLDER

    def _generate_examples(self, release: VideoRelease, manual_dir: epath.Path):
        config = self.video_config
        report = VideoReport(
            self.name, config, str(self.version), os.fspath(manual_dir), self.strict
        )
        report.sources[release.name] = release.describe()
        cache = VideoCache(self.cache_folder())
        backend = face_backend(config.face_crop)
        index = FolderIndex()
        for item in release.broken:  # sheet rows that name no video: skipped intervals
            problem = ClipProblem(SKIPPED, item["reason"], item["detail"], item["file"])
            self._fail_if_strict("interval", item["id"], problem)
            report.interval(item["id"], SKIPPED, [problem])
        for item in release.excluded:
            problem = ClipProblem(EXCLUDED, NO_INTERVAL, item["detail"], item["file"], bad=False)
            report.add(item["id"], EXCLUDED, [problem])
        for video in release.videos:
            checked = []
            for src in video.intervals:
                checked.append((src, *self._check(video, src, index)))
            problem, prepared = self._prepare(video, config, index, cache, backend)
            if problem is not None:
                self._fail_if_strict("video", video.key, problem)
                report.add(video.key, SKIPPED, [problem])
                for src, _, _, _ in checked:
                    skipped = ClipProblem(SKIPPED, VIDEO_SKIPPED, problem.reason, problem.file)
                    report.interval(f"{video.key} {src.name}", SKIPPED, [skipped])
                continue
            assert prepared is not None
            intervals = []
            for src, interval, outcome, problems in checked:
                report.interval(f"{video.key} {src.name}", outcome, problems, interval)
                if interval is not None:
                    intervals.append(interval)
            record = vf.VideoRecord(
                subject=video.subject,
                video=video.video,
                video_code=video.video_code,
                source=self.SOURCE,
                fps=self.FPS,
                num_frames=len(index.frames(video.folder)),
                png_frames=prepared.png,
                frame_numbers=prepared.frame_numbers,
                face_alignment=prepared.face_alignment,
                intervals=intervals,
            )
            key, example = record.to_example()
            report.written(
                prepared.face_alignment, len(prepared.png), sum(len(b) for b in prepared.png)
            )
            report.add(video.key, KEPT)
            for text in prepared.notes:
                report.note(video.key, text)
            yield key, example
        report.cache = cache.describe()
        path = report.write(self.data_dir)
        summary = summarize_videos(report.to_dict())
        logging.info("Build report written to %s\n%s", path, summary)
        print(summary, flush=True)
        if not report.counts[KEPT]:
            raise NoClipsError(f"{self.name}/{config.name}: no video could be built.\n{summary}")

    def _check(self, video: VideoSource, src: IntervalSource, index: FolderIndex):
        """``(interval or None, outcome, problems)`` of one interval (strict: raises at a
        data fault)."""
        files = index.frames(video.folder) if video.folder is not None else {}
        first, last = (min(files), max(files)) if files else (None, None)
        interval, outcome, problems = check_interval(src, first, last)
        for problem in problems:
            self._fail_if_strict("interval", f"{video.key} {src.name}", problem)
        return interval, outcome, problems

    def _prepare(self, video, config, index, cache, backend):
        """``(problem, None)`` for a video that cannot be built, else ``(None, its
        prepared frames)`` (from the cache when there)."""
        if video.folder is None:
            return ClipProblem(SKIPPED, video.reason, video.detail, video.where), None
        files = index.frames(video.folder)
        folder = os.fspath(video.folder)
        if not files:
            return ClipProblem(SKIPPED, MISSING_FRAMES, f"no image files in {folder}", folder), None
        key = cache_key(self.name, str(self.version), config.options(), backend, video.key, files)
        prepared = cache.load(video.key, key)
        if prepared is not None:
            face = json.loads(prepared.face_alignment)
            if self.strict and config.face_crop and face["mode"] == "full frame":
                # Cached by a build that was not strict: no face is a fault here.
                return ClipProblem(SKIPPED, NO_FACE_FOUND, face["reason"], folder), None
            return None, prepared
        try:
            prepared = prepare_video(files, config, require_face=self.strict)
        except (OSError, NoFaceError) as e:
            reason = NO_FACE_FOUND if isinstance(e, NoFaceError) else UNREADABLE_FRAME
            return ClipProblem(SKIPPED, reason, str(e), folder), None
        cache.save(video.key, key, prepared)
        return None, prepared

    def _fail_if_strict(self, what: str, item_id: str, problem: ClipProblem) -> None:
        if self.strict and problem.bad:
            raise BadClipError(
                f"strict mode: {what} {item_id} ({problem.file}): {problem.reason}: "
                f"{problem.detail}"
            )
