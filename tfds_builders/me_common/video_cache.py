"""Resumable long-video builds: each video's prepared frames kept in a cache folder.

Reading and aligning the frames of a long video is the slow part of a build (SAMM Long
Videos: 2040x1088 frames, thousands per video). A build saves each video's prepared
frames (the PNG bytes the record stores) as
``<cache folder>/<subject>__<video code>.<key>.npz`` as soon as they are made, and a
later build (after an interruption, a crash, or with the TFDS output
deleted) takes them from there without reading a frame file.

The key is a digest of everything the frames depend on: the builder and its version,
the config's frame options (:meth:`VideoConfig.options`), the face backend, the video,
and the frame files (name and size of each). A changed option or a changed release
makes another key, so a stale entry is never used. Files are written to a temporary
name and renamed, so an interrupted write leaves no half file under the final name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from etils import epath

CACHE_FORMAT = 2


@dataclasses.dataclass(frozen=True)
class CachedVideo:
    """A video's prepared frames: PNG bytes each (what the record stores), their frame
    numbers, the face JSON and the build notes made while preparing them."""

    png: list[bytes]
    frame_numbers: list[int]
    face_alignment: str
    notes: list[str]


def cache_key(
    builder: str, version: str, options: Mapping[str, Any], backend: str | None,
    video_id: str, files: Mapping[int, epath.Path],
) -> str:  # fmt: skip
    """The digest of what a video's prepared frames depend on (see the module docstring)."""
    listing = []
    for number in sorted(files):
        path = files[number]
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        listing.append([number, path.name, size])
    blob = json.dumps(
        {
            "format": CACHE_FORMAT,
            "builder": builder,
            "version": version,
            "options": dict(sorted(options.items())),
            "face_backend": backend,
            "video": video_id,
            "files": listing,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class VideoCache:
    """The cache folder of one builder config (None: caching off)."""

    def __init__(self, folder: epath.PathLike | None):
        self.folder = None if folder is None else epath.Path(folder)
        self.reused = 0
        self.made = 0

    def path(self, video_id: str, key: str) -> epath.Path:
        assert self.folder is not None
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", video_id.replace("/", "__"))
        return self.folder / f"{safe}.{key}.npz"

    def load(self, video_id: str, key: str) -> CachedVideo | None:
        """The cached video, or None (not cached, or an unreadable entry)."""
        if self.folder is None:
            return None
        path = self.path(video_id, key)
        if not path.exists():
            return None
        try:
            with np.load(os.fspath(path), allow_pickle=False) as data:
                if str(data["key"]) != key:
                    return None
                meta = json.loads(str(data["meta"]))
                ends = np.cumsum(data["lengths"])
                blob = data["png"].tobytes()
                video = CachedVideo(
                    png=[blob[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)],
                    frame_numbers=[int(n) for n in data["frame_numbers"]],
                    face_alignment=meta["face_alignment"],
                    notes=list(meta["notes"]),
                )
        except (OSError, ValueError, KeyError, EOFError):
            return None
        self.reused += 1
        return video

    def save(self, video_id: str, key: str, video: CachedVideo) -> None:
        """Writes the entry (a temporary file renamed into place)."""
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(video_id, key)
        partial = path.parent / f"{path.name}.partial-{os.getpid()}"
        meta = json.dumps({"face_alignment": video.face_alignment, "notes": video.notes})
        try:
            with open(os.fspath(partial), "wb") as f:
                np.savez(  # PNG bytes: compressing them again gains nothing
                    f,
                    key=np.asarray(key),
                    meta=np.asarray(meta),
                    png=np.frombuffer(b"".join(video.png), np.uint8),
                    lengths=np.asarray([len(b) for b in video.png], np.int64),
                    frame_numbers=np.asarray(video.frame_numbers, np.int64),
                )
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.made += 1

    def describe(self) -> dict[str, Any]:
        folder = None if self.folder is None else os.fspath(self.folder)
        return {"folder": folder, "reused": self.reused, "made": self.made}
