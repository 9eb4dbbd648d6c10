"""What every micro-expression builder does alike, one concern per module.

A builder describes its release declaratively (a :class:`SheetLayout`: sheet file names,
column names, subject and folder naming); this package does the rest:

1. ``files``: find the annotation sheet anywhere inside ``manual_dir`` by its known file
   names (:func:`find_sheet`), and the frame root, the folder that holds the subject (or
   emotion) folders, by probing the sheet's clips against every candidate folder
   (:func:`find_frame_root`);
2. ``sheets``: read the sheet by column NAME from the first row whose first cell is
   ``Subject`` (:func:`read_sheet`; notes rows above it are skipped), with ``cells``
   turning cell values into text and frame numbers;
3. ``checks``: check each clip (:func:`check_clip`): every clip is *kept*, kept with an
   *estimated* apex (the middle of onset..offset), *skipped* with its reason, or
   *excluded* by the config's class map (not an error);
4. ``frames``: load the frames the record needs (``onset_frame_numbers`` /
   ``apex_frame_numbers`` of :mod:`tfds_builders.clip_features`) through
   :mod:`mmnet_jax.vision.frames`, grayscale -> RGB, optional face crop with ONE transform per
   clip made from its onset frame (``face_align``: :mod:`mmnet_jax.vision.faces` landmarks,
   eyes levelled, square crop; else the plain Haar box), apex spotting
   (:mod:`mmnet_jax.vision.spot`) for a clip without an apex annotation when the config asks,
   resize to the config's square ``image_size``; with ``flow_size``, the onset-to-apex
   optical flow of the face crops (:mod:`mmnet_jax.vision.flow`);
5. ``report``: write the build report (:class:`BuildReport`): ``build_report.json`` in
   the builder's ``data_dir`` version folder, with counts by outcome and reason and the
   clips per reason.

``config`` holds the builder configs (:class:`MeConfig`), ``sources`` the declarative
release descriptions, ``errors`` what a build raises, ``builder`` the base class
(:class:`ClipBuilder`) that runs steps 1-5. Builders use the names re-exported here
(``me_common.ClipBuilder``, ``me_common.make_config``, ...).

Strict mode (builder kwarg ``strict=True`` or environment ``MMNET_TFDS_STRICT=1``) raises
:class:`BadClipError` on the first clip that would be skipped or estimated because of bad
data, naming the clip and the file.

The long-video builders (one record per video, for spotting) have their own modules:
``intervals`` (interval cells -> intervals, every quirk named), ``video_config``,
``video_frames`` (every frame of a video read, face-cropped, resized), ``video_cache``
(resumable builds), ``video_report`` and ``video_builder`` (:class:`LongVideoBuilder`).
"""

from tfds_builders.clip_features import AFTER_APEX_RELEASE_NOTE
from tfds_builders.me_common.builder import ClipBuilder
from tfds_builders.me_common.cells import (
    cell_text,
    frame_number,
    is_blank,
    normalize_column,
    normalize_emotion,
    subject_number,
)
from tfds_builders.me_common.checks import (
    APEX_NOT_A_NUMBER,
    APEX_OUT_OF_RANGE,
    APEX_REASONS,
    DUPLICATE_CLIP,
    ESTIMATED,
    EXCLUDED,
    EXCLUDED_BY_CLASS_MAP,
    FLOW_FAILED,
    FOLDER_NOT_FOUND,
    KEPT,
    MISSING_FRAMES,
    NO_APEX_ANNOTATION,
    NO_APEX_SPOTTED,
    NO_FACE_FOUND,
    NO_SUBJECT_OR_CLIP,
    OFFSET_BEFORE_ONSET,
    OFFSET_FROM_DISK,
    OFFSET_NOT_A_NUMBER,
    ONSET_EQUALS_APEX,
    ONSET_EQUALS_OFFSET,
    ONSET_NOT_A_NUMBER,
    OUTCOMES,
    SKIPPED,
    UNREADABLE_FRAME,
    ClipPlan,
    ClipProblem,
    check_clip,
    middle_frame,
)
from tfds_builders.me_common.config import (
    APEX_METHODS,
    MIN_FLOW_SIZE,
    STRICT_ENV,
    MeConfig,
    derived_config,
    env_strict,
    make_config,
)
from tfds_builders.me_common.errors import (
    BadClipError,
    NoClipsError,
    SheetFormatError,
    SourceNotFoundError,
)
from tfds_builders.me_common.files import (
    IMAGE_SUFFIXES,
    FolderIndex,
    find_frame_root,
    find_sheet,
    list_dirs,
    shallowest,
    walk_dirs,
)
from tfds_builders.me_common.frames import (
    FlowFailed,
    NoFaceError,
    clip_flow,
    crop,
    detect_face,
    load_record,
)
from tfds_builders.me_common.intervals import (
    APEX_BEFORE_ONSET,
    APEX_NOT_ANNOTATED,
    AUS_NOT_ANNOTATED,
    AUS_UNCERTAIN,
    AUS_UNPARSED,
    EMOTION_RESPELLED,
    MACRO,
    MICRO,
    NO_OFFSET_NO_APEX,
    OFFSET_BEFORE_APEX,
    OFFSET_NOT_ANNOTATED,
    OUTSIDE_VIDEO,
    PARTLY_OUTSIDE_VIDEO,
    TYPE_UNKNOWN,
    ActionUnits,
    IntervalSource,
    check_interval,
    expression_type,
    normalize_label,
    parse_action_units,
)
from tfds_builders.me_common.report import (
    REPORT_FILENAME,
    BuildReport,
    face_backend,
    read_report,
    summarize,
)
from tfds_builders.me_common.sheets import (
    SheetRows,
    load_sheet_source,
    read_sheet,
    read_workbook,
    sheet_clips,
)
from tfds_builders.me_common.sources import (
    COMMON_COLUMNS,
    REQUIRED_FIELDS,
    ClipSource,
    SheetLayout,
    Source,
    subject_folder_names,
)
from tfds_builders.me_common.video_builder import (
    NO_INTERVAL,
    LongVideoBuilder,
    VideoRelease,
    VideoSource,
    find_video_root,
)
from tfds_builders.me_common.video_cache import VideoCache, cache_key
from tfds_builders.me_common.video_config import VideoConfig, derived_video_config
from tfds_builders.me_common.video_frames import FaceTrack, locate_face, prepare_video, read_frame
from tfds_builders.me_common.video_report import VIDEO_SKIPPED, VideoReport, summarize_videos

__all__ = [
    "ActionUnits",
    "AFTER_APEX_RELEASE_NOTE",
    "APEX_BEFORE_ONSET",
    "APEX_METHODS",
    "APEX_NOT_A_NUMBER",
    "APEX_NOT_ANNOTATED",
    "APEX_OUT_OF_RANGE",
    "APEX_REASONS",
    "AUS_NOT_ANNOTATED",
    "AUS_UNCERTAIN",
    "AUS_UNPARSED",
    "BadClipError",
    "BuildReport",
    "cache_key",
    "cell_text",
    "check_clip",
    "check_interval",
    "clip_flow",
    "ClipBuilder",
    "ClipPlan",
    "ClipProblem",
    "ClipSource",
    "COMMON_COLUMNS",
    "crop",
    "derived_config",
    "derived_video_config",
    "detect_face",
    "DUPLICATE_CLIP",
    "EMOTION_RESPELLED",
    "env_strict",
    "ESTIMATED",
    "EXCLUDED",
    "EXCLUDED_BY_CLASS_MAP",
    "expression_type",
    "face_backend",
    "FaceTrack",
    "find_frame_root",
    "find_sheet",
    "find_video_root",
    "FLOW_FAILED",
    "FlowFailed",
    "FOLDER_NOT_FOUND",
    "FolderIndex",
    "frame_number",
    "IMAGE_SUFFIXES",
    "IntervalSource",
    "is_blank",
    "KEPT",
    "list_dirs",
    "load_record",
    "load_sheet_source",
    "locate_face",
    "LongVideoBuilder",
    "MACRO",
    "make_config",
    "MeConfig",
    "MICRO",
    "middle_frame",
    "MIN_FLOW_SIZE",
    "MISSING_FRAMES",
    "NO_APEX_ANNOTATION",
    "NO_APEX_SPOTTED",
    "NO_FACE_FOUND",
    "NO_INTERVAL",
    "NO_OFFSET_NO_APEX",
    "NO_SUBJECT_OR_CLIP",
    "NoClipsError",
    "NoFaceError",
    "normalize_column",
    "normalize_emotion",
    "normalize_label",
    "OFFSET_BEFORE_APEX",
    "OFFSET_BEFORE_ONSET",
    "OFFSET_FROM_DISK",
    "OFFSET_NOT_A_NUMBER",
    "OFFSET_NOT_ANNOTATED",
    "ONSET_EQUALS_APEX",
    "ONSET_EQUALS_OFFSET",
    "ONSET_NOT_A_NUMBER",
    "OUTCOMES",
    "OUTSIDE_VIDEO",
    "parse_action_units",
    "PARTLY_OUTSIDE_VIDEO",
    "prepare_video",
    "read_frame",
    "read_report",
    "read_sheet",
    "read_workbook",
    "REPORT_FILENAME",
    "REQUIRED_FIELDS",
    "shallowest",
    "sheet_clips",
    "SheetFormatError",
    "SheetLayout",
    "SheetRows",
    "SKIPPED",
    "Source",
    "SourceNotFoundError",
    "STRICT_ENV",
    "subject_folder_names",
    "subject_number",
    "summarize",
    "summarize_videos",
    "TYPE_UNKNOWN",
    "UNREADABLE_FRAME",
    "VIDEO_SKIPPED",
    "VideoCache",
    "VideoConfig",
    "VideoRelease",
    "VideoReport",
    "VideoSource",
    "walk_dirs",
]
