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
from tfds_builders.me_common.report import (
    REPORT_FILENAME,
    BuildReport,
    read_report,
    summarize,
)
from tfds_builders.me_common.sheets import SheetRows, load_sheet_source, read_sheet, sheet_clips
from tfds_builders.me_common.sources import (
    COMMON_COLUMNS,
    REQUIRED_FIELDS,
    ClipSource,
    SheetLayout,
    Source,
    subject_folder_names,
)

__all__ = [
    "AFTER_APEX_RELEASE_NOTE",
    "APEX_METHODS",
    "NO_APEX_SPOTTED",
    "NO_FACE_FOUND",
    "NoFaceError",
    "APEX_NOT_A_NUMBER",
    "APEX_OUT_OF_RANGE",
    "APEX_REASONS",
    "BadClipError",
    "BuildReport",
    "COMMON_COLUMNS",
    "ClipBuilder",
    "ClipPlan",
    "ClipProblem",
    "ClipSource",
    "DUPLICATE_CLIP",
    "ESTIMATED",
    "EXCLUDED",
    "EXCLUDED_BY_CLASS_MAP",
    "FLOW_FAILED",
    "FOLDER_NOT_FOUND",
    "FlowFailed",
    "FolderIndex",
    "IMAGE_SUFFIXES",
    "KEPT",
    "MIN_FLOW_SIZE",
    "MISSING_FRAMES",
    "MeConfig",
    "NO_APEX_ANNOTATION",
    "NO_SUBJECT_OR_CLIP",
    "NoClipsError",
    "OFFSET_BEFORE_ONSET",
    "OFFSET_FROM_DISK",
    "OFFSET_NOT_A_NUMBER",
    "ONSET_EQUALS_APEX",
    "ONSET_EQUALS_OFFSET",
    "ONSET_NOT_A_NUMBER",
    "OUTCOMES",
    "REPORT_FILENAME",
    "REQUIRED_FIELDS",
    "SKIPPED",
    "STRICT_ENV",
    "SheetFormatError",
    "SheetLayout",
    "SheetRows",
    "Source",
    "SourceNotFoundError",
    "UNREADABLE_FRAME",
    "cell_text",
    "check_clip",
    "clip_flow",
    "crop",
    "derived_config",
    "detect_face",
    "env_strict",
    "find_frame_root",
    "find_sheet",
    "frame_number",
    "is_blank",
    "list_dirs",
    "load_record",
    "load_sheet_source",
    "make_config",
    "middle_frame",
    "normalize_column",
    "normalize_emotion",
    "read_report",
    "read_sheet",
    "shallowest",
    "sheet_clips",
    "subject_folder_names",
    "subject_number",
    "summarize",
    "walk_dirs",
]
