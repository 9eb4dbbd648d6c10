"""The clip table: what the results of a run know of its clips.

Every results function takes one :class:`ClipTable` (ids, subjects, sources, labels and
class names, in the dataset's clip order) rather than those arrays one by one::

    table = ClipTable.of(data)            # anything with those attributes (ClipArrays)
    results.summarize(progress, plan, table, eval_epoch=10, epochs=10, seed=0, replicas=r)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class ClipTable:
    """A dataset's clips, in clip order.

    Attributes:
      ids, subjects, sources: (N,) str; labels: (N,) int.
      class_names: the label names, in label order.
      dataset: what was loaded (builder name and config; "" when unknown).
    """

    ids: np.ndarray
    subjects: np.ndarray
    sources: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    dataset: str = ""

    def __post_init__(self):
        for name in ("ids", "subjects", "sources", "labels"):
            object.__setattr__(self, name, np.asarray(getattr(self, name)))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        n = len(self.labels)
        bad = [k for k in ("ids", "subjects", "sources") if len(getattr(self, k)) != n]
        if bad:
            raise ValueError(f"clip table: {', '.join(bad)} not of the labels' length {n}")

    @classmethod
    def of(cls, data: Any) -> ClipTable:
        """The table of ``data`` (an object with ``ids``, ``subjects``, ``sources``,
        ``labels``, ``class_names`` and optionally ``dataset``, e.g. ``ClipArrays``)."""
        return cls(
            ids=data.ids,
            subjects=data.subjects,
            sources=data.sources,
            labels=data.labels,
            class_names=tuple(data.class_names),
            dataset=str(getattr(data, "dataset", "")),
        )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels.astype(int), minlength=self.num_classes)
        return {n: int(k) for n, k in zip(self.class_names, counts, strict=True)}
