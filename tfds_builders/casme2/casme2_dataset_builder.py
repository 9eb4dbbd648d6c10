"""CASME II: 26 subjects, 255 clips at 200 fps, face-cropped frames (manual download).

Class maps (``ClassLabel`` order = the official MMNet label indices):

- ``5class``: happiness, repression, disgust, surprise, others (249 clips on the
  2019-07-01 sheet; fear and sadness are excluded by the class map).
- ``3class`` (MMNet's): positive = happiness; surprise = surprise; negative =
  repression, disgust, fear, sadness (156 clips; others excluded).
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from tfds_builders import me_common


def subject_id(text: str) -> str:
    """``'01'``, ``1``, ``'sub1'`` -> ``'sub01'``."""
    number = me_common.subject_number(text)
    return f"sub{number:02d}" if number is not None else text


def clip_dirs(subject: str, filename: str, emotion: str) -> list[tuple[str, ...]]:
    del emotion  # frames are grouped by subject only
    names = me_common.subject_folder_names(subject, "sub{:02d}", "sub{}", "{:02d}", "{}")
    return [(name, filename) for name in names]


LAYOUT = me_common.SheetLayout(
    source="casme2",
    title="CASME II",
    sheet_names=(
        "CASME2-coding-20190701.xlsx",
        "CASME2-coding-20140508.xlsx",
        "CASME2-coding-updated.xlsx",
    ),
    columns=me_common.COMMON_COLUMNS,
    subject_id=subject_id,
    clip_dirs=clip_dirs,
    frame_root_names=("Cropped", "CASME2_Cropped", "CASME2_RAW_selected", "CASME2-RAW"),
    example_frame="Cropped/sub01/EP02_01f/reg_img46.jpg",
)

CLASSES_5 = ("happiness", "repression", "disgust", "surprise", "others")
MAP_5 = {name: name for name in CLASSES_5}
CLASSES_3 = ("positive", "surprise", "negative")
MAP_3 = {
    "happiness": "positive",
    "surprise": "surprise",
    "repression": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sadness": "negative",
}


class Builder(me_common.ClipBuilder):
    """CASME II clips: onset-side and apex-side frames, one record per sheet row."""

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Frames unchanged (the release is cropped; no crop, no alignment); "
        "records gain face_alignment (JSON: the one "
        "face transform of the clip) and apex_method (how the apex was chosen).",
        "2.0.0": me_common.AFTER_APEX_RELEASE_NOTE,
    }
    HOMEPAGE = "http://fu.psych.ac.cn/CASME/casme2-en.php"
    LAYOUT = LAYOUT
    BUILDER_CONFIGS = [
        me_common.make_config(
            "5class",
            MAP_5,
            CLASSES_5,
            "Estimated emotion, 5 classes: happiness, repression, disgust, surprise, others.",
        ),
        me_common.make_config(
            "3class",
            MAP_3,
            CLASSES_3,
            "MMNet's 3 classes: positive (happiness), surprise, negative (repression, "
            "disgust, fear, sadness).",
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
CASME II is released by its owners after a signed licence agreement
(http://fu.psych.ac.cn/CASME/casme2-en.php). Put into `manual_dir`, at any depth up to
4 folders:
- the annotation sheet `CASME2-coding-20190701.xlsx` (or `CASME2-coding-20140508.xlsx`,
  or `CASME2-coding-updated.xlsx`; the first one found in this order is used);
- the frames, as released: `Cropped/sub01/EP02_01f/reg_img46.jpg` (also accepted:
  `Cropped-updated/Cropped/...` or `CASME2_RAW_selected/...`; subject folders may be
  named `sub01`, `sub1`, `01` or `1`; `.jpg`, `.bmp` or `.png`). When several frame
  folders hold the clips, the one holding most of them is used; ties go to `Cropped`.
"""
