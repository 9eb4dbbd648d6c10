"""MMEW: 30 subjects, 300 micro clips at 90 fps, face-cropped frames (manual download).

Frames are grouped by emotion: ``Micro_Expression/happiness/S01-01-001/15.jpg``.

Class map (MMNet's MMEW task, ``ClassLabel`` order as listed):

- ``4class``: happiness, surprise, disgust, others (263 clips; fear, sadness and anger
  are excluded by the class map).
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from tfds_builders import me_common


def subject_id(text: str) -> str:
    """``1``, ``'1'``, ``'S01'`` -> ``'S01'``."""
    number = me_common.subject_number(text)
    return f"S{number:02d}" if number is not None else text


def clip_dirs(subject: str, filename: str, emotion: str) -> list[tuple[str, ...]]:
    del subject
    # The emotion folder first; then any folder, for releases whose emotion folders are
    # named differently from the sheet.
    return [(emotion, filename), ("*", filename)]


LAYOUT = me_common.SheetLayout(
    source="mmew",
    title="MMEW",
    sheet_names=("MMEW_Micro_Exp.xlsx",),
    columns=me_common.COMMON_COLUMNS,
    subject_id=subject_id,
    clip_dirs=clip_dirs,
    frame_root_names=("Micro_Expression",),
    example_frame="Micro_Expression/happiness/S01-01-001/15.jpg",
)

CLASSES_4 = ("happiness", "surprise", "disgust", "others")
MAP_4 = {name: name for name in CLASSES_4}


class Builder(me_common.ClipBuilder):
    """MMEW micro clips: onset-side and apex-side frames, one record per sheet row."""

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Frames unchanged (the release is cropped; no crop, no alignment); "
        "records gain face_alignment (JSON: the one "
        "face transform of the clip) and apex_method (how the apex was chosen).",
        "2.0.0": me_common.AFTER_APEX_RELEASE_NOTE,
    }
    HOMEPAGE = "http://www.dpailab.com/database.html"
    LAYOUT = LAYOUT
    BUILDER_CONFIGS = [
        me_common.make_config(
            "4class",
            MAP_4,
            CLASSES_4,
            "Estimated emotion, 4 classes: happiness, surprise, disgust, others.",
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
MMEW is released by its owners after a signed licence agreement
(http://www.dpailab.com/database.html). Put into `manual_dir`, at any depth up to 4
folders:
- the annotation sheet `MMEW_Micro_Exp.xlsx`;
- the micro-expression frames, as released:
  `Micro_Expression/happiness/S01-01-001/15.jpg` (emotion folder / clip folder named as
  the sheet's `Filename` / `<frame number>.jpg`).
"""
