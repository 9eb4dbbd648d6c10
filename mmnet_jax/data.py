"""Prepared TFDS records -> one set of uint8 arrays that lives on the accelerator.

The micro-expression datasets are small (CASME II: 249 clips), so every clip's stored
frames are read once into memory and placed on the devices; training gathers its batches
there (``mmnet_jax.augment``) with no host round trips.
"""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import tensorflow_datasets as tfds

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ClipArrays:
    """All clips of a dataset, sorted by id.

    Attributes:
      onset_frames, apex_frames: (N, K, S, S, 3) uint8; element 0 is the labelled frame,
        element i the i-th temporal-jitter neighbour.
      jitter: (N,) int32, usable neighbours per clip.
      labels: (N,) int32.
      subjects, ids, sources: (N,) str.
      class_names: label names in label order.
      dataset: what was loaded (builder name and config).
    """

    onset_frames: np.ndarray
    apex_frames: np.ndarray
    jitter: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    ids: np.ndarray
    sources: np.ndarray
    class_names: list[str]
    dataset: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> int:
        return int(self.onset_frames.shape[2])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {n: int(c) for n, c in zip(self.class_names, counts, strict=True)}

    def resized(self, size: int) -> ClipArrays:
        """A copy with every frame resized to ``size`` (area interpolation)."""
        if size == self.image_size:
            return self

        def rs(frames):
            flat = frames.reshape(-1, *frames.shape[2:])
            out = np.stack(
                [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in flat]
            )
            return out.reshape(*frames.shape[:2], size, size, 3)

        return dataclasses.replace(
            self, onset_frames=rs(self.onset_frames), apex_frames=rs(self.apex_frames)
        )


def _text(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def from_data_source(source, class_names: list[str], dataset: str) -> ClipArrays:
    """Read every record of a TFDS data source (``as_data_source()['train']``)."""
    records = [source[i] for i in range(len(source))]
    if not records:
        raise ValueError(f"{dataset}: the prepared split has no records")
    records.sort(key=lambda r: _text(r["id"]))
    return ClipArrays(
        onset_frames=np.stack([np.stack(r["onset_frames"]) for r in records]).astype(np.uint8),
        apex_frames=np.stack([np.stack(r["apex_frames"]) for r in records]).astype(np.uint8),
        jitter=np.asarray([r["jitter"] for r in records], np.int32),
        labels=np.asarray([r["label"] for r in records], np.int32),
        subjects=np.asarray([_text(r["subject"]) for r in records]),
        ids=np.asarray([_text(r["id"]) for r in records]),
        sources=np.asarray([_text(r["source"]) for r in records]),
        class_names=list(class_names),
        dataset=dataset,
    )


def synthetic_builder_config(data_cfg):
    """The ``synthetic_me`` builder config a run config asks for."""
    from tfds_builders.synthetic_me import make_config  # noqa: PLC0415 - registers the builder

    return make_config(
        seed=int(data_cfg.synthetic_seed),
        num_subjects=int(data_cfg.synthetic_subjects),
        clips_per_subject=int(data_cfg.synthetic_clips),
        image_size=int(data_cfg.image_size),
        frames_per_side=int(data_cfg.frames_per_side),
    )


def get_builder(data_cfg):
    """The TFDS builder of a run config's ``data`` section (array_record files)."""
    import tfds_builders  # noqa: F401, PLC0415 - registers the project's builders

    name = data_cfg.name
    if name == "synthetic_me":
        return tfds.builder(
            name,
            config=synthetic_builder_config(data_cfg),
            data_dir=data_cfg.data_dir or None,
            file_format="array_record",
        )
    full = f"{name}/{data_cfg.builder_config}" if data_cfg.get("builder_config") else name
    kwargs = {}
    prepared = int(data_cfg.get("prepared_image_size", 224))
    if prepared != 224:  # builders name non-default sizes as their own configs
        kwargs["image_size"] = prepared
    if int(data_cfg.frames_per_side) != 5:
        kwargs["frames_per_side"] = int(data_cfg.frames_per_side)
    return tfds.builder(
        full, data_dir=data_cfg.data_dir or None, file_format="array_record", **kwargs
    )


def load(data_cfg) -> ClipArrays:
    """Load the dataset a run config names, building it first when that needs no files.

    The synthetic set is generated on demand. A licence-gated dataset must have been
    prepared with ``python -m mmnet_jax.prepare``; if it has not, the error names the
    command and the data directory searched.
    """
    builder = get_builder(data_cfg)
    if not builder.is_prepared():
        if data_cfg.name == "synthetic_me":
            log.info("generating %s into %s", builder.info.full_name, builder.data_dir)
            builder.download_and_prepare()
        else:
            raise FileNotFoundError(
                f"dataset {builder.info.full_name} is not prepared in {builder.data_dir}. "
                f"Prepare it from your licensed copy first:\n  python -m mmnet_jax.prepare "
                f"--dataset {data_cfg.name}/{data_cfg.get('builder_config', '')} "
                f"--manual_dir /path/to/your/{data_cfg.name} "
                f"--image_size {int(data_cfg.get('prepared_image_size', 224))} "
                f"--data_dir {data_cfg.data_dir or '~/tensorflow_datasets'}\n"
                f"What it expects there:\n{getattr(builder, 'MANUAL_DOWNLOAD_INSTRUCTIONS', '')}"
            )
    names = builder.info.features["label"].names
    arrays = from_data_source(builder.as_data_source()["train"], names, builder.info.full_name)
    want = int(data_cfg.image_size)
    if arrays.image_size != want:
        log.info("resizing %s frames from %d to %d px", arrays.dataset, arrays.image_size, want)
        arrays = arrays.resized(want)
    return arrays
