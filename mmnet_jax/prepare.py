"""Prepare a micro-expression dataset from its manual download (``tfds build`` needs
TensorFlow; this does the same with ``file_format='array_record'``).

Command::

    python -m mmnet_jax.prepare --dataset casme2/5class --manual_dir ~/data/CASME2 \\
        --data_dir ~/tensorflow_datasets [--image_size 224] [--frames_per_side 5] \\
        [--face_crop | --no_face_crop] [--strict]

Datasets: casme2/{5class,3class}, samm/{5class,3class}, mmew/4class,
casme3/{4class,3class,7class}, smic/3class, megc2019/3class (see each builder's
MANUAL_DOWNLOAD_INSTRUCTIONS for the layout of ``--manual_dir``). Prints the build report
summary; the full report is ``build_report.json`` in the dataset's version folder.
"""

from __future__ import annotations

import argparse
import sys

import tensorflow_datasets as tfds

import tfds_builders  # noqa: F401  (registers the builders)
from tfds_builders import me_common


def prepare(
    dataset: str,
    manual_dir: str,
    data_dir: str,
    image_size: int | None = None,
    frames_per_side: int | None = None,
    face_crop: bool | None = None,
    strict: bool = False,
) -> tfds.core.DatasetBuilder:
    """Builds ``dataset`` (``'name/config'``) into ``data_dir``; returns the builder.

    ``None`` options keep the config's defaults (224 px, 5 frames per side, the config's
    face crop). Raises what the builder raises (missing files, strict-mode faults).
    """
    builder = tfds.builder(
        dataset,
        data_dir=data_dir,
        file_format="array_record",
        image_size=image_size,
        frames_per_side=frames_per_side,
        face_crop=face_crop,
        strict=strict or None,
    )
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
    return builder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="name/config, e.g. casme2/5class")
    parser.add_argument("--manual_dir", required=True, help="the folder of the release")
    parser.add_argument("--data_dir", required=True, help="TFDS data_dir to write into")
    parser.add_argument("--image_size", type=int, default=None, help="default 224")
    parser.add_argument("--frames_per_side", type=int, default=None, help="default 5")
    crop = parser.add_mutually_exclusive_group()
    crop.add_argument("--face_crop", dest="face_crop", action="store_true", default=None)
    crop.add_argument("--no_face_crop", dest="face_crop", action="store_false")
    parser.add_argument(
        "--strict", action="store_true", help="fail on the first bad clip (default: report it)"
    )
    args = parser.parse_args(argv)
    try:
        builder = prepare(
            args.dataset,
            args.manual_dir,
            args.data_dir,
            image_size=args.image_size,
            frames_per_side=args.frames_per_side,
            face_crop=args.face_crop,
            strict=args.strict,
        )
    except (me_common.SourceNotFoundError, me_common.SheetFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except me_common.BadClipError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    report = me_common.read_report(builder)
    print(me_common.summarize(report, max_clips=20))
    print(f"report: {builder.data_dir}/{me_common.REPORT_FILENAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
