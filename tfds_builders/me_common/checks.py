"""Checking one clip: every clip is *kept*, kept with an *estimated* apex (the middle of
onset..offset), *skipped* with its reason, or *excluded* by the config's class map.

The outcome and reason strings here are stable: the build report and the tests use them.
"""

from __future__ import annotations

import dataclasses
import os

from etils import epath

from tfds_builders import clip_features as cf
from tfds_builders.me_common.cells import cell_text, frame_number
from tfds_builders.me_common.config import MeConfig
from tfds_builders.me_common.files import FolderIndex
from tfds_builders.me_common.sources import ClipSource

# Outcomes of a clip.
KEPT = "kept"
ESTIMATED = "estimated"
SKIPPED = "skipped"
EXCLUDED = "excluded"
OUTCOMES = (KEPT, ESTIMATED, SKIPPED, EXCLUDED)

# Reasons (stable strings: the report and the tests use them).
EXCLUDED_BY_CLASS_MAP = "excluded by class map"
APEX_NOT_A_NUMBER = "apex not a number"
APEX_OUT_OF_RANGE = "apex outside [onset, offset]"
ONSET_EQUALS_APEX = "onset == apex"
OFFSET_FROM_DISK = "offset missing or before onset: last frame on disk used"
NO_APEX_ANNOTATION = "no apex annotation: middle frame used"
NO_APEX_SPOTTED = "no apex annotation: apex spotted"
NO_FACE_FOUND = "no face found"
ONSET_NOT_A_NUMBER = "onset not a number"
OFFSET_NOT_A_NUMBER = "offset not a number"
OFFSET_BEFORE_ONSET = "offset before onset"
ONSET_EQUALS_OFFSET = "onset == offset"
NO_SUBJECT_OR_CLIP = "subject or filename missing"
FOLDER_NOT_FOUND = "frames folder not found"
MISSING_FRAMES = "missing frames"
UNREADABLE_FRAME = "unreadable frame"
DUPLICATE_CLIP = "duplicate clip"
FLOW_FAILED = "flow not computed"
APEX_REASONS = (
    APEX_NOT_A_NUMBER,
    APEX_OUT_OF_RANGE,
    ONSET_EQUALS_APEX,
    NO_APEX_ANNOTATION,
    NO_APEX_SPOTTED,
)


@dataclasses.dataclass
class ClipPlan:
    """A clip that passed the checks: what to load."""

    clip: ClipSource
    label: str
    folder: epath.Path
    onset: int
    apex: int
    offset: int
    apex_estimated: bool
    estimated_reasons: list[str]
    notes: list[str]
    # How ``apex`` was chosen: "annotated", "middle", or a spotting method (set when the
    # frames are loaded; see frames.load_record).
    apex_method: str = "annotated"


@dataclasses.dataclass
class ClipProblem:
    """Why a clip is not written as annotated."""

    outcome: str
    reason: str
    detail: str
    file: str
    bad: bool = True  # False for outcomes that are not data faults (class map, SMIC apex)


def middle_frame(onset: int, offset: int) -> int:
    """The estimated apex: the middle of onset..offset, rounded up (never the onset)."""
    return onset + (offset - onset + 1) // 2


def check_clip(
    clip: ClipSource, config: MeConfig, root: epath.Path, index: FolderIndex
) -> tuple[ClipPlan | None, list[ClipProblem]]:
    """Runs the checks of the module docstring on one clip.

    The label is ``clip.label`` when a clip list set it, else the config's class map.
    Returns ``(plan, problems)``: ``plan`` is None when the clip is skipped or excluded
    (``problems[0]`` says why); otherwise ``problems`` lists the estimations made.
    """
    label = clip.label if clip.label is not None else config.label_of(clip.source, clip.emotion)
    if label is None:
        return None, [
            ClipProblem(
                EXCLUDED,
                EXCLUDED_BY_CLASS_MAP,
                f"emotion {clip.emotion!r} is not in the {config.name} map",
                clip.where,
                bad=False,
            )
        ]

    def skip(reason: str, detail: str, file: str | None = None):
        return None, [ClipProblem(SKIPPED, reason, detail, file or clip.where)]

    onset = frame_number(clip.onset)
    if onset is None:
        return skip(ONSET_NOT_A_NUMBER, f"onset is {cell_text(clip.onset)!r}")
    folder = index.resolve(root, clip.dir_candidates)
    if folder is None:
        tried = ", ".join("/".join(c) for c in clip.dir_candidates[:4])
        return skip(FOLDER_NOT_FOUND, f"none of {tried} under {root}", os.fspath(root))
    frames = index.frames(folder)
    problems: list[ClipProblem] = []

    offset = frame_number(clip.offset)
    if offset is None or offset < onset:
        reason = OFFSET_NOT_A_NUMBER if offset is None else OFFSET_BEFORE_ONSET
        after = [n for n in frames if n > onset] if clip.offset_from_disk else []
        if not after:
            return skip(reason, f"offset is {cell_text(clip.offset)!r}, onset {onset}")
        problems.append(
            ClipProblem(
                ESTIMATED,
                OFFSET_FROM_DISK,
                f"offset {cell_text(clip.offset)!r} replaced by last frame {max(after)}",
                clip.where,
            )
        )
        offset = max(after)
    if offset == onset:
        return skip(ONSET_EQUALS_OFFSET, f"onset and offset are both {onset}")

    apex = frame_number(clip.apex)
    if not clip.apex_annotated:
        # The frame nearest the middle of onset..offset that is on disk.
        middle = middle_frame(onset, offset)
        apex = min((n for n in frames if onset < n <= offset), key=lambda n: (abs(n - middle), n))
        problems.append(
            ClipProblem(
                ESTIMATED,
                NO_APEX_ANNOTATION,
                f"the release has no apex; frame {apex} used",
                clip.where,
                bad=False,
            )
        )
    elif apex is None:
        problems.append(
            ClipProblem(
                ESTIMATED, APEX_NOT_A_NUMBER, f"apex is {cell_text(clip.apex)!r}", clip.where
            )
        )
    elif not onset <= apex <= offset:
        problems.append(
            ClipProblem(
                ESTIMATED,
                APEX_OUT_OF_RANGE,
                f"apex {apex} outside [{onset}, {offset}]",
                clip.where,
            )
        )
    elif apex == onset:
        problems.append(
            ClipProblem(ESTIMATED, ONSET_EQUALS_APEX, f"onset and apex are both {apex}", clip.where)
        )
    apex_estimated = any(p.reason in APEX_REASONS for p in problems)
    if apex_estimated and clip.apex_annotated:
        apex = middle_frame(onset, offset)
        problems[-1].detail += f"; apex set to {apex}"
    assert apex is not None

    onset_numbers, apex_numbers = cf.frame_numbers(
        onset, apex, offset, config.frames_per_side, on_disk=frames
    )
    needed = onset_numbers + apex_numbers
    missing = sorted({n for n in needed if n not in frames})
    if missing:
        return skip(
            MISSING_FRAMES,
            f"frame{'s' * (len(missing) > 1)} {', '.join(map(str, missing))} not in {folder}",
            os.fspath(folder),
        )
    plan = ClipPlan(
        clip=clip,
        label=label,
        folder=folder,
        onset=onset,
        apex=apex,
        offset=offset,
        apex_estimated=apex_estimated,
        estimated_reasons=[p.reason for p in problems],
        notes=[],
        apex_method="middle" if apex_estimated else "annotated",
    )
    return plan, problems
