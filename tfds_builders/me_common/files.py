"""Finding a release's files inside ``manual_dir``: the annotation sheet by its known
names (:func:`find_sheet`), the frame root by probing the clips' folders
(:func:`find_frame_root`), and cached, case-tolerant folder and frame listings
(:class:`FolderIndex`; frame numbers from :func:`mmnet_jax.vision.frames.frame_number`)."""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from etils import epath

from mmnet_jax.vision import frames as frames_lib
from tfds_builders.me_common.errors import SourceNotFoundError
from tfds_builders.me_common.sources import ClipSource

IMAGE_SUFFIXES = frames_lib.IMAGE_SUFFIXES


# Folders that hold frames, never sheets or other releases: not searched for sheets.
_FRAME_FOLDER = re.compile(
    r"^(sub\d+|s\d+|\d+|spno\.\d+|ep\d.*|color|depth|\d+_\d+_\d+|s\d+-\d+-\d+)$", re.I
)


def walk_dirs(top: epath.Path, max_depth: int) -> Iterator[tuple[epath.Path, int]]:
    """Folders under ``top`` breadth first (``top`` first), skipping frame folders."""
    queue = collections.deque([(top, 0)])
    while queue:
        folder, depth = queue.popleft()
        yield folder, depth
        if depth >= max_depth:
            continue
        for child in list_dirs(folder):
            if not _FRAME_FOLDER.match(child.name):
                queue.append((child, depth + 1))


def shallowest(
    top: epath.Path, holds: Callable[[epath.Path], bool], preferred: str, max_depth: int
) -> epath.Path | None:
    """The shallowest folder under ``top`` (``top`` included, :func:`walk_dirs`) for
    which ``holds(folder)``, one named ``preferred`` (without case) first; then by path;
    None when there is none."""
    candidates = [
        (folder.name.lower() != preferred.lower(), depth, os.fspath(folder), folder)
        for folder, depth in walk_dirs(top, max_depth)
        if holds(folder)
    ]
    return min(candidates)[-1] if candidates else None


def list_dirs(folder: epath.Path) -> list[epath.Path]:
    try:
        return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def find_sheet(
    manual_dir: epath.PathLike, names: Sequence[str], title: str, max_depth: int = 4
) -> epath.Path:
    """The annotation sheet: the shallowest file with one of ``names`` (earlier names win).

    Raises:
      SourceNotFoundError: naming the files expected and where.
    """
    manual_dir = epath.Path(manual_dir)
    wanted = {n.lower(): i for i, n in enumerate(names)}
    for folder, _ in walk_dirs(manual_dir, max_depth - 1):
        try:
            files = [p for p in folder.iterdir() if p.name.lower() in wanted]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        files = [p for p in files if p.is_file()]
        if files:
            return min(files, key=lambda p: (wanted[p.name.lower()], p.name))
    raise SourceNotFoundError(
        f"{title}: no annotation sheet found in {manual_dir} (searched {max_depth} folder "
        f"levels deep). Expected one of: {', '.join(names)}. Put the sheet of the release "
        f"inside that folder (see the builder's MANUAL_DOWNLOAD_INSTRUCTIONS)."
    )


class FolderIndex:
    """Cached folder listings, for case-tolerant lookups and frame listings."""

    def __init__(self) -> None:
        self._children: dict[str, dict[str, list[str]]] = {}
        self._frames: dict[str, dict[int, epath.Path]] = {}

    def children(self, folder: epath.Path) -> dict[str, list[str]]:
        """Sub-folder names of ``folder``, keyed by stripped lower-cased name."""
        key = os.fspath(folder)
        if key not in self._children:
            found: dict[str, list[str]] = collections.defaultdict(list)
            for child in list_dirs(folder):
                found[child.name.strip().lower()].append(child.name)
            self._children[key] = dict(found)
        return self._children[key]

    def child(self, folder: epath.Path, name: str) -> list[epath.Path]:
        """``folder/name`` if it exists (exact name first, then any case), else []."""
        if name == "*":
            return [folder / n for names in sorted(self.children(folder).values()) for n in names]
        names = self.children(folder).get(name.strip().lower(), [])
        exact = [n for n in names if n == name]
        return [folder / n for n in (exact or sorted(names))]

    def resolve(self, root: epath.Path, candidates: Iterable[tuple[str, ...]]) -> epath.Path | None:
        """The first candidate relative folder that exists under ``root``."""
        for parts in candidates:
            folders = [root]
            for part in parts:
                folders = [c for f in folders for c in self.child(f, part)]
                if not folders:
                    break
            if folders:
                return folders[0]
        return None

    def frames(self, folder: epath.Path) -> dict[int, epath.Path]:
        """Image files of ``folder`` keyed by frame number (the last number in the name)."""
        key = os.fspath(folder)
        if key not in self._frames:
            found: dict[int, epath.Path] = {}
            try:
                files = sorted(folder.iterdir(), key=lambda p: (frames_lib.suffix_rank(p), p.name))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                files = []
            for path in files:
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                number = frames_lib.frame_number(path.name)
                if number is not None:
                    found.setdefault(number, path)
            self._frames[key] = found
        return self._frames[key]


def find_frame_root(
    manual_dir: epath.PathLike,
    clips: Sequence[ClipSource],
    title: str,
    preferred_names: Sequence[str] = (),
    example: str = "",
    index: FolderIndex | None = None,
    max_depth: int = 4,
    sample: int = 40,
) -> epath.Path:
    """The folder under which the clips' ``dir_candidates`` resolve best.

    Every folder up to ``max_depth`` levels under ``manual_dir`` (``manual_dir`` itself
    included) that holds a first component of some clip's candidates is scored by how
    many of an even sample of the clips resolve under it; ties go to the earlier name in
    ``preferred_names``, then to the shallower folder.

    Raises:
      SourceNotFoundError: when no clip resolves anywhere.
    """
    manual_dir = epath.Path(manual_dir)
    index = index or FolderIndex()
    step = max(1, len(clips) // sample)
    probe = list(clips)[::step][:sample]
    firsts = {c[0].strip().lower() for clip in probe for c in clip.dir_candidates if c}
    wildcard = "*" in firsts
    ranks = {n.lower(): i for i, n in enumerate(preferred_names)}
    best: tuple[tuple[int, int, int, str], epath.Path] | None = None
    queue = collections.deque([(manual_dir, 0)])
    while queue:
        folder, depth = queue.popleft()
        children = index.children(folder)
        matches = wildcard or any(name in children for name in firsts)
        if matches:
            score = sum(index.resolve(folder, c.dir_candidates) is not None for c in probe)
            if score:
                order = (-score, ranks.get(folder.name.lower(), len(ranks)), depth, folder.name)
                if best is None or order < best[0]:
                    best = (order, folder)
        if depth >= max_depth:
            continue
        for lower, names in sorted(children.items()):
            if lower in firsts or _FRAME_FOLDER.match(lower):
                continue  # a subject or clip folder: no frame root below it
            for name in names:
                queue.append((folder / name, depth + 1))
    if best is None:
        hint = f" e.g. {manual_dir / example}" if example else ""
        raise SourceNotFoundError(
            f"{title}: no frame folder found in {manual_dir} (searched {max_depth} folder "
            f"levels deep) holding the sheet's clips: expected frames laid out as{hint}. "
            f"See the builder's MANUAL_DOWNLOAD_INSTRUCTIONS."
        )
    return best[1]
