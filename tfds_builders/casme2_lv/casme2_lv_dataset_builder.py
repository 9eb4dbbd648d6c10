"""CAS(ME)^2 long videos (spotting): 22 subjects, 95 annotated videos at 30 fps, 357
intervals (300 macro, 57 micro) on the public copies of the sheet (manual download).

The sheet ``CAS(ME)^2code_final.xlsx`` has three worksheets:

- ``CASMEcode_final`` (``CASFEcode_final`` in some copies), one interval a row and no
  header row in the public copies (a header row, where a copy has one, is skipped):
  participant number, the interval's name (``anger1_1``: video name ``anger1``,
  expression 1), onset, apex, offset, action units, emotion, type
  (``micro-expression``, ``macro-expression``), self-reported emotion;
- ``naming rule1``: one row per subject: folder number, folder name (``s15``),
  participant number (the code sheet's first column);
- ``naming rule2``: one row per video: its code (``0401``), its name (``anger1``).

So ``1, anger1_1`` is subject folder ``s15`` and video ``0401``, the frames
``rawpic/s15/15_0401girlcrashing/img001.jpg`` ... (the public spotting code,
SoftNet-SpotME's and MEAN_Spot-then-recognize's ``load_label.py``, maps them the same
way). Which naming worksheet holds which table is read from their content, so copies
with the two swapped also work.
"""

from __future__ import annotations

import re

from etils import epath

from tfds_builders import me_common

TITLE = "CAS(ME)^2"
SHEET_NAMES = (
    "CAS(ME)^2code_final.xlsx",
    "CAS(ME)^2code_final(Updated).xlsx",
    "code_final.xlsx",
)
CODE_SHEETS = ("casmecodefinal", "casfecodefinal")
EXAMPLE_FRAME = "rawpic/s15/15_0401girlcrashing/img001.jpg"
SUBJECT_UNKNOWN = "subject not in the naming sheet"
VIDEO_UNKNOWN = "video name not in the naming sheet"
# Video folders: <folder number>_<4-digit video code><words>.
_VIDEO_FOLDER = re.compile(r"^\d+_(\d{4})")
_SUBJECT_NAME = re.compile(r"^[sS]?\d+$")
_VIDEO_NAME = re.compile(r"^[A-Za-z]+\d*$")


def _row(values, width: int) -> list:
    row = list(values)[:width]
    return row + [None] * (width - len(row))


def _naming_tables(book: dict, code_sheet: str, path) -> tuple[dict[int, str], dict[str, str]]:
    """``({participant number: subject folder name}, {video name: 4-digit code})`` from
    the naming worksheets, told apart by their content.

    Raises:
      SheetFormatError: naming the table that no worksheet holds.
    """
    subjects: dict[int, str] = {}
    videos: dict[str, str] = {}
    for name, values in book.items():
        if name == code_sheet:
            continue
        found_subjects, found_videos = {}, {}
        for raw in values:
            a, b, c = _row(raw, 3)
            folder, participant = me_common.cell_text(b), me_common.frame_number(c)
            if _SUBJECT_NAME.match(folder) and participant is not None:
                if folder.isdigit():
                    folder = f"s{int(folder)}"
                found_subjects[participant] = folder
            code, video = me_common.frame_number(a), me_common.cell_text(b)
            if (
                code is not None
                and 0 < code < 10000
                and _VIDEO_NAME.match(video)
                and not _SUBJECT_NAME.match(video)
            ):
                found_videos[video.lower()] = f"{code:04d}"
        if len(found_subjects) >= len(found_videos):
            subjects.update(found_subjects)
        else:
            videos.update(found_videos)
    for table, what in ((subjects, "naming rule1 (subjects)"), (videos, "naming rule2 (videos)")):
        if not table:
            raise me_common.SheetFormatError(
                f"{TITLE}: {path}: no worksheet holds the {what} table; expected the "
                f"worksheets {', '.join(CODE_SHEETS)}, naming rule1 and naming rule2"
            )
    return subjects, videos


class Builder(me_common.LongVideoBuilder):
    """CAS(ME)^2 long videos: every frame of each video, face-cropped, with its intervals."""

    HOMEPAGE = "http://casme.psych.ac.cn/casme/e3"
    SOURCE = "casme2_lv"
    FPS = 30.0
    EXPECTED_FILES = (
        "the annotation sheet CAS(ME)^2code_final.xlsx and frames laid out as " + EXAMPLE_FRAME
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
CAS(ME)^2 is released by its owners after a signed licence agreement
(http://casme.psych.ac.cn/casme/e3). Put into `manual_dir`, at any depth up to 4
folders:
- the annotation sheet `CAS(ME)^2code_final.xlsx` (also accepted:
  `CAS(ME)^2code_final(Updated).xlsx`, `code_final.xlsx`) with its worksheets
  `CASMEcode_final`, `naming rule1` and `naming rule2`;
- the raw frames, as released: `rawpic/s15/15_0401girlcrashing/img001.jpg` (subject
  folder / `<number>_<video code><words>` / `img<frame number>.jpg`). The release's
  `cropped/` and `selectedpic/` folders are not read (when several folders hold the
  subjects, `rawpic` is used).
"""

    def _find_videos(self, manual_dir: epath.Path) -> me_common.VideoRelease:
        path = me_common.find_sheet(manual_dir, SHEET_NAMES, TITLE)
        book = me_common.read_workbook(path, TITLE)
        names = {me_common.normalize_column(n): n for n in book}
        code_sheet = next((names[n] for n in CODE_SHEETS if n in names), next(iter(book)))
        subjects, video_codes = _naming_tables(book, code_sheet, path)

        groups: dict[tuple[str, str], list[me_common.IntervalSource]] = {}
        broken, ignored = [], []
        rows = 0
        for i, raw in enumerate(book[code_sheet]):
            cells = _row(raw, 9)
            where = f"{path} worksheet {code_sheet!r} row {i + 1}"
            if all(me_common.is_blank(v) for v in cells):
                continue
            participant = me_common.frame_number(cells[0])
            name = me_common.cell_text(cells[1])
            if participant is None and not any(
                me_common.frame_number(v) is not None for v in cells[2:5]
            ):
                # A header or notes row (the public copies have no header row).
                text = " ".join(me_common.cell_text(v) for v in cells if not me_common.is_blank(v))
                ignored.append(f"{where}: {text[:80]}")
                continue
            rows += 1
            item_id = f"{me_common.cell_text(cells[0]) or '?'}/{name or '?'}"
            subject = subjects.get(participant) if participant is not None else None
            code = video_codes.get(name.split("_")[0].lower()) if name else None
            if subject is None or code is None:
                if subject is None:
                    reason = SUBJECT_UNKNOWN
                    detail = f"participant {me_common.cell_text(cells[0])!r} is not in naming rule1"
                else:
                    reason = VIDEO_UNKNOWN
                    detail = f"video name {name.split('_')[0]!r} is not in naming rule2"
                broken.append({"id": item_id, "reason": reason, "detail": detail, "file": where})
                continue
            groups.setdefault((subject, code), []).append(
                me_common.IntervalSource(
                    name=name,
                    onset=cells[2],
                    apex=cells[3],
                    offset=cells[4],
                    action_units=cells[5],
                    emotion=cells[6],
                    type=cells[7],
                    self_report=cells[8],
                    where=where,
                )
            )
        index = me_common.FolderIndex()
        subjects_named = [subject for subject, _ in groups]
        root = me_common.find_video_root(
            manual_dir, subjects_named, TITLE, ("rawpic",), EXAMPLE_FRAME, index
        )
        videos = []
        for (subject, code), intervals in groups.items():
            folder, detail = _video_folder(index, root, subject, code)
            videos.append(
                me_common.VideoSource(
                    subject=subject,
                    video_code=code,
                    video=folder.name if folder is not None else "",
                    folder=folder,
                    intervals=intervals,
                    where=intervals[0].where,
                    detail=detail,
                )
            )
        named = set(groups)
        excluded = []
        for subject_dir in me_common.list_dirs(root):
            for video_dir in me_common.list_dirs(subject_dir):
                match = _VIDEO_FOLDER.match(video_dir.name)
                if match and not _named(named, subject_dir.name, match.group(1)):
                    excluded.append(
                        {
                            "id": f"{subject_dir.name}/{match.group(1)}",
                            "detail": "no interval of the sheet names this video",
                            "file": str(video_dir),
                        }
                    )
        return me_common.VideoRelease(
            name=self.SOURCE,
            sheet=path,
            frame_root=root,
            rows=rows,
            videos=videos,
            excluded=excluded,
            broken=broken,
            ignored_rows=ignored,
            extra={
                "code_sheet": code_sheet,
                "subjects": len(subjects),
                "video_names": len(video_codes),
            },
        )


def _named(named: set[tuple[str, str]], subject: str, code: str) -> bool:
    return any(s.lower() == subject.lower() and c == code for s, c in named)


def _video_folder(index, root, subject: str, code: str):
    """The folder ``<root>/<subject>/<n>_<code>...`` (case-tolerant subject), or None
    and what was looked for."""
    subject_dir = index.resolve(root, [(subject,)])
    if subject_dir is None:
        return None, f"no subject folder {subject} in {root}"
    matches = [
        d for d in me_common.list_dirs(subject_dir)
        if (m := _VIDEO_FOLDER.match(d.name)) and m.group(1) == code
    ]  # fmt: skip
    if not matches:
        return None, f"no folder <number>_{code}... in {subject_dir}"
    return matches[0], ""
