"""MEGC 2019 composite: CASME II + SAMM + SMIC-HS in 3 classes (manual download).

Each release is read by its own builder's reader, from ``manual_dir/casme2``,
``manual_dir/samm`` and ``manual_dir/smic`` when those folders exist (names matched
without case), else from anywhere inside ``manual_dir``. Subjects are prefixed with the
source (``casme2_sub01``, ``samm_006``, ``smic_s1``), so keys stay unique
(``casme2_sub01/EP02_01f``) and leave-one-subject-out runs over 68 subjects; the
``source`` feature names the release.

Class map (``ClassLabel`` order: positive, surprise, negative, as every 3-class config):

- positive = CASME II happiness, SAMM happiness, SMIC positive;
- surprise = surprise in each;
- negative = CASME II disgust, repression; SAMM anger, contempt, disgust, fear, sadness;
  SMIC negative;
- everything else (CASME II fear, sadness, others; SAMM other) is excluded by the map.

The official MEGC 2019 list has 145 CASME II clips (made from the 2014 sheet); the
2019-07-01 sheet gives 150 in these classes (the build report lists every clip). SAMM
(133) and SMIC (164) match the official counts. Only SAMM frames are face-cropped by
default (its raw release is not cropped); ``face_crop=False`` turns that off.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import me_common
from tfds_builders.casme2 import casme2_dataset_builder as casme2
from tfds_builders.samm import samm_dataset_builder as samm
from tfds_builders.smic import smic_dataset_builder as smic

CLASSES_3 = ("positive", "surprise", "negative")
MAP_3 = {"casme2:happiness": "positive", "casme2:surprise": "surprise"}
MAP_3 |= {"casme2:disgust": "negative", "casme2:repression": "negative"}
MAP_3 |= {f"samm:{emotion}": label for emotion, label in samm.MAP_3.items()}
MAP_3 |= {f"smic:{emotion}": label for emotion, label in smic.MAP_3.items()}


def _subfolder(manual_dir: epath.Path, name: str) -> epath.Path:
    for child in me_common.list_dirs(manual_dir):
        if child.name.lower() == name:
            return child
    return manual_dir


def _prefixed(source: me_common.Source, broken: list[dict]) -> list[dict]:
    """Prefix subjects with the source name (in place for clips; returns ``broken``)."""
    source.clips = [
        dataclasses.replace(c, subject=f"{source.name}_{c.subject}") for c in source.clips
    ]
    return [{**item, "id": f"{source.name}_{item['id']}"} for item in broken]


class Builder(me_common.ClipBuilder):
    """MEGC 2019 composite clips, one record per clip of the three releases."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = "https://facial-micro-expressiongc.github.io/MEGC2019/"
    EXPECTED_FILES = (
        "the three releases in folders casme2/, samm/ and smic/ (e.g. "
        f"casme2/{casme2.LAYOUT.sheet_names[0]}, samm/{samm.LAYOUT.sheet_names[0]}, "
        f"smic/{smic.EXAMPLE_FRAME})"
    )
    BUILDER_CONFIGS = [
        me_common.make_config(
            "3class",
            MAP_3,
            CLASSES_3,
            "MEGC 2019 composite, 3 classes: positive, surprise, negative. SAMM frames "
            "cropped to the onset frame's Haar face box.",
            face_crop=True,
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
The composite reads three releases, each obtained from its owners (see the casme2,
samm and smic builders). Lay out `manual_dir` as:
- `casme2/`: `CASME2-coding-20190701.xlsx` (or the 2014-05-08 or updated sheet) and
  `Cropped/sub01/EP02_01f/reg_img46.jpg`;
- `samm/`: `SAMM_Micro_FACS_Codes_v2.xlsx` and `006/006_1_2/006_05562.jpg`;
- `smic/`: `HS/s1/micro/negative/s1_ne_01/image000101.bmp`.
Without those three folders, each release is looked for anywhere inside `manual_dir`.
"""

    def _find_sources(self, manual_dir: epath.Path):
        sources, broken = [], []
        casme2_source, casme2_broken = me_common.load_sheet_source(
            casme2.LAYOUT, _subfolder(manual_dir, "casme2")
        )
        samm_source, samm_broken = me_common.load_sheet_source(
            samm.LAYOUT, _subfolder(manual_dir, "samm")
        )
        smic_source, smic_broken = smic.find_source(_subfolder(manual_dir, "smic"))
        # Only SAMM's raw release is uncropped.
        casme2_source.face_crop = False
        smic_source.face_crop = False
        for source, items in (
            (casme2_source, casme2_broken),
            (samm_source, samm_broken),
            (smic_source, smic_broken),
        ):
            broken += _prefixed(source, items)
            sources.append(source)
        return sources, broken
