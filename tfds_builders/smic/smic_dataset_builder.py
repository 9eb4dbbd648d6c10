"""SMIC-HS: 16 subjects, 164 micro clips at 100 fps (manual download).

The release has no sheet: labels come from the folders
(``HS/s1/micro/negative/s1_ne_01/``), onset and offset are the first and last frames of
the clip folder, and there is NO apex annotation: the apex is the middle frame of
onset..offset, stored with ``apex_estimated=True`` and counted in the report as
estimated (reason "no apex annotation: middle frame used"; not a data fault, so strict
mode accepts it). ``apex_method="detrended"`` (or ``"onset"``) spots the apex instead,
with :func:`mmnet_jax.vision.spot.spot_apex` on the frames of [onset, offset] (on the face of
the onset frame when one is found); the record's ``apex_method`` says which, and the
report's reason becomes "no apex annotation: apex spotted". The middle frame stays the
default: it is what published SMIC and MEGC 2019 results used, and the spotter's error
is measured on synthetic clips only (SMIC has no apex to check it against). Frame files
are any sorted images whose names end in the frame number (``image0xxxxx.bmp``,
``reg_image0xxxxx.bmp``, ``.jpg``, ``.png``).

Class map: ``3class``: positive, surprise, negative (the folder names).
"""

from __future__ import annotations

import os
import re

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import me_common

SOURCE = "smic"
TITLE = "SMIC-HS"
EXAMPLE_FRAME = "HS/s1/micro/negative/s1_ne_01/image000101.bmp"
_SUBJECT = re.compile(r"^s(\d+)$", re.I)


def _subjects(folder: epath.Path) -> list[epath.Path]:
    """Subject folders (``s1``..``s20``) of ``folder`` that hold a ``micro`` folder."""
    found = []
    for child in me_common.list_dirs(folder):
        match = _SUBJECT.match(child.name)
        if match and any(c.name.lower() == "micro" for c in me_common.list_dirs(child)):
            found.append((int(match.group(1)), child))
    return [child for _, child in sorted(found, key=lambda t: (t[0], t[1].name))]


def find_root(manual_dir: epath.PathLike, max_depth: int = 4) -> epath.Path:
    """The ``HS`` folder: the shallowest folder holding ``s<N>/micro/`` subject folders,
    a folder named ``HS`` first (SMIC also ships ``VIS`` and ``NIR`` in the same layout).

    Raises:
      me_common.SourceNotFoundError: naming the layout expected and where.
    """
    manual_dir = epath.Path(manual_dir)
    root = me_common.shallowest(manual_dir, lambda f: bool(_subjects(f)), "HS", max_depth)
    if root is None:
        raise me_common.SourceNotFoundError(
            f"{TITLE}: no frame folder found in {manual_dir} (searched {max_depth} folder "
            f"levels deep): expected frames laid out as e.g. {manual_dir / EXAMPLE_FRAME}. "
            "See the builder's MANUAL_DOWNLOAD_INSTRUCTIONS."
        )
    return root


def find_source(manual_dir: epath.PathLike) -> tuple[me_common.Source, list[dict]]:
    """The SMIC-HS clips under ``manual_dir``, plus clip folders without frames."""
    root = find_root(manual_dir)
    index = me_common.FolderIndex()
    clips, broken = [], []
    for subject_dir in _subjects(root):
        micro = index.child(subject_dir, "micro")[0]
        for emotion_dir in me_common.list_dirs(micro):
            for clip_dir in me_common.list_dirs(emotion_dir):
                frames = index.frames(clip_dir)
                key = f"{subject_dir.name}/{clip_dir.name}"
                if not frames:
                    broken.append(
                        {
                            "id": key,
                            "reason": me_common.MISSING_FRAMES,
                            "detail": f"no image files in {clip_dir}",
                            "file": os.fspath(clip_dir),
                        }
                    )
                    continue
                clips.append(
                    me_common.ClipSource(
                        source=SOURCE,
                        subject=subject_dir.name,
                        clip=clip_dir.name,
                        emotion=emotion_dir.name,
                        action_units="",
                        onset=min(frames),
                        apex=None,
                        offset=max(frames),
                        where=os.fspath(clip_dir),
                        dir_candidates=(
                            (subject_dir.name, micro.name, emotion_dir.name, clip_dir.name),
                        ),
                        apex_annotated=False,
                    )
                )
    source = me_common.Source(
        name=SOURCE, title=TITLE, clips=clips, frame_root=root, rows=len(clips) + len(broken)
    )
    return source, broken


CLASSES_3 = ("positive", "surprise", "negative")
MAP_3 = {name: name for name in CLASSES_3}


class Builder(me_common.ClipBuilder):
    """SMIC-HS micro clips; the apex is the middle frame (the release has none)."""

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Frames and apexes unchanged by default; apex_method (middle, detrended, "
        "onset) selects apex spotting; "
        "records gain face_alignment (JSON: the one "
        "face transform of the clip) and apex_method (how the apex was chosen).",
        "2.0.0": me_common.AFTER_APEX_RELEASE_NOTE,
    }
    HOMEPAGE = "https://www.oulu.fi/cmvs/node/41319"
    EXPECTED_FILES = f"the HS frames laid out as {EXAMPLE_FRAME}; no sheet"
    BUILDER_CONFIGS = [
        me_common.make_config(
            "3class",
            MAP_3,
            CLASSES_3,
            "The release's 3 classes: positive, surprise, negative. Apex = middle frame "
            "(apex_method='detrended' spots it).",
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
SMIC is released by its owners after a signed licence agreement (University of Oulu,
Center for Machine Vision and Signal Analysis). Only the high-speed part (HS) is read.
Put into `manual_dir`, at any depth up to 4 folders, the HS frames as released:
`HS/s1/micro/negative/s1_ne_01/image000101.bmp` (subject `s<N>` / `micro` / emotion
`positive`, `negative` or `surprise` / clip / frames whose names end in the frame
number; `.bmp`, `.jpg` or `.png`). There is no sheet: onset and offset are the first and
last frames of each clip folder, and the apex is the middle frame (flagged as estimated),
or spotted with `apex_method='detrended'`.
"""

    def _find_sources(self, manual_dir):
        source, broken = find_source(manual_dir)
        return [source], broken
