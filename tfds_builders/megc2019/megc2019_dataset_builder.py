"""MEGC 2019 composite: CASME II + SAMM + SMIC-HS in 3 classes (manual download).

``3class`` (the default) is the challenge's own clip list, shipped beside this module
(``official_3class_gt.csv``: dataset, subject, clip, label code; 442 rows; provenance
and checksum in the README): each listed clip is looked up in the user's releases and
labelled as the list says. A listed clip that is not in the user's sheet or folders
stops the build (:class:`ListedClipNotFoundError`, one line naming the clip and where it
was expected); every release clip that the list leaves out is reported as excluded,
reason ``"not in the official MEGC 2019 list"``.

:data:`SHEETS_CONFIG` (``3class_sheets``) is the older composite made
by a class map over the sheets (447 clips with the CASME II 2019-07-01 sheet), kept to
compare with builds made before version 2.0.0; it is not the challenge's list.

Each release is read by its own builder's reader, from ``manual_dir/casme2``,
``manual_dir/samm`` and ``manual_dir/smic`` when those folders exist (names matched
without case), else from anywhere inside ``manual_dir``. Subjects are prefixed with the
source (``casme2_sub01``, ``samm_006``, ``smic_s1``), so keys stay unique
(``casme2_sub01/EP02_01f``) and leave-one-subject-out runs over 68 subjects; the
``source`` feature names the release. Only SAMM frames are face-cropped by default (its
raw release is not cropped), with the face aligned as the samm builder does
(``face_align``; ``face_align=False``: the plain Haar box); ``face_crop=False`` turns
the crop off. SMIC apexes are the middle frames unless ``apex_method`` spots them.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import pathlib
import re

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import me_common
from tfds_builders.casme2 import casme2_dataset_builder as casme2
from tfds_builders.samm import samm_dataset_builder as samm
from tfds_builders.smic import smic_dataset_builder as smic

CLASSES_3 = ("positive", "surprise", "negative")
# The sheet-derived map of ``3class_sheets``; the official list's labels need no map.
MAP_3 = {"casme2:happiness": "positive", "casme2:surprise": "surprise"}
MAP_3 |= {"casme2:disgust": "negative", "casme2:repression": "negative"}
MAP_3 |= {f"samm:{emotion}": label for emotion, label in samm.MAP_3.items()}
MAP_3 |= {f"smic:{emotion}": label for emotion, label in smic.MAP_3.items()}

OFFICIAL_LIST = pathlib.Path(__file__).with_name("official_3class_gt.csv")
OFFICIAL_LIST_SHA256 = "adf1de4a088d4c3b3bd01cc8d061e836264d0e05140266eb15d8dc1050f484a7"
# The list's label codes (the challenge guidelines' order: negative, positive, surprise).
LABEL_CODES = {"0": "negative", "1": "positive", "2": "surprise"}
DATASETS = ("casme2", "samm", "smic")
NOT_IN_LIST = "not in the official MEGC 2019 list"
_SMIC_CLIP = re.compile(r"^s0*(\d+)_([a-z]+)_0*(\d+)$")


class ListedClipNotFoundError(me_common.SourceNotFoundError):
    """A clip of the composite's list is not in the user's releases (sheet or folders)."""


@dataclasses.dataclass(eq=False)
class CompositeConfig(me_common.MeConfig):
    """A composite task; ``clip_list`` (a CSV: dataset, subject, clip, label) fixes its
    clips and labels, ``clip_list_sha256`` (when set) the list file's checksum. Without
    a list, the class map over the releases' emotions decides, as in every builder."""

    clip_list: str | None = None
    clip_list_sha256: str = ""


def composite_config(
    name: str, description: str, clip_list: os.PathLike | str | None = None, sha256: str = ""
) -> CompositeConfig:
    """A 3-class composite config (SAMM faces aligned); ``clip_list`` as in
    :class:`CompositeConfig` (tests pass a short list of their own)."""
    base = me_common.make_config(
        name, MAP_3, CLASSES_3, description, face_crop=True, face_align=True
    )
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.init}
    path = os.fspath(clip_list) if clip_list is not None else None
    return CompositeConfig(**fields, clip_list=path, clip_list_sha256=sha256)


OFFICIAL_CONFIG = composite_config(
    "3class",
    "The official MEGC 2019 composite: the challenge's list of 442 clips (CASME II 145, "
    "SAMM 133, SMIC-HS 164) with its labels positive, surprise, negative. SAMM faces "
    "aligned from the onset frame (eyes level, square crop).",
    OFFICIAL_LIST,
    OFFICIAL_LIST_SHA256,
)
SHEETS_CONFIG = composite_config(
    "3class_sheets",
    "Not the challenge's list: the class map positive, surprise, negative over the "
    "releases' emotions (447 clips with the CASME II 2019-07-01 sheet). SAMM faces "
    "aligned from the onset frame (eyes level, square crop).",
)


@dataclasses.dataclass(frozen=True)
class ListedClip:
    """One row of a composite's clip list, as written there (``subject`` ``6`` for SAMM's
    ``006``, ``s01`` for SMIC's ``s1``), with its class name and 1-based line."""

    dataset: str
    subject: str
    clip: str
    label: str
    line: int

    @property
    def name(self) -> str:
        """``'casme2 sub01/EP02_01f'``."""
        return f"{self.dataset} {self.subject}/{self.clip}"


def file_sha256(path: os.PathLike | str) -> str:
    return hashlib.sha256(epath.Path(path).read_bytes()).hexdigest()


def read_clip_list(path: os.PathLike | str) -> list[ListedClip]:
    """The rows of a clip list (CSV without header: dataset, subject, clip, label; the
    label a code 0/1/2 = negative/positive/surprise or a class name). Blank rows
    (``,,,``) are skipped.

    Raises:
      me_common.SheetFormatError: naming the line of a malformed or repeated row.
    """
    path = epath.Path(path)
    rows: list[ListedClip] = []
    seen: dict[tuple, int] = {}
    # splitlines: the published file ends its lines with CRLF; no cell spans lines.
    for line, cells in enumerate(csv.reader(path.read_text().splitlines()), start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if len(cells) < 4 or not all(cells[:4]):
            raise me_common.SheetFormatError(
                f"{path} line {line}: expected dataset, subject, clip, label; got {cells}"
            )
        dataset, subject, clip, code = cells[:4]
        dataset = dataset.lower()
        label = LABEL_CODES.get(code, code.lower())
        if dataset not in DATASETS or label not in CLASSES_3:
            raise me_common.SheetFormatError(
                f"{path} line {line}: unknown dataset {cells[0]!r} or label {code!r} "
                f"(datasets {', '.join(DATASETS)}; labels 0, 1, 2 or a class name)"
            )
        key = clip_key(dataset, subject, clip)
        if key in seen:
            raise me_common.SheetFormatError(
                f"{path} line {line}: {dataset} {subject}/{clip} repeats line {seen[key]}"
            )
        seen[key] = line
        rows.append(ListedClip(dataset, subject, clip, label, line))
    return rows


def clip_key(dataset: str, subject: str, clip: str) -> tuple:
    """The key under which a listed clip and a release clip meet: ``(dataset, subject
    number, clip)``, the clip lower-cased and, for SMIC, its subject and index numbers
    unpadded. So the list's ``casme2 sub01/EP02_01f`` meets the sheet's ``01``
    ``EP02_01f``; ``samm 6/006_1_2`` meets ``006/006_1_2``; ``smic s01/s01_ne_01`` meets
    the folder ``s1/micro/negative/s1_ne_01``."""
    number = me_common.subject_number(subject)
    name = clip.strip().lower()
    if dataset == "smic":
        match = _SMIC_CLIP.match(name)
        if match:
            name = f"s{int(match[1])}_{match[2]}_{int(match[3])}"
    return dataset, number if number is not None else subject.strip().lower(), name


def _expected_at(source: me_common.Source, entry: ListedClip) -> str:
    """Where a listed clip that is not in the release was looked for (for messages)."""
    if source.sheet is not None:
        return f"no row for it in the sheet {source.sheet}"
    # SMIC-HS names folders s1/micro/negative/s1_ne_01 where the list has s01, s01_ne_01.
    number = me_common.subject_number(entry.subject)
    name = re.sub(r"^s0*(\d+)_", r"s\1_", entry.clip, flags=re.I)
    return f"no folder {source.frame_root}/s{number}/micro/*/{name}"


def select_listed(
    pairs: list[tuple[me_common.Source, list[dict]]], listed: list[ListedClip], task: str
) -> list[tuple[me_common.Source, list[dict]]]:
    """Keeps the listed clips of each release, labelled as the list says; every other
    clip becomes an excluded item (reason :data:`NOT_IN_LIST`).

    ``pairs`` are each release with its items reported without being read (see
    ``ClipBuilder._find_sources``); the sources' ``clips`` are replaced in place.

    Raises:
      ListedClipNotFoundError: one line naming the first listed clip (in list order) that
        is not in its release, or whose frame folder is not on disk, where it was
        expected, and how many more are missing.
    """
    index = me_common.FolderIndex()
    missing: list[tuple[ListedClip, str]] = []
    out = []
    for source, items in pairs:
        wanted = {
            clip_key(e.dataset, e.subject, e.clip): e for e in listed if e.dataset == source.name
        }
        found: dict[tuple, str] = {}
        clips, reported = [], []
        for clip in source.clips:
            key = clip_key(source.name, clip.subject, clip.clip)
            entry = wanted.get(key)
            if entry is None:
                reported.append(_excluded(clip.key, f"emotion {clip.emotion!r}", clip.where))
            elif key in found:
                reported.append(
                    {
                        "id": clip.key,
                        "reason": me_common.DUPLICATE_CLIP,
                        "detail": f"{found[key]} is also listed clip {entry.name}",
                        "file": clip.where,
                    }
                )
            else:
                found[key] = clip.key
                clips.append(dataclasses.replace(clip, label=entry.label))
                if index.resolve(source.frame_root, clip.dir_candidates) is None:
                    tried = "/".join(clip.dir_candidates[0]) if clip.dir_candidates else "?"
                    missing.append((entry, f"no frames folder {source.frame_root}/{tried}"))
        for item in items:
            subject, _, name = item["id"].partition("/")
            key = clip_key(source.name, subject, name)
            if key in wanted and key not in found:
                found[key] = item["id"]
                reported.append(item)  # listed, but unusable: skipped with its reason
            elif "?" in (subject, name):
                reported.append(item)  # a sheet row naming no clip: skipped as before
            else:
                reported.append(_excluded(item["id"], item["detail"], item["file"]))
        missing += [(e, _expected_at(source, e)) for k, e in wanted.items() if k not in found]
        source.clips = clips
        out.append((source, reported))
    if missing:
        missing.sort(key=lambda m: m[0].line)
        entry, where = missing[0]
        more = f" ({len(missing) - 1} more listed clips missing)" if len(missing) > 1 else ""
        raise ListedClipNotFoundError(
            f"{task}: listed clip {entry.name} ({entry.label}) not found: {where}{more}"
        )
    return out


def _excluded(clip_id: str, detail: str, file: str) -> dict:
    return {
        "id": clip_id,
        "outcome": me_common.EXCLUDED,
        "reason": NOT_IN_LIST,
        "detail": detail,
        "file": file,
    }


def _subfolder(manual_dir: epath.Path, name: str) -> epath.Path:
    for child in me_common.list_dirs(manual_dir):
        if child.name.lower() == name:
            return child
    return manual_dir


def _prefixed(source: me_common.Source, items: list[dict]) -> list[dict]:
    """Prefix subjects with the source name (in place for clips; returns ``items``)."""
    source.clips = [
        dataclasses.replace(c, subject=f"{source.name}_{c.subject}") for c in source.clips
    ]
    return [{**item, "id": f"{source.name}_{item['id']}"} for item in items]


def find_releases(manual_dir: epath.Path) -> list[tuple[me_common.Source, list[dict]]]:
    """The three releases (CASME II, SAMM, SMIC-HS) inside ``manual_dir``, each with the
    items its reader reports without reading them; subjects not yet prefixed."""
    pairs = [
        me_common.load_sheet_source(casme2.LAYOUT, _subfolder(manual_dir, "casme2")),
        me_common.load_sheet_source(samm.LAYOUT, _subfolder(manual_dir, "samm")),
        smic.find_source(_subfolder(manual_dir, "smic")),
    ]
    for source, _ in pairs:
        # Only SAMM's raw release is uncropped.
        if source.name != "samm":
            source.face_crop = False
    return pairs


class Builder(me_common.ClipBuilder):
    """MEGC 2019 composite clips, one record per listed clip of the three releases."""

    VERSION = tfds.core.Version("4.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "2.0.0": "3class is the challenge's official list (442 clips: CASME II 145, SAMM "
        "133, SMIC-HS 164), labels from the list; a listed clip missing from the "
        "releases stops the build; other clips are excluded as not in the list. The "
        "sheet-derived composite of 1.0.0 (447 clips) is the config 3class_sheets.",
        "3.0.0": "SAMM faces aligned by default (face_align: landmarks of the onset frame, "
        "eyes levelled, square crop, one transform per clip; face_align=False is the "
        "Haar box of 2.0.0); apex_method selects SMIC apex spotting (default: middle "
        "frame, as before); records gain face_alignment (JSON: the one "
        "face transform of the clip) and apex_method (how the apex was chosen).",
        "4.0.0": me_common.AFTER_APEX_RELEASE_NOTE,
    }
    HOMEPAGE = "https://facial-micro-expressiongc.github.io/MEGC2019/"
    EXPECTED_FILES = (
        "the three releases in folders casme2/, samm/ and smic/ (e.g. "
        f"casme2/{casme2.LAYOUT.sheet_names[0]}, samm/{samm.LAYOUT.sheet_names[0]}, "
        f"smic/{smic.EXAMPLE_FRAME})"
    )
    BUILDER_CONFIGS = [OFFICIAL_CONFIG, SHEETS_CONFIG]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
The composite reads three releases, each obtained from its owners (see the casme2,
samm and smic builders). Lay out `manual_dir` as:
- `casme2/`: `CASME2-coding-20190701.xlsx` (or the 2014-05-08 or updated sheet) and
  `Cropped/sub01/EP02_01f/reg_img46.jpg`;
- `samm/`: `SAMM_Micro_FACS_Codes_v2.xlsx` and `006/006_1_2/006_05562.jpg`;
- `smic/`: `HS/s1/micro/negative/s1_ne_01/image000101.bmp`.
Without those three folders, each release is looked for anywhere inside `manual_dir`.
Every clip of the official MEGC 2019 list (442) must be there: a missing one stops the
build with a message naming it.
"""

    def _find_sources(self, manual_dir: epath.Path):
        config = self.me_config
        pairs = find_releases(manual_dir)
        clip_list = getattr(config, "clip_list", None)
        if clip_list:
            expected = getattr(config, "clip_list_sha256", "")
            if expected and file_sha256(clip_list) != expected:
                raise me_common.SheetFormatError(
                    f"{clip_list}: sha256 is not {expected}: the shipped MEGC 2019 list "
                    "was changed; restore it from the package"
                )
            pairs = select_listed(pairs, read_clip_list(clip_list), f"{self.name}/{config.name}")
        sources, items = [], []
        for source, reported in pairs:
            items += _prefixed(source, reported)
            sources.append(source)
        return sources, items
