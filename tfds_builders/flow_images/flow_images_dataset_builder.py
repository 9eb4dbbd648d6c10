"""The STSTNet release's flow images (``norm_u_v_os``): the MEGC 2019 composite's 442 clips
as 28 x 28 optical-flow images (manual download).

The release (Liong et al., FG 2019; also shipped inside the HTNet repository as
``datasets/three_norm_u_v_os/``) holds, per LOSO subject,
``<subject>/u_train/<class>/<name>.png`` (the other subjects' clips) and
``<subject>/u_test/<class>/<name>.png`` (the subject's own): 28 x 28 x 3 PNGs whose red,
green and blue are the horizontal flow u, the vertical flow v and the optical strain
from the onset to the apex frame, each min-max normalised to 0..255; class folders
``0`` negative, ``1`` positive, ``2`` surprise; names ``<subject>_<clip> .png`` (a space
before the suffix). Each clip is read once, from its subject's ``u_test``; the subject
is the top folder.

Records: ``id`` (``<subject>/<clip>``), ``subject``, ``clip``, ``source`` (``casme2``
for ``sub..`` subjects, ``smic`` for ``s..``, ``samm`` for numbers; ``unknown`` else),
``label`` (positive, surprise, negative: the project's 3-class order, mapped from the
folder codes), ``file`` (the image's path inside the release) and ``flow``: float32 (28,
28, 3) channels (u, v, strain), the image's values (0..255), reordered from the
``cv2.imread`` array by :data:`mmnet_jax.vision.flow.FIELD_CHANNELS`. These are ALREADY
min-max normalised per channel and image (the ``flow`` feature's documentation and the
dataset's ``metadata.json`` say so), unlike the raw flow of ``mmnet prepare --flow``.

An image of another size, not 8-bit with 3 channels, or unreadable is skipped, one line
in ``build_report.json``; strict mode (``strict=True``, ``MMNET_TFDS_STRICT=1``,
``mmnet prepare --strict``) stops at it.
"""

from __future__ import annotations

import os
import re
from typing import Any

import cv2
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from mmnet_jax.vision import flow
from tfds_builders import clip_features as cf
from tfds_builders import me_common

SIZE = 28
RELEASE = "norm_u_v_os"
TEST_FOLDER = "u_test"
EXAMPLE = "norm_u_v_os/006/u_test/0/006_006_1_2 .png"
CLASSES_3 = ("positive", "surprise", "negative")
CODES = {"0": "negative", "1": "positive", "2": "surprise"}

# Reasons (stable strings: the report and the tests use them).
UNREADABLE_IMAGE = "unreadable image"
WRONG_SIZE = f"image not {SIZE}x{SIZE}"
WRONG_FORMAT = "image not 8-bit with 3 channels"
UNKNOWN_CLASS = "class folder not 0, 1 or 2"
NO_TEST_FOLDER = f"no {TEST_FOLDER} folder"

_SOURCES = ((re.compile(r"^sub\d+$", re.I), "casme2"), (re.compile(r"^s\d+$", re.I), "smic"),
            (re.compile(r"^\d+$"), "samm"))  # fmt: skip
NORMALISED = (
    "optical flow from the onset to the apex frame as the STSTNet release stores it: "
    "channels u, v, strain, each ALREADY min-max normalised to 0..255 per image (the "
    "PNG's red, green, blue), not pixels"
)


def source_of(subject: str) -> str:
    """The release a subject folder comes from: ``sub01`` casme2, ``s01`` smic, ``006``
    samm, else ``unknown``."""
    for pattern, name in _SOURCES:
        if pattern.match(subject):
            return name
    return "unknown"


def clip_name(subject: str, file_name: str) -> str:
    """``('006', '006_006_1_2 .png')`` -> ``'006_1_2'``: the stem without the trailing
    space and without the ``<subject>_`` prefix the release adds."""
    stem = file_name[: -len(".png")] if file_name.lower().endswith(".png") else file_name
    stem = stem.strip()
    prefix = f"{subject}_"
    return stem[len(prefix) :] if stem.startswith(prefix) and len(stem) > len(prefix) else stem


def _is_root(folder: epath.Path) -> bool:
    return any((child / TEST_FOLDER).is_dir() for child in me_common.list_dirs(folder))


def find_root(manual_dir: epath.PathLike, max_depth: int = 4) -> epath.Path:
    """The release folder: the shallowest folder whose subject folders hold ``u_test``,
    one named ``norm_u_v_os`` first.

    Raises:
      me_common.SourceNotFoundError: naming the layout expected and where.
    """
    manual_dir = epath.Path(manual_dir)
    root = me_common.shallowest(manual_dir, _is_root, RELEASE, max_depth)
    if root is None:
        raise me_common.SourceNotFoundError(
            f"no flow images under {manual_dir}: expected {EXAMPLE} (subject folders "
            f"holding {TEST_FOLDER}/<class>/<name>.png), at most {max_depth} folders deep"
        )
    return root


def read_image(path: epath.Path) -> tuple[np.ndarray | None, str, str]:
    """``(flow (28, 28, 3) float32 (u, v, strain) or None, reason, detail)``."""
    data = np.frombuffer(path.read_bytes(), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return None, UNREADABLE_IMAGE, "OpenCV cannot decode it"
    if image.shape[:2] != (SIZE, SIZE):
        h, w = image.shape[:2]
        return None, WRONG_SIZE, f"{w}x{h}"
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype != np.uint8 or channels != 3:
        return None, WRONG_FORMAT, f"{image.dtype}, {channels} channel(s)"
    return flow.from_field_image(image), "", ""


class Builder(tfds.core.GeneratorBasedBuilder):
    """The STSTNet release's flow images, one record per clip (from ``u_test``)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    HOMEPAGE = "https://github.com/christy1206/STSTNet"
    EXPECTED_FILES = f"the flow images laid out as {EXAMPLE}"
    # mmnet prepare's data options this builder takes (the images are stored as released).
    DATA_OPTIONS: tuple[str, ...] = ()
    BUILDER_CONFIGS = [
        me_common.MeConfig(
            name="3class",
            description="The release's 3 classes (folders 0 negative, 1 positive, 2 "
            "surprise) in the project's order positive, surprise, negative; flow as "
            "released (min-max normalised 0..255).",
            class_names=CLASSES_3,
            class_map=tuple(CODES.items()),
            image_size=SIZE,
            flow_size=SIZE,
        )
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
The STSTNet authors' flow images (`norm_u_v_os`, linked from
https://github.com/christy1206/STSTNet; the same images are in the HTNet repository as
`datasets/three_norm_u_v_os/`). Put into `manual_dir`, at any depth up to 4 folders, the
folder as released: `norm_u_v_os/006/u_test/0/006_006_1_2 .png` (subject / `u_test` or
`u_train` / class 0 negative, 1 positive, 2 surprise / 28 x 28 PNG). Each clip is read
from its subject's `u_test` folder.
"""

    def __init__(self, *, strict: bool | None = None, **kwargs: Any):
        options = me_common.ClipBuilder.DATA_OPTIONS
        given = [k for k in options if kwargs.pop(k, None) is not None]
        if given:
            raise ValueError(
                f"{self.name}: the images are stored as released; no option {', '.join(given)}"
            )
        self.strict = me_common.env_strict() if strict is None else bool(strict)
        super().__init__(**kwargs)

    @classmethod
    def expected_files(cls) -> str:
        return cls.EXPECTED_FILES

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "id": tfds.features.Text(),
                    "subject": tfds.features.Text(),
                    "clip": tfds.features.Text(),
                    "source": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=list(config.class_names)),
                    "file": tfds.features.Text(),
                    "flow": cf.flow_feature(SIZE, NORMALISED, "0..255"),
                }
            ),
            homepage=self.HOMEPAGE,
            metadata=tfds.core.MetadataDict(flow=flow_metadata()),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = epath.Path(os.path.abspath(dl_manager.manual_dir))
        root = find_root(manual_dir)
        return {"train": self._generate_examples(root, manual_dir)}

    def _generate_examples(self, root: epath.Path, manual_dir: epath.Path):
        config = self.builder_config
        report = me_common.BuildReport(
            self.name, config, str(self.version), os.fspath(manual_dir), self.strict
        )
        report.sources[RELEASE] = {"frames": os.fspath(root), "face_crop": False}
        report.flow = {**flow_metadata(), "records": 0}
        seen: set[str] = set()
        for subject_dir in me_common.list_dirs(root):
            subject = subject_dir.name
            test = subject_dir / TEST_FOLDER
            if not test.is_dir():
                self._skip(report, subject, NO_TEST_FOLDER, "a subject folder without it",
                           os.fspath(subject_dir))  # fmt: skip
                continue
            for class_dir in me_common.list_dirs(test):
                for path in sorted(class_dir.iterdir(), key=lambda p: p.name):
                    if path.is_dir() or not path.name.lower().endswith(".png"):
                        continue
                    clip = clip_name(subject, path.name)
                    key = f"{subject}/{clip}"
                    where = os.fspath(path)
                    label = config.label_of(RELEASE, class_dir.name)
                    if label is None:
                        self._skip(report, key, UNKNOWN_CLASS, f"folder {class_dir.name!r}",
                                   where)  # fmt: skip
                        continue
                    if key in seen:
                        self._skip(report, key, me_common.DUPLICATE_CLIP,
                                   "another class folder has the same clip", where)  # fmt: skip
                        continue
                    seen.add(key)
                    image, reason, detail = read_image(path)
                    if image is None:
                        self._skip(report, key, reason, detail, where)
                        continue
                    report.add(key, me_common.KEPT, label=label)
                    report.flow["records"] += 1
                    yield (
                        key,
                        {
                            "id": key,
                            "subject": subject,
                            "clip": clip,
                            "source": source_of(subject),
                            "label": label,
                            "file": os.fspath(path.relative_to(root)),
                            "flow": image,
                        },
                    )
        path = report.write(self.data_dir)
        summary = me_common.summarize(report.to_dict())
        logging.info("Build report written to %s\n%s", path, summary)
        print(summary, flush=True)
        if not report.counts[me_common.KEPT]:
            raise me_common.NoClipsError(
                f"{self.name}/{config.name}: no clip could be built.\n{summary}"
            )

    def _skip(self, report, key: str, reason: str, detail: str, where: str) -> None:
        problem = me_common.ClipProblem(me_common.SKIPPED, reason, detail, where)
        if self.strict:
            raise me_common.BadClipError(f"strict mode: clip {key} ({where}): {reason}: {detail}")
        report.add(key, me_common.SKIPPED, [problem])


def flow_metadata() -> dict[str, Any]:
    """What the records' ``flow`` holds (``metadata.json`` and the build report)."""
    return {
        "size": SIZE,
        "channels": list(flow.CHANNELS),
        "units": "0..255: each channel min-max normalised per image by the release",
        "normalised": True,
        "computed_on": "the STSTNet release's norm_u_v_os images (PNG red u, green v, "
        "blue strain), read with cv2.imread and reordered by FIELD_CHANNELS",
        "field_channels": dict(flow.FIELD_CHANNELS),
    }
