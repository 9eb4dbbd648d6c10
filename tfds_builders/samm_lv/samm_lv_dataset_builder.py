"""SAMM Long Videos (spotting): 30 subjects, 147 videos at 200 fps, grey frames, 502
intervals on the V2 sheet (343 ``Macro``, 159 ``Micro - 1/2``) (manual download).

The sheet ``SAMM_LongVideos_V3_Release.xlsx`` (or V2, V1) starts with about ten title
and legend rows; the header is the first row whose first cell is ``Subject``:
``Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type, Action
Units, Notes``, read by name. ``Filename`` names the interval (``006_1_2``: subject
006, video 1, interval 2); its video is the first two parts (``006_1``), the folder
``SAMM_longvideos/006_1/`` with frames ``006_1_00001.jpg`` (the last number of a name
is its frame number).

The sheet has no emotion column. The micro intervals are the SAMM micro-movement clips
(same ``Filename``), so when ``SAMM_Micro_FACS_Codes_v2.xlsx`` (the SAMM release's
sheet) is in ``manual_dir`` too, each micro interval takes that sheet's ``Estimated
Emotion``, as MEAN_Spot-then-recognize's ``load_excel.py`` does (it merges the two
sheets on ``Filename``); macro intervals, and every interval without that sheet, have
no emotion: spotting only.
"""

from __future__ import annotations

import re

from etils import epath

from tfds_builders import me_common
from tfds_builders.samm import samm_dataset_builder as samm

TITLE = "SAMM Long Videos"
SHEET_NAMES = tuple(f"SAMM_LongVideos_V{v}_Release.xlsx" for v in (3, 2, 1))
EXAMPLE_FRAME = "SAMM_longvideos/006_1/006_1_00001.jpg"
COLUMNS = {
    "subject": ("subject",),
    "filename": ("filename",),
    "onset": ("onset", "onsetframe"),
    "apex": ("apex", "apexframe"),
    "offset": ("offset", "offsetframe"),
    "type": ("type",),
    "action_units": ("actionunits", "aus", "au"),
    "notes": ("notes",),
}
REQUIRED = ("subject", "filename", "onset", "apex", "offset", "type")
NO_VIDEO_IN_FILENAME = "filename does not name a video"
_VIDEO_FOLDER = re.compile(r"^\d+_\d+$")


def video_of(filename: str) -> str | None:
    """``'006_1_2'`` -> ``'006_1'`` (None when the name has fewer than two parts)."""
    parts = filename.split("_")
    return "_".join(parts[:2]) if len(parts) >= 2 and all(parts[:2]) else None


def micro_emotions(manual_dir: epath.Path) -> tuple[dict[str, str], epath.Path | None]:
    """``{Filename: Estimated Emotion}`` of the SAMM micro sheet when ``manual_dir`` holds
    it (else empty), and its path."""
    try:
        path = me_common.find_sheet(manual_dir, samm.LAYOUT.sheet_names, samm.LAYOUT.title)
    except me_common.SourceNotFoundError:
        return {}, None
    sheet = me_common.read_sheet(path, me_common.COMMON_COLUMNS, samm.LAYOUT.title)
    emotions = {}
    for _, row in sheet.rows:
        filename = me_common.cell_text(row.get("filename"))
        if filename:
            emotions[filename] = me_common.cell_text(row.get("emotion"))
    return emotions, path


class Builder(me_common.LongVideoBuilder):
    """SAMM Long Videos: every frame of each video, face-cropped, with its intervals."""

    HOMEPAGE = "https://helward.mmu.ac.uk/STAFF/M.Yap/dataset.php"
    SOURCE = "samm_lv"
    FPS = 200.0
    EXPECTED_FILES = (
        "the annotation sheet SAMM_LongVideos_V3_Release.xlsx (or V2, V1) and frames laid "
        "out as " + EXAMPLE_FRAME
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
SAMM Long Videos is released by its owners after a signed licence agreement
(https://helward.mmu.ac.uk/STAFF/M.Yap/dataset.php). Put into `manual_dir`, at any
depth up to 4 folders:
- the annotation sheet `SAMM_LongVideos_V3_Release.xlsx` (or `..._V2_...`, `..._V1_...`;
  the newest one found is used; the title rows above the header are fine);
- the frames, as released: `SAMM_longvideos/006_1/006_1_00001.jpg` (one folder per
  video, named as the first two parts of the sheet's `Filename`);
- optionally the SAMM micro sheet `SAMM_Micro_FACS_Codes_v2.xlsx`: micro intervals then
  take its estimated emotion (matched by `Filename`).
"""

    def _find_videos(self, manual_dir: epath.Path) -> me_common.VideoRelease:
        path = me_common.find_sheet(manual_dir, SHEET_NAMES, TITLE)
        sheet = me_common.read_sheet(path, COLUMNS, TITLE, required=REQUIRED)
        emotions, micro_sheet = micro_emotions(manual_dir)
        groups: dict[tuple[str, str], list[me_common.IntervalSource]] = {}
        broken, ignored = [], []
        for row_number, row in sheet.rows:
            where = f"{path} row {row_number}"
            filename = me_common.cell_text(row.get("filename"))
            subject_text = me_common.cell_text(row.get("subject"))
            video = video_of(filename)
            if video is None:
                if all(me_common.frame_number(row.get(f)) is None for f in ("onset", "offset")):
                    text = " ".join(me_common.cell_text(v) for v in row.values() if v is not None)
                    ignored.append(f"{where}: {text.strip()[:80]}")
                    continue
                broken.append(
                    {
                        "id": f"{subject_text or '?'}/{filename or '?'}",
                        "reason": NO_VIDEO_IN_FILENAME,
                        "detail": f"filename {filename!r}",
                        "file": where,
                    }
                )
                continue
            subject = samm.subject_id(subject_text or filename.split("_")[0])
            kind = me_common.expression_type(row.get("type"))
            emotion = emotions.get(filename, "") if kind == me_common.MICRO else ""
            groups.setdefault((subject, video), []).append(
                me_common.IntervalSource(
                    name=filename,
                    onset=row.get("onset"),
                    apex=row.get("apex"),
                    offset=row.get("offset"),
                    type=row.get("type"),
                    action_units=row.get("action_units"),
                    emotion=emotion,
                    notes=row.get("notes"),
                    where=where,
                )
            )
        index = me_common.FolderIndex()
        root = me_common.find_video_root(
            manual_dir, [video for _, video in groups], TITLE, ("SAMM_longvideos",),
            EXAMPLE_FRAME, index,
        )  # fmt: skip
        videos = []
        for (subject, video), intervals in groups.items():
            folder = index.resolve(root, [(video,)])
            videos.append(
                me_common.VideoSource(
                    subject=subject,
                    video_code=video,
                    video=folder.name if folder is not None else video,
                    folder=folder,
                    intervals=intervals,
                    where=intervals[0].where,
                    detail=f"no folder {video} in {root}",
                )
            )
        named = {video.lower() for _, video in groups}
        excluded = [
            {
                "id": f"{samm.subject_id(d.name.split('_')[0])}/{d.name}",
                "detail": "no interval of the sheet names this video",
                "file": str(d),
            }
            for d in me_common.list_dirs(root)
            if _VIDEO_FOLDER.match(d.name) and d.name.lower() not in named
        ]
        extra = {
            "header_row": sheet.header_row,
            "emotions": (f"{micro_sheet} (micro intervals, by Filename)" if micro_sheet else None),
        }
        release = me_common.VideoRelease(
            name=self.SOURCE,
            sheet=path,
            frame_root=root,
            rows=len(sheet.rows) - len(ignored),
            videos=videos,
            broken=broken,
            excluded=excluded,
            ignored_rows=ignored,
            extra=extra,
        )
        if micro_sheet is not None:
            _note_missing_emotions(release, emotions)
        return release


def _note_missing_emotions(release: me_common.VideoRelease, emotions: dict[str, str]) -> None:
    """Counts the micro intervals that the micro sheet has no emotion for."""
    missing = [
        f"{video.key} {src.name}"
        for video in release.videos
        for src in video.intervals
        if me_common.expression_type(src.type) == me_common.MICRO and src.name not in emotions
    ]
    release.extra["micro_without_emotion"] = missing
