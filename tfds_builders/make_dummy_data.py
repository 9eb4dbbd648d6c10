"""Writes every builder's ``dummy_data/``: fake releases in the real layouts.

The sheets copy the real ones' file names, column names and quirks (CASME II's ``/``
apex, unnamed empty columns and lettered AUs; SAMM's notes rows above the header and
capitalised emotions; MMEW's missing apex and offset; CAS(ME)^3's ``Others``/``others``,
onset == apex and several clips per video), plus faults a builder must survive (missing
frames, a missing clip folder, a non-numeric onset, an apex outside [onset, offset]).
Frames are tiny synthetic patterns (a gradient and a moving square), never faces; the
flow images are smooth synthetic flows in the STSTNet release's layout and convention.

    python -m tfds_builders.make_dummy_data   # rewrites tfds_builders/*/dummy_data
"""

from __future__ import annotations

import pathlib
import shutil

import cv2
import numpy as np
import openpyxl

from mmnet_jax.vision import flow

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


def main() -> None:
    for name, writer in (
        ("casme2", casme2),
        ("samm", samm),
        ("mmew", mmew),
        ("casme3", casme3),
        ("smic", smic),
        ("flow_images", flow_images),
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
