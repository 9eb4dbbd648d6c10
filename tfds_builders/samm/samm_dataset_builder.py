"""SAMM: 29 subjects, 159 micro clips at 200 fps, grayscale frames (manual download).

The sheet starts with notes rows; the header is the first row whose first cell is
``Subject``. Emotions are capitalised (``Anger``) and matched without case. Frames are
grayscale (stored as RGB) and, in the raw release, not face-cropped: the configs align
each clip's face (``face_align``: the face of the onset frame located with
:func:`mmnet_jax.vision.faces.locate`, eyes levelled, a square crop; the same transform for
every frame of the clip). ``face_align=False`` crops the plain Haar face box of the onset
frame instead (version 1.0.0); ``face_crop=False`` keeps frames as released.

Class maps (``ClassLabel`` order as listed):

- ``5class``: happiness, anger, contempt, surprise, other (136 clips; disgust, fear and
  sadness are excluded by the class map).
- ``3class`` (MEGC 2019): positive = happiness; surprise = surprise; negative = anger,
  contempt, disgust, fear, sadness (133 clips; other excluded).
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from tfds_builders import me_common


def subject_id(text: str) -> str:
    """``6``, ``'6'``, ``'006'`` -> ``'006'``."""
    number = me_common.subject_number(text)
    return f"{number:03d}" if number is not None else text


def clip_dirs(subject: str, filename: str, emotion: str) -> list[tuple[str, ...]]:
    del emotion
    names = me_common.subject_folder_names(subject, "{:03d}", "{}", "{:02d}")
    return [(name, filename) for name in names]


LAYOUT = me_common.SheetLayout(
    source="samm",
    title="SAMM",
    sheet_names=("SAMM_Micro_FACS_Codes_v2.xlsx",),
    columns=me_common.COMMON_COLUMNS,
    subject_id=subject_id,
    clip_dirs=clip_dirs,
    frame_root_names=("SAMM_CROP", "SAMM"),
    example_frame="006/006_1_2/006_05562.jpg",
)

CLASSES_5 = ("happiness", "anger", "contempt", "surprise", "other")
MAP_5 = {"happiness": "happiness", "anger": "anger", "contempt": "contempt"}
MAP_5 |= {"surprise": "surprise", "other": "other", "others": "other"}
CLASSES_3 = ("positive", "surprise", "negative")
MAP_3 = {"happiness": "positive", "surprise": "surprise"}
MAP_3 |= {e: "negative" for e in ("anger", "contempt", "disgust", "fear", "sadness")}


class Builder(me_common.ClipBuilder):
    """SAMM micro clips: onset-side and apex-side frames, one record per sheet row."""

    VERSION = tfds.core.Version("3.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "2.0.0": "Faces aligned by default (face_align: landmarks of the onset frame, eyes "
        "levelled, square crop, one transform per clip; face_align=False is the 1.0.0 "
        "Haar box); records gain face_alignment (JSON: the one "
        "face transform of the clip) and apex_method (how the apex was chosen).",
        "3.0.0": me_common.AFTER_APEX_RELEASE_NOTE,
    }
    HOMEPAGE = "https://helward.mmu.ac.uk/STAFF/M.Yap/dataset.php"
    LAYOUT = LAYOUT
    BUILDER_CONFIGS = [
        me_common.make_config(
            "5class",
            MAP_5,
            CLASSES_5,
            "Estimated emotion, 5 classes: happiness, anger, contempt, surprise, other. "
            "Faces aligned from the onset frame (eyes level, square crop).",
            face_crop=True,
            face_align=True,
        ),
        me_common.make_config(
            "3class",
            MAP_3,
            CLASSES_3,
            "MEGC 2019 classes: positive (happiness), surprise, negative (anger, contempt, "
            "disgust, fear, sadness). Faces aligned from the onset frame (eyes level, square "
            "crop).",
            face_crop=True,
            face_align=True,
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
SAMM is released by its owners after a signed licence agreement
(https://helward.mmu.ac.uk/STAFF/M.Yap/dataset.php). Put into `manual_dir`, at any
depth up to 4 folders:
- the annotation sheet `SAMM_Micro_FACS_Codes_v2.xlsx` (notes rows above the header
  are fine);
- the frames, as released: `006/006_1_2/006_05562.jpg` (subject folder / clip folder
  named as the sheet's `Filename` / `<subject>_<5-digit frame number>.jpg`), either at
  the top of `manual_dir` or in a folder such as `SAMM/` or `SAMM_CROP/`.
Faces are aligned by default (located in each clip's onset frame, eyes levelled, a
square crop, the same transform for every frame); `face_align=False` crops the plain
Haar box instead; pass `face_crop=False` for an already cropped release.
"""
