"""Writes every builder's ``dummy_data/``: fake releases in the real layouts.

The sheets copy the real ones' file names, column names and quirks (CASME II's ``/``
apex, unnamed empty columns and lettered AUs; SAMM's notes rows above the header and
capitalised emotions; MMEW's missing apex and offset; CAS(ME)^3's ``Others``/``others``,
onset == apex and several clips per video), plus faults a builder must survive (missing
frames, a missing clip folder, a non-numeric onset, an apex outside [onset, offset]).
Frames are tiny synthetic patterns (a gradient and a moving square), never faces; the
flow images are smooth synthetic flows in the STSTNet release's layout and convention.

The long-video releases (``casme2_lv``, ``samm_lv``) copy CAS(ME)^2's three worksheets
(a code sheet without a header row, the two naming rules) and SAMM Long Videos' title
rows above the header, with every quirk of the real sheets (offset 0, apex -1, an
offset before the apex, ``14or23``, ``(R6 or R12)+R15``, ``12B ?``, ``ref(11)``,
``NULL``, trailing spaces, ``happyiness``, ``Micro - 1/2``); their frames show the
synthetic faces of :mod:`tfds_builders.synthetic_me.generator` (found by both face
backends), drifting by a pixel or two, with the expression of each interval.

    python -m tfds_builders.make_dummy_data   # rewrites tfds_builders/*/dummy_data
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import shutil

import cv2
import numpy as np
import openpyxl

from mmnet_jax.vision import flow
from tfds_builders.synthetic_me import generator

HERE = pathlib.Path(__file__).parent

# (subject cell, filename, onset, apex, offset, action units, emotion, frames on disk)
# frames on disk: None = onset..offset, a range, or "none" for no clip folder at all.
CASME2_ROWS = [
    ("01", "EP02_01f", 10, 40, 44, "12", "happiness", None),
    ("01", "EP03_02", 5, 8, 10, "4+7+L10", "others", None),
    ("02", "EP01_11f", 3, 5, 7, "R12", "repression", None),
    (4, "EP12_01f", 20, "/", 26, "4", "disgust", None),
    ("05", "EP09_05f", 6, 6, 12, "1+2", "surprise", None),
    ("05", "EP04_05", 2, 15, 8, "1+2", "surprise", None),
    ("09", "EP13_02", 4, 6, 9, "4", "fear", None),
    ("17", "EP15_01", 4, 7, 9, "14", "sadness", None),
    ("16", "EP01_08", 3, 6, 9, "14", "repression", range(3, 6)),
    ("11", "EP08_01f", "n/a", 5, 9, "4", "disgust", range(1, 10)),
    ("12", "EP02_05", 3, 5, 7, "1+2", "surprise", "none"),
    ("13", "EP03_01", 2, 4, 6, "12", "happiness", None),
]
# Subject folders as users have them: mostly sub01, one renamed to a bare number.
CASME2_FOLDERS = {"13": "13"}

SAMM_NOTES = [
    ["SAMM Micro-Movement Dataset: FACS codes"],
    [None],
    ["Please cite the SAMM paper when using this dataset."],
    [None],
    ["Key:"],
    ["L = left, R = right"],
    ["A-E = intensity"],
    [None],
    [None],
    ["Inducement codes: see the paper"],
    [None],
    [None],
    [None],
]
SAMM_HEADER = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Micro",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
]
SAMM_ROWS = [
    ("006", "006_1_2", 5562, 5566, 5569, "R12", "Happiness"),
    (6, "006_1_5", 1000, 1003, 1006, "4+7", "Anger"),
    ("007", "007_3_1", 300, 302, 305, "R14", "Contempt"),
    ("007", "007_5_2", 2000, 3000, 2006, "1+2", "Surprise"),
    ("009", "009_2_1", 50, 53, 56, "12+25", "Other"),
    ("009", "009_3_4", 70, 72, 75, "20", "Fear"),
    ("011", "011_2_3", 10, 12, 15, "9", "Disgust"),
]

MMEW_ROWS = [
    ("S01", "S01-01-001", 3, 6, 9, "AU12", "happiness", None),
    ("S01", "S01-05-002", 2, 4, 7, "AU1+AU2", "surprise", None),
    ("S02", "S02-03-001", 1, 3, 6, "AU4", "disgust", None),
    ("S02", "S02-07-001", 2, None, None, "AU4", "others", range(2, 9)),
    ("S03", "S03-04-001", 1, 3, 5, "AU4", "fear", None),
]

CASME3_ROWS = [
    ("spNO.1", "a", 10, 13, 15, "5", "II", "others"),
    ("spNO.1", "e", 3, 5, 8, "12", "I", "happy"),
    ("spNO.1", "e", 8, 10, 12, "12", "I", "Others"),
    ("spNO.2", "b", 4, 4, 9, "4", "III", "disgust"),
    ("spNO.2", "d", 2, 5, 7, "2+1", "II", "surprise"),
    ("spNO.2", "d", 9, 11, 13, "14", "VII", "fear"),
    ("spNO.3", "f", 2, 4, 6, "4", "III", "anger"),
    ("spNO.3", "g", 2, 3, 5, "15", "V", "sad"),
]

# (subject, emotion, clip, first frame, last frame); last < first: an empty clip folder.
SMIC_CLIPS = [
    ("s1", "negative", "s1_ne_01", 101, 107),
    ("s1", "positive", "s1_po_01", 20, 25),
    ("s2", "surprise", "s2_sur_01", 3, 8),
    ("s2", "negative", "s2_ne_02", 1, 0),
]


# The STSTNet release's flow images: (subject, clip, class folder, fault); each good
# clip is also copied into the other subjects' u_train folders, as in the release.
FLOW_IMAGE_CLIPS = [
    ("006", "006_1_2", "0", None),
    ("006", "006_5_9", "2", None),
    ("006", "006_3_4", "0", "unreadable"),
    ("s01", "s01_po_01", "1", None),
    ("s01", "s01_ne_01", "0", None),
    ("s01", "s01_sur_01", "2", "grayscale"),
    ("sub01", "EP19_05f", "0", None),
    ("sub01", "EP02_01f", "1", None),
    ("sub01", "EP01_12", "1", "32x32"),
]


def flow_image_features(index: int, size: int = 28) -> np.ndarray:
    """A smooth synthetic flow (size, size, 3) channels (u, v, strain), one per clip:
    u grows to the right, v is a vertical wave, the strain is theirs (never faces)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    c = (size - 1) / 2
    u = 0.02 * (index + 1) * (x - c) + 0.1 * np.sin(y / 4)
    v = 0.3 * np.sin((y + index) / 3) + 0.01 * (x - c)
    return np.stack([u, v, flow.strain(u, v)], axis=-1).astype(np.float32)


def frame(number: int, size=(20, 24), gray: bool = False) -> np.ndarray:
    """A synthetic frame: a gradient and a bright square that moves with ``number``."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    image = (40 + 3 * x + 2 * y).astype(np.float32)
    x0 = 2 + (number * 3) % (w - 8)
    image[6:12, x0 : x0 + 6] = 230
    image = np.clip(image, 0, 255).astype(np.uint8)
    if gray:
        return image
    return np.stack([image, np.roll(image, 1, axis=1), 255 - image], axis=-1)


def write_image(path: pathlib.Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if path.suffix == ".jpg" else []
    ok, data = cv2.imencode(path.suffix, image, params)
    assert ok, path
    path.write_bytes(data.tobytes())


def write_xlsx(path: pathlib.Path, rows: list[list], title: str = "Sheet1") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    book.save(path)


def _frames_of(onset, offset, on_disk):
    if on_disk is None:
        return range(int(onset), int(offset) + 1)
    return on_disk


def casme2(root: pathlib.Path) -> None:
    header = [
        "Subject",
        "Filename",
        None,
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        None,
        "Action Units",
        "Estimated Emotion",
        "Objective Classes",
    ]
    rows = [header]
    for subject, filename, onset, apex, offset, aus, emotion, on_disk in CASME2_ROWS:
        rows.append([subject, filename, None, onset, apex, offset, None, aus, emotion, 7])
        if on_disk == "none":
            continue
        number = int(subject)
        folder = CASME2_FOLDERS.get(f"{number:02d}", f"sub{number:02d}")
        for n in _frames_of(onset, offset, on_disk):
            write_image(root / "Cropped" / folder / filename / f"reg_img{n}.jpg", frame(n))
    write_xlsx(root / "CASME2-coding-20190701.xlsx", rows)


def samm(root: pathlib.Path) -> None:
    rows = [*SAMM_NOTES, SAMM_HEADER]
    for subject, filename, onset, apex, offset, aus, emotion in SAMM_ROWS:
        duration = offset - onset + 1
        rows.append(
            [subject, filename, 1, onset, apex, offset, duration, "Micro", aus, emotion, "", ""]
        )
        for n in range(onset, offset + 1):
            path = root / f"{int(subject):03d}" / filename / f"{int(subject):03d}_{n:05d}.jpg"
            write_image(path, frame(n, size=(24, 32), gray=True))
    rows.append([None])
    rows.append(["* Notes rows may follow the data as well."])
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", rows, title="FACS codes")


def mmew(root: pathlib.Path) -> None:
    header = [
        "Subject",
        "Filename",
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        "Action Units",
        "Estimated Emotion",
        "remarks",
    ]
    rows = [header]
    for subject, filename, onset, apex, offset, aus, emotion, on_disk in MMEW_ROWS:
        rows.append([subject, filename, onset, apex, offset, aus, emotion, None])
        for n in _frames_of(onset, offset, on_disk):
            write_image(root / "Micro_Expression" / emotion / filename / f"{n}.jpg", frame(n))
    write_xlsx(root / "MMEW_Micro_Exp.xlsx", rows)


def casme3(root: pathlib.Path) -> None:
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    rows = [header]
    for subject, video, onset, apex, offset, aus, objective, emotion in CASME3_ROWS:
        rows.append([subject, video, onset, apex, offset, aus, objective, emotion])
        for n in range(onset, offset + 1):
            write_image(root / "part_A" / subject / video / "color" / f"{n}.jpg", frame(n))
    # The release also has depth frames beside the colour ones.
    write_image(root / "part_A" / "spNO.1" / "a" / "depth" / "10.png", frame(10, gray=True))
    write_xlsx(root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", rows)


def smic(root: pathlib.Path) -> None:
    for subject, emotion, clip, first, last in SMIC_CLIPS:
        folder = root / "HS" / subject / "micro" / emotion / clip
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(first, last + 1):
            write_image(folder / f"image{n:06d}.bmp", frame(n, size=(16, 20)))
        if last < first:  # an empty clip folder (git keeps no empty folders)
            (folder / "Thumbs.db").write_bytes(b"\0")
    # Non-micro clips sit beside the micro ones and are not read.
    write_image(root / "HS" / "s1" / "non_micro" / "s1_n1" / "image000001.bmp", frame(1))


def flow_images(root: pathlib.Path) -> None:
    """``norm_u_v_os/<subject>/u_test|u_train/<class>/<subject>_<clip> .png`` (a space
    before the suffix, as released): field images (red u, green v, blue strain)."""
    release = root / "norm_u_v_os"
    for index, (subject, clip, code, fault) in enumerate(FLOW_IMAGE_CLIPS):
        name = f"{subject}_{clip} .png"
        image = flow.to_field_image(flow_image_features(index))
        test = release / subject / "u_test" / code / name
        if fault == "unreadable":
            test.parent.mkdir(parents=True, exist_ok=True)
            test.write_bytes(b"not a PNG")
            continue
        if fault == "grayscale":
            image = image[..., 0]
        elif fault == "32x32":
            image = cv2.resize(image, (32, 32), interpolation=cv2.INTER_NEAREST)
        write_image(test, image)
        if fault is None:
            for other in sorted({s for s, *_ in FLOW_IMAGE_CLIPS} - {subject}):
                write_image(release / other / "u_train" / code / name, image)
    # Not an image: ignored.
    (release / "s01" / "u_test" / "1" / "Thumbs.db").write_bytes(b"\0")


# Long videos. Faces: (seed, subject index) of synthetic identities that both face
# backends (dlib, Haar) find at 48 px in a 64 x 56 frame, wherever the drift puts them.
LV_FACES = {"a": (0, 2), "b": (0, 3), "c": (2, 1), "d": (2, 2)}
LV_FRAME = (56, 64)  # height, width
LV_FACE_PX = 48


def face_video(face: str, numbers, intervals, gray: bool = False) -> dict[int, np.ndarray]:
    """Frames ``numbers`` of a synthetic face that drifts up to 2 px sideways and shows
    each ``(onset, apex, offset)`` interval's expression (raised-cosine intensity)."""
    seed, index = LV_FACES[face]
    identity, clips = generator.plan_dataset(seed, index + 1, 1)[index]
    spec = dataclasses.replace(clips[0], pose_delta=(0.0,) * 4, light_delta=(0.0,) * 3)
    spans = [dataclasses.replace(spec, onset=a, apex=b, offset=c) for a, b, c in intervals]
    h, w = LV_FRAME
    background = np.clip(identity.background * 255, 0, 255).astype(np.uint8)
    out = {}
    for n in numbers:
        k = max([s.intensity(n) for s in spans] or [0.0])
        face_image = generator.render_frame(identity, spec, n, LV_FACE_PX, intensity=k)
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = background
        dx = int(round(2 * math.sin(2 * math.pi * n / 40)))
        y0, x0 = (h - LV_FACE_PX) // 2, (w - LV_FACE_PX) // 2 + dx
        canvas[y0 : y0 + LV_FACE_PX, x0 : x0 + LV_FACE_PX] = face_image
        out[n] = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY) if gray else canvas[..., ::-1]
    return out


# CAS(ME)^2: naming rule1 (folder number, folder, participant), naming rule2 (code, name:
# text as the public copies write codes, and one number).
CASME2_LV_SUBJECTS = [(15, "s15", 1), (16, "s16", 2), (19, "s19", 3)]
CASME2_LV_VIDEOS = [("0101", "disgust1"), ("0102", "disgust2"), (401, "anger1"), ("0502", "happy2")]
# Code sheet rows (no header): participant, name, onset, apex, offset, AUs, emotion, type,
# self-reported emotion.
CASME2_LV_ROWS = [
    (1, "disgust1_1", 5, 10, 18, "4+9", "negative", "macro-expression", "disgust"),
    (1, "disgust1_2", 22, 26, 0, "NULL", "negative", "micro-expression", "disgust"),
    (1, "disgust1_3", 30, 36, 33, "4,24,6+12+15", "negative", "macro-expression", "disgust"),
    (1, "anger1_1", 3, 8, 12, "14or23", "negative", "micro-expression", "anger"),
    (1, "anger1_2", 15, 20, 28, "null", "positive", "macro-expression", "happyiness"),
    (2, "disgust2_1", "n/a", 6, 9, "4", "negative", "micro-expression", "disgust"),
    (2, "disgust2_2", 10, 14, 33, "10or11", "others", "Macro-Expression", "others"),
    (2, "disgust2_3", 20, 22, 25, "4", "negative", "blink", "disgust"),
    (2, "happy2_1", 4, 8, 12, "12", "positive", "macro-expression", "happiness"),
    (3, "anger1_1", 5, 9, 14, "4", "negative", "micro-expression", "anger"),
    (4, "disgust1_1", 2, 5, 8, "1", "surprise", "macro-expression", "surprise"),
    (1, "fear1_1", 2, 5, 8, "1", "negative", "micro-expression", "fear"),
]
# Video folders: (subject, folder, frames, face or None for frames without a face).
CASME2_LV_FOLDERS = [
    ("s15", "15_0101disgustingteeth", range(1, 41), "a"),
    ("s15", "15_0401girlcrashing", range(1, 33), "a"),
    ("s16", "16_0102eatingworms", range(1, 31), "b"),
    ("s19", "19_0401girlcrashing", range(1, 21), None),
    ("s19", "19_0101disgustingteeth", range(1, 6), None),  # no interval names it
]


def casme2_lv(root: pathlib.Path) -> None:
    codes = {name: f"{int(code):04d}" for code, name in CASME2_LV_VIDEOS}
    for subject, folder, numbers, face in CASME2_LV_FOLDERS:
        code = folder.split("_")[1][:4]
        participant = next(p for _, s, p in CASME2_LV_SUBJECTS if s == subject)
        spans = [
            (r[2], r[3], r[4] or r[3])
            for r in CASME2_LV_ROWS
            if r[0] == participant and codes.get(r[1].split("_")[0]) == code and r[2] != "n/a"
        ]
        if face is None:
            images = {n: frame(n, size=LV_FRAME) for n in numbers}
        else:
            images = face_video(face, numbers, spans)
        for n, image in images.items():
            name = f"img{n:03d}.jpg" if n < 100 else f"img{n}.jpg"
            write_image(root / "rawpic" / subject / folder / name, image)
    # The release's cropped/ folder holds the same subjects: the builder reads rawpic/.
    write_image(root / "cropped" / "s15" / "15_0101disgustingteeth" / "img001.jpg", frame(1))
    path = root / "CAS(ME)^2code_final.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "CASMEcode_final"
    for row in CASME2_LV_ROWS:
        sheet.append(list(row))
    rule1 = book.create_sheet("naming rule1")
    for row in CASME2_LV_SUBJECTS:
        rule1.append(list(row))
    rule2 = book.create_sheet("naming rule2")
    for row in CASME2_LV_VIDEOS:
        rule2.append(list(row))
    book.save(path)


SAMM_LV_TITLE = [
    ["SAMM Long Videos: micro- and macro-movements in long videos"],
    ["Please cite the SAMM Long Videos paper when using this dataset."],
    [None],
    ["Key:"],
    ["Onset, Apex, Offset: frame numbers; -1 = not annotated"],
    ["L = left, R = right, A-E = intensity"],
    [None],
    ["Type: Macro, or Micro - 1/2 (under half a second)"],
    [None],
    [None],
]
SAMM_LV_HEADER = [
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset",
    "Apex",
    "Offset",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
]
# Subject, Filename, Inducement Code, Onset, Apex, Offset, Type, Action Units, Notes.
SAMM_LV_ROWS = [
    (6, "006_1_1", 1, 5, 9, 14, "Micro - 1/2", "(R6 or R12)+R15", "Blinks"),
    ("006", "006_1_2", 1, 18, -1, 30, "Macro", "12B ?", None),
    ("006", "006_1_3", 2, 33, 36, None, "Macro", "ref(11)", None),
    ("006", "006_1_4", 2, 20, 24, 22, "Micro", "NULL", None),
    ("006", "006_2_1", 2, 3, 6, 9, "Micro - 1/2", "4  ", "Eye movement"),
    ("006", "006_2_2", 2, "x", 12, 15, "Micro - 1/2", "7", None),
    ("006", "006_2_3", 2, 40, 45, 50, "Macro", "4", None),
    ("006", "006_2_4", 2, 20, 22, 25, "Blink", "45", None),
    ("007", "007_3_1", 1, 4, 8, 12, "Macro", "1+2", None),
    ("011", "011_2_1", 3, 5, 7, 9, "Micro - 1/2", "9", None),
]
# The SAMM micro sheet's emotions of some micro intervals (matched by Filename).
SAMM_LV_MICRO_EMOTIONS = {"006_1_1": "Happiness", "006_2_1": "Anger"}
# Video folders: (folder, frames, face or None, frame numbers written as broken files).
SAMM_LV_FOLDERS = [
    ("006_1", range(1, 41), "c", ()),
    ("006_2", range(1, 31), "d", ()),
    ("007_3", range(1, 13), "c", (6,)),
    ("008_1", range(1, 4), "c", ()),  # no interval names it
]


def samm_lv(root: pathlib.Path) -> None:
    rows = [*SAMM_LV_TITLE, SAMM_LV_HEADER]
    for subject, filename, code, onset, apex, offset, kind, aus, notes in SAMM_LV_ROWS:
        duration = offset - onset + 1 if isinstance(onset, int) and offset else None
        rows.append([subject, filename, code, onset, apex, offset, duration, kind, aus, notes])
    rows.append([None])
    rows.append(["* Notes rows may follow the data as well."])
    write_xlsx(root / "SAMM_LongVideos_V2_Release.xlsx", rows, title="SAMM Long Videos")
    for folder, numbers, face, broken in SAMM_LV_FOLDERS:
        spans = [
            (r[3], r[4] if r[4] > 0 else r[3], r[5] or r[4])
            for r in SAMM_LV_ROWS
            if r[1].startswith(folder + "_") and isinstance(r[3], int)
        ]
        images = face_video(face, numbers, spans, gray=True)
        for n, image in images.items():
            path = root / "SAMM_longvideos" / folder / f"{folder}_{n:05d}.jpg"
            write_image(path, image)
            if n in broken:
                path.write_bytes(b"not a JPEG file")
    micro = [*SAMM_NOTES, SAMM_HEADER]
    for row in SAMM_LV_ROWS:
        if row[1] in SAMM_LV_MICRO_EMOTIONS:
            onset, apex, offset = row[3:6]
            micro.append(
                [row[0], row[1], row[2], onset, apex, offset, offset - onset + 1,
                 row[6], row[7], SAMM_LV_MICRO_EMOTIONS[row[1]], "", ""]
            )  # fmt: skip
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", micro, title="FACS codes")


def main() -> None:
    for name, writer in (
        ("casme2", casme2),
        ("samm", samm),
        ("mmew", mmew),
        ("casme3", casme3),
        ("smic", smic),
        ("flow_images", flow_images),
        ("casme2_lv", casme2_lv),
        ("samm_lv", samm_lv),
    ):
        folder = HERE / name / "dummy_data"
        shutil.rmtree(folder, ignore_errors=True)
        writer(folder)
    megc = HERE / "megc2019" / "dummy_data"
    shutil.rmtree(megc, ignore_errors=True)
    casme2(megc / "casme2")
    samm(megc / "samm")
    smic(megc / "smic")


if __name__ == "__main__":
    main()
