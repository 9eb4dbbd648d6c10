"""CAS(ME)^3 part A: 94 subjects in the sheet, 860 micro clips (manual download).

One video (``spNO.1/e``) can hold several micro-expressions, so a clip is named by its
video and onset: key ``spNO.1/e_62`` (``clip`` feature ``e_62``). Emotions are
lower-cased, so ``Others`` and ``others`` are one class. Dozens of clips have
onset == apex: they are kept with the apex estimated (middle of onset..offset).

The part A frames are whole video frames: the configs align each clip's face
(``face_align``: the face of the onset frame located with :func:`mmnet_jax.vision.faces.locate`,
eyes levelled, a square crop; one transform for every frame of the clip).
``face_align=False`` crops the plain Haar face box; ``face_crop=False`` keeps the frames
as released.

Class maps (``ClassLabel`` order as listed):

- ``7class`` (MMNet's order): happy, fear, sad, disgust, anger, surprise, others.
- ``4class``: positive = happy; surprise; negative = disgust, fear, anger, sad; others.
- ``3class``: positive = happy; surprise; negative = disgust, fear, anger, sad (others
  excluded by the class map).
"""

from __future__ import annotations

import re

import tensorflow_datasets as tfds

from tfds_builders import me_common


def subject_id(text: str) -> str:
    """``'spNO.1'`` stays; a bare number ``1`` -> ``'spNO.1'``."""
    return f"spNO.{int(text)}" if text.isdigit() else text


def clip_id(filename: str, onset: str) -> str:
    """Video and onset (``'e'``, ``'62'`` -> ``'e_62'``): one video holds several clips."""
    return f"{filename}_{re.sub(r'[^0-9A-Za-z.-]', '-', onset) or 'none'}"


def clip_dirs(subject: str, filename: str, emotion: str) -> list[tuple[str, ...]]:
    del emotion
    names = me_common.subject_folder_names(subject, "spNO.{}")
    return [(n, filename, "color") for n in names] + [(n, filename) for n in names]


LAYOUT = me_common.SheetLayout(
    source="casme3",
    title="CAS(ME)^3 part A",
    sheet_names=("cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",),
    columns=me_common.COMMON_COLUMNS,
    subject_id=subject_id,
    clip_dirs=clip_dirs,
    clip_id=clip_id,
    frame_root_names=("part_A", "ME_A", "data"),
    example_frame="spNO.1/b/color/175.jpg",
    offset_from_disk=False,  # a folder holds a whole video, not one clip
)

CLASSES_7 = ("happy", "fear", "sad", "disgust", "anger", "surprise", "others")
MAP_7 = {name: name for name in CLASSES_7}
CLASSES_4 = ("positive", "surprise", "negative", "others")
MAP_4 = {"happy": "positive", "surprise": "surprise", "others": "others"}
MAP_4 |= {e: "negative" for e in ("disgust", "fear", "anger", "sad")}
CLASSES_3 = ("positive", "surprise", "negative")
MAP_3 = {k: v for k, v in MAP_4.items() if v != "others"}


class Builder(me_common.ClipBuilder):
    """CAS(ME)^3 part A micro clips: onset-side and apex-side colour frames."""

    VERSION = tfds.core.Version("3.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "2.0.0": "Faces aligned by default (face_align: landmarks of the onset frame, eyes "
        "levelled, square crop, one transform per clip; 1.0.0 stored full frames, now "
        "face_crop=False); records gain face_alignment (JSON: the one "
        "face transform of the clip) and apex_method (how the apex was chosen).",
        "3.0.0": me_common.AFTER_APEX_RELEASE_NOTE,
    }
    HOMEPAGE = "http://casme.psych.ac.cn/casme/e4"
    LAYOUT = LAYOUT
    BUILDER_CONFIGS = [
        me_common.make_config(
            "4class",
            MAP_4,
            CLASSES_4,
            "4 classes: positive (happy), surprise, negative (disgust, fear, anger, sad), others.",
            face_crop=True,
            face_align=True,
        ),
        me_common.make_config(
            "3class",
            MAP_3,
            CLASSES_3,
            "3 classes: positive (happy), surprise, negative (disgust, fear, anger, sad).",
            face_crop=True,
            face_align=True,
        ),
        me_common.make_config(
            "7class",
            MAP_7,
            CLASSES_7,
            "All 7 emotions, lower-cased (Others = others).",
            face_crop=True,
            face_align=True,
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
CAS(ME)^3 is released by its owners after a signed licence agreement
(http://casme.psych.ac.cn/casme/e4). Only part A is read. Put into `manual_dir`, at any
depth up to 4 folders:
- the annotation sheet `cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`;
- the part A frames, as released: `spNO.1/b/color/175.jpg` (subject / video named as
  the sheet's `Filename` / `color` / `<frame number>.jpg`; a video folder holding the
  frames directly, without `color/`, is accepted too).
Faces are aligned by default (located in each clip's onset frame, eyes levelled, a
square crop, the same transform for every frame); `face_crop=False` keeps whole frames.
"""
