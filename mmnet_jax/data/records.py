"""Prepared TFDS records -> one set of uint8 arrays that lives on the accelerator.

The micro-expression datasets are small (CASME II: 249 clips), so every clip's stored
frames are read once into memory and placed on the devices; training gathers its batches
there (``mmnet_jax.data.augment``) with no host round trips.

TFDS is imported only by the functions that read or build records (``get_builder``,
``load``): ``ClipArrays`` and this module import without it (benchmarks, model code).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import logging
import pkgutil

import cv2
import numpy as np
from etils import epath

from mmnet_jax.vision import frames

log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """The config names a dataset that is unknown or not prepared (a user error)."""


def project_builders() -> list[str]:
    """Names of the project's TFDS builders (``tfds_builders/<name>/``)."""
    import tfds_builders  # noqa: PLC0415

    return sorted(
        m.name
        for m in pkgutil.iter_modules(tfds_builders.__path__)
        if m.ispkg and importlib.util.find_spec(f"tfds_builders.{m.name}.{m.name}_dataset_builder")
    )


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with one of ``prefixes``."""

    def __init__(self, *prefixes: str):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


@contextlib.contextmanager
def quiet_tfds(generating: bool = False):
    """Without TFDS's chatter about the project's own builders: its log of a whole
    builder config and of version folders without metadata (an unprepared set), and,
    when ``generating`` the synthetic set (which downloads nothing), its "Downloading
    and preparing dataset Unknown size" lines (printed on stdout) and progress bars."""
    drop = _DropMessages(
        "Using custom data configuration",
        "Variant folder",
        # Older versions of a builder's records (the "not prepared" error names them).
        "Found a different version of the requested dataset",
    )
    absl_log = logging.getLogger("absl")
    absl_log.addFilter(drop)
    try:
        if not generating:
            yield
            return
        import tensorflow_datasets as tfds  # noqa: PLC0415 - only where records are built

        with contextlib.redirect_stdout(io.StringIO()):
            tfds.display_progress_bar(False)
            try:
                yield
            finally:
                tfds.display_progress_bar(True)
    finally:
        absl_log.removeFilter(drop)


@dataclasses.dataclass
class ClipArrays:
    """All clips of a dataset, sorted by id.

    Attributes:
      onset_frames: (N, K, S, S, 3) uint8; element 0 is the labelled onset, element i
        frame ``onset + i`` (up to what is stored; ``tfds_builders.clip_features``);
        None for records of flow alone (the ``flow_images`` builder), as ``apex_frames``.
      apex_frames: (N, K2, S, S, 3) uint8; element 0 is the labelled apex, element
        ``i < K`` frame ``apex - i``; records with frames after the apex have
        ``K2 = 2K - 1`` and element ``K - 1 + i`` is frame ``apex + i``.
      jitter: (N,) or (N, 3) int32 temporal-jitter ranges: (after onset, before apex,
        after apex); (N,) is the same range for the first two and none after the apex.
      labels: (N,) int32.
      subjects, ids, sources: (N,) str.
      class_names: label names in label order.
      dataset: what was loaded (builder name and config).
      bounds: (N, 3) int32 onset, apex, offset frame numbers (None for arrays made in
        memory: then ``jitter`` is used as given).
      stored: (N, 3) int32 neighbours stored on each side, as ``jitter`` (None likewise).
      flow: (N, F, F, 3) float32 onset-to-apex flow, channels ``(u, v, strain)``
        (``mmnet_jax.vision.flow``): from records that hold it, or computed by
        :meth:`with_flow`; None otherwise.
    """

    onset_frames: np.ndarray | None
    apex_frames: np.ndarray | None
    jitter: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    ids: np.ndarray
    sources: np.ndarray
    class_names: list[str]
    dataset: str
    bounds: np.ndarray | None = None
    stored: np.ndarray | None = None
    flow: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def has_frames(self) -> bool:
        return self.onset_frames is not None

    @property
    def image_size(self) -> int:
        """The frames' size (the flow's for records of flow alone)."""
        if not self.has_frames:
            return int(self.flow.shape[1])
        return int(self.onset_frames.shape[2])

    def input_size(self, inputs: tuple[str, ...]) -> int:
        """The size of what a model of these inputs (``ModelSpec.inputs``) reads: the
        flow's when it takes the flow, else the frames'."""
        if "flow" in inputs:
            if self.flow is None:
                raise DatasetError(f"{self.dataset}: no flow (ClipArrays.with_flow makes it)")
            return int(self.flow.shape[1])
        if not self.has_frames:
            raise DatasetError(
                f"{self.dataset} holds flow images only: a model that reads frames cannot "
                "train on it (choose a flow model, e.g. --config.model.name=ststnet)"
            )
        return self.image_size

    def with_flow(self, size: int, progress: bool = False) -> ClipArrays:
        """A copy whose ``flow`` is ``size`` x ``size``: the records' flow resized (u and v
        scaled), or, for records without flow, TV-L1 flow computed from each clip's
        labelled onset and apex frames at their full size (``vision.flow.features``).

        Raises:
          DatasetError: a clip whose flow cannot be computed (it is named), or OpenCV
            without its contrib module.
        """
        from mmnet_jax.vision import flow as flow_lib  # noqa: PLC0415 - OpenCV's contrib

        if self.flow is not None:
            if self.flow.shape[1] == size:
                return self
            resized = [
                np.stack(flow_lib.resize_flow(f[..., 0], f[..., 1], f[..., 2], size), axis=-1)
                for f in self.flow
            ]
            return dataclasses.replace(self, flow=np.stack(resized).astype(np.float32))
        if not flow_lib.contrib_available():
            raise DatasetError(flow_lib.CONTRIB_HINT)
        log.info("%s: computing TV-L1 flow for %d clips (%d px)", self.dataset, len(self), size)
        from tqdm.auto import tqdm  # noqa: PLC0415

        out = np.zeros((len(self), size, size, 3), np.float32)
        clips = tqdm(range(len(self)), desc="flow", unit="clip", disable=not progress)
        for i in clips:
            try:
                out[i] = flow_lib.features(self.onset_frames[i, 0], self.apex_frames[i, 0], size)
            except flow_lib.FlowError as e:
                raise DatasetError(f"{self.dataset}: clip {self.ids[i]}: {e}") from None
        return dataclasses.replace(self, flow=out)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {n: int(c) for n, c in zip(self.class_names, counts, strict=True)}

    def for_jitter(self, recipe: str | None) -> ClipArrays:
        """The arrays training needs under an official temporal-jitter recipe.

        ``jitter`` becomes the recipe's (N, 3) ranges
        (:func:`mmnet_jax.vision.frames.official_jitter`) capped by the stored frames, and
        ``apex_frames`` keeps only the frames those ranges reach (the frames after the
        apex are dropped when the recipe draws none). ``None`` (no temporal jitter) keeps
        only the labelled frames. Arrays made in memory (no ``bounds``), and records
        without frames, are returned as they are.

        Raises:
          DatasetError: the recipe draws frames after the apex and the records hold none
            (prepared by a builder version before the 3-class jitter).
        """
        if not self.has_frames:
            return self
        if recipe is None:
            return dataclasses.replace(
                self,
                onset_frames=self.onset_frames[:, :1],
                apex_frames=self.apex_frames[:, :1],
                jitter=np.zeros((len(self), 3), np.int32),
            )
        if self.bounds is None or self.stored is None:
            return self
        k = self.onset_frames.shape[1]
        official = np.asarray(
            [frames.official_jitter(*b, recipe) for b in self.bounds.tolist()], np.int32
        ).reshape(-1, 3)
        after = bool(official[:, 2].any())
        if after and self.apex_frames.shape[1] < 2 * k - 1:
            raise DatasetError(
                f"{self.dataset}: the {recipe} temporal jitter draws frames after the apex "
                "and these records hold none (prepared by an older builder version): "
                "prepare the dataset again with mmnet prepare"
            )
        ranges = np.minimum(official, self.stored)
        capped = self.ids[(official > self.stored).any(axis=1)].tolist()
        if capped:
            log.info(
                "%s: the %s jitter ranges of %d of %d clips are wider than their stored "
                "frames and draw from those only (%s%s)",
                self.dataset,
                recipe,
                len(capped),
                len(self),
                ", ".join(capped[:5]),
                ", ..." if len(capped) > 5 else "",
            )
        apex = self.apex_frames if after else self.apex_frames[:, :k]
        return dataclasses.replace(self, apex_frames=apex, jitter=ranges)

    def resized(self, size: int) -> ClipArrays:
        """A copy with every frame resized to ``size`` (area interpolation; the flow, of
        its own size, is kept)."""
        if not self.has_frames or size == self.image_size:
            return self

        def rs(stack):
            flat = stack.reshape(-1, *stack.shape[2:])
            out = np.stack(
                [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in flat]
            )
            return out.reshape(*stack.shape[:2], size, size, 3)

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
    flow = (
        np.stack([r["flow"] for r in records]).astype(np.float32) if "flow" in records[0] else None
    )
    if "onset_frames" not in records[0]:  # records of flow alone (flow_images)
        return ClipArrays(
            onset_frames=None,
            apex_frames=None,
            jitter=np.zeros((len(records), 3), np.int32),
            labels=np.asarray([r["label"] for r in records], np.int32),
            subjects=np.asarray([_text(r["subject"]) for r in records]),
            ids=np.asarray([_text(r["id"]) for r in records]),
            sources=np.asarray([_text(r.get("source", dataset)) for r in records]),
            class_names=list(class_names),
            dataset=dataset,
            flow=flow,
        )
    bounds = np.asarray([[r["onset"], r["apex"], r["offset"]] for r in records], np.int32)
    onset_numbers = np.stack([np.asarray(r["onset_frame_numbers"]) for r in records])
    apex_numbers = np.stack([np.asarray(r["apex_frame_numbers"]) for r in records])
    k = onset_numbers.shape[1]
    after = apex_numbers[:, k:].max(axis=1) if apex_numbers.shape[1] > k else bounds[:, 1]
    stored = np.stack(
        [
            onset_numbers.max(axis=1) - bounds[:, 0],
            bounds[:, 1] - apex_numbers[:, :k].min(axis=1),
            after - bounds[:, 1],
        ],
        axis=1,
    ).astype(np.int32)
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
        bounds=bounds,
        stored=stored,
        flow=flow,
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
    """The TFDS builder of a run config's ``data`` section (array_record files).

    ``prepared_image_size``, ``frames_per_side`` and ``prepared_flow_size`` (records
    prepared with ``mmnet prepare --flow S``; 0 or absent: none) select the derived
    config those records were built under.

    Raises:
      DatasetError: no such builder or builder config.
    """
    import tensorflow_datasets as tfds  # noqa: PLC0415 - only where records are read

    import tfds_builders  # noqa: F401, PLC0415 - registers the project's builders

    name = data_cfg.name
    try:
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
        # Records prepared with `mmnet prepare --flow S` (a build of its own): S, else 0.
        if int(data_cfg.get("prepared_flow_size", 0) or 0):
            kwargs["flow_size"] = int(data_cfg.prepared_flow_size)
        return tfds.builder(
            full, data_dir=data_cfg.data_dir or None, file_format="array_record", **kwargs
        )
    except tfds.core.registered.DatasetNotFoundError:
        # TFDS's own message lists its whole catalogue (~250 names); name ours.
        raise DatasetError(
            f"config.data.name={name!r} is not a dataset of this project; "
            f"known: {', '.join(project_builders())}"
        ) from None
    except ValueError as e:  # e.g. an unknown builder config
        first = str(e).strip().splitlines()[0]
        where = f"{name}/{data_cfg.get('builder_config', '')}"
        raise DatasetError(f"config.data ({where}): {first}") from None


def older_versions(builder) -> list[str]:
    """Versions of ``builder``'s config other than its own that hold prepared records in
    its data directory (e.g. written before a builder version bump)."""
    folder = epath.Path(builder.data_dir).parent
    if not folder.exists():
        return []
    own = str(builder.version)
    return sorted(
        p.name for p in folder.iterdir() if p.name != own and (p / "dataset_info.json").exists()
    )


def load(data_cfg) -> ClipArrays:
    """Load the dataset a run config names, building it first when that needs no files.

    The synthetic set is generated on demand. A licence-gated dataset must have been
    prepared with ``mmnet prepare``.

    Raises:
      DatasetError: an unknown dataset, or one not prepared (the message names the
        prepare command and the data directory searched).
    """
    synthetic = data_cfg.name == "synthetic_me"
    with quiet_tfds():
        builder = get_builder(data_cfg)
        prepared = builder.is_prepared()
    if not prepared and synthetic:
        log.info("generating the synthetic set into %s (no download)", builder.data_dir)
        with quiet_tfds(generating=True):
            builder.download_and_prepare()
    if not prepared and not synthetic:
        older = older_versions(builder)
        raise DatasetError(
            f"dataset {builder.info.full_name} is not prepared in {builder.data_dir}"
            + (
                f" (only older version(s) {', '.join(older)} of its records are there: "
                "its records have changed since, see the builder's RELEASE_NOTES)"
                if older
                else ""
            )
            + ": prepare it from your licensed copy first with mmnet prepare "
            f"--dataset {data_cfg.name}/{data_cfg.get('builder_config', '')} "
            f"--manual_dir /path/to/your/{data_cfg.name} "
            f"--image_size {int(data_cfg.get('prepared_image_size', 224))} "
            + (
                f"--flow {int(data_cfg.prepared_flow_size)} "
                if int(data_cfg.get("prepared_flow_size", 0) or 0)
                else ""
            )
            + f"--data_dir {data_cfg.data_dir or '~/tensorflow_datasets'} "
            "(see its --help for the layout it expects)"
        )
    names = builder.info.features["label"].names
    arrays = from_data_source(builder.as_data_source()["train"], names, builder.info.full_name)
    want = int(data_cfg.image_size)
    if arrays.image_size != want:
        log.info("resizing %s frames from %d to %d px", arrays.dataset, arrays.image_size, want)
        arrays = arrays.resized(want)
    return arrays
