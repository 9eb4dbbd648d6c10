"""The expression intervals of long videos (spotting): sheet cells -> an
:class:`~tfds_builders.video_features.Interval`, every quirk named.

Cells are parsed as the releases write them:

- type: ``micro-expression``, ``Micro - 1/2``, ``Micro`` -> ``micro``; ``Macro``,
  ``macro-expression`` -> ``macro`` (:func:`expression_type`); anything else skips the
  interval (reason :data:`TYPE_UNKNOWN`).
- apex: ``-1``, ``0`` or blank means not annotated (SAMM Long Videos writes -1): the
  record's apex is -1 (:data:`APEX_NOT_ANNOTATED`).
- offset: ``0`` or blank means not annotated (CAS(ME)^2 writes 0): the interval ends at
  its apex, ``offset_estimated`` (:data:`OFFSET_NOT_ANNOTATED`), as the public
  spot-then-recognise code of CAS(ME)^2 and SAMM Long Videos does (SoftNet-SpotME and
  MEAN_Spot-then-recognize, ``load_label.py``: "Take apex if offset is 0"). Without an
  apex either, the interval is skipped.
- an offset before the apex: kept as annotated (onset..offset), reported
  (:data:`OFFSET_BEFORE_APEX`); an offset before the onset: skipped.
- action units: the cell is kept as written; its FACS codes are also parsed
  (:func:`parse_action_units`): ``4,24,6+12+15`` -> ``4+6+12+15+24``, ``(R6 or R12)+R15``
  -> ``R6+R12+R15`` (uncertain), ``NULL`` -> none.
- emotions: lower case, spaces folded, known misspellings mended (``happyiness`` ->
  ``happiness``; :data:`SPELLINGS`).

Reasons are stable strings (the build report and the tests use them). A problem with
``bad=False`` is the release's own convention (apex -1, offset 0) or a parse of a
cell, never a stop in strict mode; the others are data faults.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from tfds_builders.me_common.cells import cell_text, frame_number, is_blank
from tfds_builders.me_common.checks import (
    ESTIMATED,
    KEPT,
    OFFSET_BEFORE_ONSET,
    ONSET_NOT_A_NUMBER,
    SKIPPED,
    ClipProblem,
)
from tfds_builders.video_features import Interval

MICRO, MACRO = "micro", "macro"

# Reasons (stable strings: the build report and the tests use them).
OFFSET_NOT_ANNOTATED = "offset not annotated: interval ends at the apex"
APEX_NOT_ANNOTATED = "apex not annotated"
OFFSET_BEFORE_APEX = "offset before apex: kept as annotated"
APEX_BEFORE_ONSET = "apex before onset: kept as annotated"
NO_OFFSET_NO_APEX = "neither offset nor apex annotated"
TYPE_UNKNOWN = "type not micro or macro"
OUTSIDE_VIDEO = "interval outside the video's frames"
PARTLY_OUTSIDE_VIDEO = "interval reaches past the video's frames"
AUS_NOT_ANNOTATED = "action units not annotated"
AUS_UNCERTAIN = "action units uncertain (alternatives or doubt)"
AUS_UNPARSED = "action units partly parsed"
EMOTION_RESPELLED = "emotion spelling mended"

# Misspellings found in the releases' sheets -> the word meant.
SPELLINGS = {"happyiness": "happiness"}
# Cells that say "no action units annotated".
_NO_AUS = {"", "null", "none", "n/a", "na", "-", "/", "nan"}


def raw_text(value: Any) -> str:
    """A cell as written: text unchanged (trailing spaces kept), numbers without ``.0``."""
    if isinstance(value, str):
        return value
    return cell_text(value)


def expression_type(value: Any) -> str | None:
    """``'micro'``, ``'macro'``, or None for a type that is neither."""
    text = cell_text(value).lower()
    found = {kind for kind in (MICRO, MACRO) if kind in text}
    return found.pop() if len(found) == 1 else None


def normalize_label(value: Any) -> tuple[str, bool]:
    """An emotion cell -> ``(lower case, spaces folded, misspelling mended; whether a
    misspelling was mended)``."""
    text = " ".join(cell_text(value).lower().split())
    fixed = SPELLINGS.get(text, text)
    return fixed, fixed != text


@dataclasses.dataclass(frozen=True)
class ActionUnits:
    """The FACS codes of an action-unit cell.

    ``codes``: each code once, ``<side><number><intensity>`` (side ``L``, ``R``, ``U``,
    ``T``, ``B`` or none; intensity ``A``-``E`` or none), ordered by number;
    ``annotated``: False for ``NULL`` and blanks; ``uncertain``: the cell offers
    alternatives (``14or23``) or doubts (``?``, ``ref(11)``); ``complete``: nothing was
    left over once the codes, separators and those words were read.
    """

    codes: tuple[str, ...]
    annotated: bool
    uncertain: bool
    complete: bool

    @property
    def text(self) -> str:
        return "+".join(self.codes)


_OR = re.compile(r"(?i)(?<=[\dA-Ea-e\s)])or(?=[\s\d(LRTUBlrtub])")
_CODE = re.compile(r"(?i)(?<![A-Za-z])([LRTUB])?(\d+)([A-E])?(?![A-Za-z])")
_SEPARATORS = re.compile(r"[\s,+()\[\];&/.-]")


def parse_action_units(value: Any) -> ActionUnits:
    """Parses an action-unit cell (see :class:`ActionUnits`); never raises."""
    text = raw_text(value).strip()
    if text.lower() in _NO_AUS:
        return ActionUnits((), annotated=False, uncertain=False, complete=True)
    work, n_or = _OR.subn(" ", text)
    work, n_doubt = re.subn(r"(?i)\?|ref", " ", work)
    work = re.sub(r"(?i)\bAU\s*", " ", work)
    found: dict[tuple[int, str, str], str] = {}

    def take(match: re.Match) -> str:
        side, number, intensity = (match.group(1) or "").upper(), match.group(2), match.group(3)
        intensity = (intensity or "").upper()
        found[(int(number), side, intensity)] = f"{side}{int(number)}{intensity}"
        return " "

    rest = _CODE.sub(take, work)
    complete = not _SEPARATORS.sub("", rest)
    codes = tuple(found[k] for k in sorted(found))
    return ActionUnits(codes, annotated=True, uncertain=bool(n_or or n_doubt), complete=complete)


@dataclasses.dataclass(frozen=True)
class IntervalSource:
    """One interval as its sheet row gives it: raw cells, and where the row is."""

    name: str
    onset: Any
    apex: Any
    offset: Any
    type: Any
    action_units: Any
    emotion: Any
    where: str
    self_report: Any = ""
    notes: Any = ""


def check_interval(
    src: IntervalSource, first_frame: int | None = None, last_frame: int | None = None
) -> tuple[Interval | None, str, list[ClipProblem]]:
    """Checks one interval: ``(interval or None when skipped, outcome, problems)``.

    The outcome is ``skipped`` (``problems[0]`` says why), ``estimated`` (offset not
    annotated) or ``kept``; ``problems`` also lists every quirk found (apex not
    annotated, uncertain action units, a mended emotion, ...). ``first_frame`` and
    ``last_frame``, the video's frames on disk, check that the interval lies in them.
    """
    problems: list[ClipProblem] = []

    def add(outcome: str, reason: str, detail: str, bad: bool = True) -> None:
        problems.append(ClipProblem(outcome, reason, detail, src.where, bad))

    def skip(reason: str, detail: str):
        problems.insert(0, ClipProblem(SKIPPED, reason, detail, src.where))
        return None, SKIPPED, problems

    kind = expression_type(src.type)
    onset = frame_number(src.onset)
    if onset is None:
        return skip(ONSET_NOT_A_NUMBER, f"onset is {cell_text(src.onset)!r}")
    if kind is None:
        return skip(TYPE_UNKNOWN, f"type is {cell_text(src.type)!r}")

    apex = frame_number(src.apex)
    if apex is None or apex <= 0:
        # -1, 0 and blank are the releases' "not annotated"; other text is a fault.
        convention = apex is not None or is_blank(src.apex)
        add(KEPT, APEX_NOT_ANNOTATED, f"apex is {cell_text(src.apex)!r}", bad=not convention)
        apex = -1
    offset = frame_number(src.offset)
    estimated = False
    if offset is None or offset <= 0:
        convention = offset == 0 or is_blank(src.offset)
        if apex < 0:
            return skip(NO_OFFSET_NO_APEX, f"offset is {cell_text(src.offset)!r}, apex too")
        estimated = True
        add(
            ESTIMATED,
            OFFSET_NOT_ANNOTATED,
            f"offset is {cell_text(src.offset)!r}: offset set to the apex {apex}",
            bad=not convention,
        )
        offset = apex
    if offset < onset:
        return skip(OFFSET_BEFORE_ONSET, f"offset {offset} before onset {onset}")
    if apex >= 0 and apex > offset:
        add(KEPT, OFFSET_BEFORE_APEX, f"onset {onset}, apex {apex}, offset {offset}")
    elif 0 <= apex < onset:
        add(KEPT, APEX_BEFORE_ONSET, f"onset {onset}, apex {apex}, offset {offset}")
    if first_frame is not None and last_frame is not None:
        if offset < first_frame or onset > last_frame:
            return skip(
                OUTSIDE_VIDEO, f"{onset}..{offset}, frames on disk {first_frame}..{last_frame}"
            )
        if onset < first_frame or offset > last_frame:
            add(
                KEPT,
                PARTLY_OUTSIDE_VIDEO,
                f"{onset}..{offset}, frames on disk {first_frame}..{last_frame}",
            )

    aus = parse_action_units(src.action_units)
    raw_aus = raw_text(src.action_units)
    if not aus.annotated:
        add(KEPT, AUS_NOT_ANNOTATED, f"action units {raw_aus!r}", bad=False)
    if aus.uncertain:
        add(KEPT, AUS_UNCERTAIN, f"{raw_aus!r} -> {aus.text}", bad=False)
    if not aus.complete:
        add(KEPT, AUS_UNPARSED, f"{raw_aus!r} -> {aus.text or 'none'}", bad=False)
    emotion, mended = normalize_label(src.emotion)
    self_report, mended_report = normalize_label(src.self_report)
    for was, now, changed in (
        (src.emotion, emotion, mended),
        (src.self_report, self_report, mended_report),
    ):
        if changed:
            add(KEPT, EMOTION_RESPELLED, f"{cell_text(was)!r} -> {now!r}", bad=False)
    interval = Interval(
        name=src.name,
        onset=onset,
        apex=apex,
        offset=offset,
        offset_estimated=estimated,
        type=kind,
        type_raw=raw_text(src.type),
        action_units=raw_aus,
        aus=aus.text,
        aus_uncertain=aus.uncertain,
        emotion=emotion,
        emotion_raw=raw_text(src.emotion),
        self_report=self_report,
        notes=cell_text(src.notes),
    )
    return interval, ESTIMATED if estimated else KEPT, problems
