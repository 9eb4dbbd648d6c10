"""Prepare a micro-expression dataset from the release folder its owners sent you.

Example::

    mmnet prepare --dataset casme2/5class --manual_dir ~/data/CASME2 \\
        --data_dir ~/tensorflow_datasets

Builds the records with ``file_format='array_record'`` (``tfds build`` needs TensorFlow)
and prints the build report's summary; the full report is ``build_report.json`` in the
dataset's version folder. An existing build is reused (a note says where);
``--overwrite`` rebuilds it from ``--manual_dir``. ``--flow S`` also stores each clip's
onset-to-apex optical flow (u, v, strain at S x S, the input of STSTNet-like models:
docs/flow.md) in a build of its own (config ``<config>_flow<S>``). The long-video
datasets (``casme2_lv``, ``samm_lv``: one record per video, for spotting) take
``--image_size``, ``--grayscale``, ``--face_crop``, ``--face_align`` and ``--face_every``
(not the clip options), and keep each video's prepared frames in a cache beside the
build, so an interrupted build resumes where it stopped. Exit status: 0 built or reused,
2 a user mistake (one ``error:`` line), 4 ``--strict`` stopped at a bad clip (or video,
or interval).
Datasets, the files each expects and the options: docs/data.md and tfds_builders/README.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import tensorflow_datasets as tfds
from absl import flags
from etils import epath

import tfds_builders
from mmnet_jax import cli
from mmnet_jax.data import records
from mmnet_jax.vision import flow
from tfds_builders import me_common

# Exit status when --strict stops at a bad clip (kept apart from 2: the data, not the
# command line, is at fault, and scripts tell the two apart).
EXIT_BAD_CLIP = cli.EXIT_BAD_CLIP


def prepare(
    dataset: str,
    manual_dir: str,
    data_dir: str,
    image_size: int | None = None,
    frames_per_side: int | None = None,
    face_crop: bool | None = None,
    strict: bool = False,
    overwrite: bool = False,
    face_align: bool | None = None,
    apex_method: str | None = None,
    flow_size: int | None = None,
    grayscale: bool | None = None,
    face_every: int | None = None,
) -> tfds.core.DatasetBuilder:
    """Builds ``dataset`` (``'name/config'``) into ``data_dir``; returns the builder.

    ``None`` options keep the config's defaults (224 px, 5 frames per side, the config's
    face crop and alignment, the middle frame as a missing apex, no flow; long videos:
    128 px grey, one face transform per video). ``grayscale`` and ``face_every`` are
    long-video options. An existing build is reused unless ``overwrite`` (then it is
    deleted and rebuilt from ``manual_dir``; a long-video build still takes its prepared
    videos from its cache, keyed by the frame files and options). Raises what the
    builder raises (missing files, strict-mode faults,
    :class:`mmnet_jax.vision.flow.FlowUnavailable` for a flow build without OpenCV's
    contrib module).
    """
    builder = _builder(
        dataset,
        data_dir,
        strict=strict,
        image_size=image_size,
        frames_per_side=frames_per_side,
        face_crop=face_crop,
        face_align=face_align,
        apex_method=apex_method,
        flow_size=flow_size,
        grayscale=grayscale,
        face_every=face_every,
    )
    mode = (
        tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS  # no downloads; data made afresh
        if overwrite
        else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir, download_mode=mode)
    )
    return builder


def _builder(dataset, data_dir, strict=False, **options):
    """``tfds.builder`` with the data options given (None: the config's default, and not
    passed: a builder takes only its own ``DATA_OPTIONS``)."""
    given = {k: v for k, v in options.items() if v is not None}
    with records.quiet_tfds():
        return tfds.builder(
            dataset,
            data_dir=data_dir,
            file_format="array_record",
            strict=strict or None,
            **given,
        )


def _release_builder(dataset: str) -> type[tfds.core.GeneratorBasedBuilder]:
    """The builder class of ``--dataset`` (``name[/config][:version]``).

    Raises:
      cli.UserError: naming the known builders, or the known configs of the builder.
    """
    name, _, config = dataset.split(":")[0].partition("/")
    known = tfds_builders.RELEASE_BUILDERS
    if name not in known:
        listing = "; ".join(f"{n}/{{{','.join(b.builder_configs)}}}" for n, b in known.items())
        hint = " (train.py generates synthetic_me itself)" if name == "synthetic_me" else ""
        cli.fail(f"--dataset {dataset}: unknown dataset{hint}; prepare builds {listing}")
    builder_cls = known[name]
    if config and config not in builder_cls.builder_configs:
        cli.fail(
            f"--dataset {dataset}: {name} has no config {config!r}; "
            f"known: {', '.join(builder_cls.builder_configs)}"
        )
    return builder_cls


def _check_manual_dir(
    manual_dir: epath.Path, builder_cls: type[tfds.core.GeneratorBasedBuilder]
) -> None:
    """A missing, non-folder or empty ``--manual_dir``: one line naming it and what the
    builder expects there (TFDS would raise an AssertionError traceback)."""
    expects = f"{builder_cls.name} expects {builder_cls.expected_files()}"
    if not manual_dir.exists():
        cli.fail(f"--manual_dir {manual_dir}: no such folder; {expects}")
    if not manual_dir.is_dir():
        cli.fail(f"--manual_dir {manual_dir}: not a folder; {expects}")
    if not any(manual_dir.iterdir()):
        cli.fail(f"--manual_dir {manual_dir}: the folder is empty; {expects}")


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "dataset", None, "name/config, e.g. casme2/5class (README.md lists them)", flag_values=fv
    )
    flags.DEFINE_string(
        "manual_dir", None, "the folder of the release, as its owners sent it", flag_values=fv
    )
    flags.DEFINE_string("data_dir", None, "TFDS data_dir to write into", flag_values=fv)
    flags.DEFINE_integer(
        "image_size",
        None,
        "side of the stored square frames (default 224; long videos 128)",
        lower_bound=8,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "frames_per_side",
        None,
        "K: the labelled onset and apex plus up to K - 1 temporal-jitter neighbours after "
        "the onset, before the apex and after the apex (default 5)",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "face_crop",
        None,
        "crop each clip to the face of its onset frame (--no_face_crop: frames as released); "
        "default: the config's (on for SAMM, CAS(ME)^3 and the long videos)",
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "face_align",
        None,
        "while cropping, locate the face's landmarks in the onset frame, level the eyes and "
        "crop a square, one transform for every frame of the clip (--noface_align: the "
        "plain Haar box); default: the config's (on for SAMM, CAS(ME)^3, megc2019's SAMM)",
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "apex_method",
        None,
        sorted(me_common.APEX_METHODS),
        "apex of a clip whose release has none (SMIC): middle frame, or spotted in "
        "[onset, offset] (detrended: see mmnet_jax.vision.spot); default: middle",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "flow",
        None,
        "also store each clip's onset-to-apex optical flow (TV-L1 u, v and optical strain "
        "of the face crops, (S, S, 3) float32) at S x S, e.g. 28 for STSTNet-like models; "
        "a build of its own (config <config>_flow<S>); default: no flow",
        lower_bound=me_common.MIN_FLOW_SIZE,
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "grayscale",
        None,
        "long videos: store grey frames (default) or, with --nograyscale, RGB",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "face_every",
        None,
        "long videos: locate the face every N frames and interpolate the crop between "
        "(default 0: one transform per video, from the first frame showing a face)",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "strict",
        False,
        "stop at the first clip that would be skipped or estimated (default: report it)",
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "overwrite",
        False,
        "delete an existing build in --data_dir and rebuild it from --manual_dir "
        "(default: reuse it)",
        flag_values=fv,
    )
    for name in ("dataset", "manual_dir", "data_dir"):
        flags.mark_flag_as_required(name, flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    builder_cls = _release_builder(fv.dataset)
    manual_dir = epath.Path(fv.manual_dir).expanduser()
    data_dir = epath.Path(fv.data_dir).expanduser()
    _check_manual_dir(manual_dir, builder_cls)
    if data_dir.exists() and not data_dir.is_dir():
        cli.fail(f"--data_dir {data_dir}: is a file, not a folder")
    options = dict(
        image_size=fv.image_size,
        frames_per_side=fv.frames_per_side,
        face_crop=fv.face_crop,
        strict=fv.strict,
        face_align=fv.face_align,
        apex_method=fv.apex_method,
        flow_size=fv.flow,
        grayscale=fv.grayscale,
        face_every=fv.face_every,
    )
    _check_options(builder_cls, options)
    if fv.face_align and fv.face_crop is False:
        cli.fail("--face_align crops the face: it cannot go with --noface_crop")
    if fv.flow and not flow.contrib_available():
        cli.fail(f"--flow {fv.flow}: {flow.CONTRIB_HINT}")
    existing = _builder(fv.dataset, str(data_dir), **options)
    with records.quiet_tfds():
        reuse = existing.is_prepared() and not fv.overwrite
    if reuse:
        _note_reuse(existing, manual_dir)
    try:
        builder = prepare(
            fv.dataset, str(manual_dir), str(data_dir), overwrite=fv.overwrite, **options
        )
    except me_common.BadClipError as e:
        print(cli.error_line(_first_line(e)), file=sys.stderr)
        return EXIT_BAD_CLIP
    except (me_common.SourceNotFoundError, me_common.SheetFormatError) as e:
        cli.fail(_first_line(e))
    except flow.FlowUnavailable as e:
        cli.fail(f"--flow {fv.flow}: {e}")
    except me_common.NoClipsError as e:
        cli.fail(f"{_first_line(e).rstrip('.')}; the summary above says why")
    report = me_common.read_report(builder)
    if "intervals" in report:  # a long-video build
        print(me_common.summarize_videos(report, max_items=20))
    else:
        print(me_common.summarize(report, max_clips=20))
    print(f"report: {builder.data_dir}/{me_common.REPORT_FILENAME}")
    return cli.EXIT_OK


# The flag of each builder option (the builders' keyword -> mmnet prepare's flag).
_FLAGS = {"flow_size": "flow"}


def _check_options(builder_cls, options: dict) -> None:
    """A data option the builder does not take (e.g. --image_size for flow_images, whose
    images are stored as released; --frames_per_side for a long-video dataset): one line
    naming the flag, and the ones the builder takes."""
    accepted = getattr(builder_cls, "DATA_OPTIONS", ())
    for name, value in options.items():
        if name != "strict" and value is not None and name not in accepted:
            flag = f"--{_FLAGS.get(name, name)}"
            if not accepted:
                cli.fail(
                    f"{flag}: {builder_cls.name} stores its images as released and takes no "
                    "such option"
                )
            takes = ", ".join(f"--{_FLAGS.get(a, a)}" for a in accepted)
            cli.fail(f"{flag}: {builder_cls.name} takes no such option (it takes {takes})")


def _note_reuse(builder: tfds.core.DatasetBuilder, manual_dir: epath.Path) -> None:
    """Say that the existing build is reused, what it was made from, and how to rebuild."""
    try:
        made_from = me_common.read_report(builder).get("manual_dir")
    except (OSError, ValueError):
        made_from = None
    source = f" (made from {made_from})" if made_from else ""
    if made_from and made_from != os.path.abspath(os.fspath(manual_dir)):
        source = f" (made from {made_from}, not from --manual_dir)"
    cli.note(
        f"reusing the existing build in {builder.data_dir}{source}; "
        "--overwrite rebuilds it from --manual_dir"
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
