"""Apex spotting on synthetic clips whose true apex is known: each method's error.

    python benchmarks/apex_spotting.py --seed 1 --subjects 8 --clips_per_subject 5

The clips come from ``tfds_builders.synthetic_me``'s generator (head drift, lighting
change and sensor noise); each method (:mod:`mmnet_jax.vision.spot`) searches the clip's
whole [onset, offset]. The parameters were tuned on seed 0.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402
from mmnet_jax.reporting import tables  # noqa: E402
from mmnet_jax.vision import spot  # noqa: E402
from tfds_builders.synthetic_me import generator  # noqa: E402


def measure_synthetic(
    seed: int = 1, subjects: int = 8, clips_per_subject: int = 5, image_size: int = 64
) -> dict[str, np.ndarray]:
    """Absolute apex error in frames of each method on synthetic clips (the generator of
    ``tfds_builders.synthetic_me``, whose clips carry head drift, lighting change and
    sensor noise): ``{method: int array (clips,)}``, searching each clip's whole
    [onset, offset]."""
    errors: dict[str, list[int]] = {m: [] for m in spot.METHODS}
    for identity, clips in generator.plan_dataset(seed, subjects, clips_per_subject):
        for spec in clips:
            numbers = range(spec.onset, spec.offset + 1)
            clip = generator.render_frames(identity, spec, numbers, image_size)
            for method in spot.METHODS:
                found = spot.spot_apex(clip, method=method).apex + spec.onset
                errors[method].append(abs(found - spec.apex))
    return {m: np.asarray(e) for m, e in errors.items()}


def error_table(errors: dict[str, np.ndarray]) -> str:
    """A Markdown table: median and 90th-percentile error (frames) per method."""
    rows = [
        [method, f"{np.median(e):.1f}", f"{np.percentile(e, 90):.1f}", len(e)]
        for method, e in errors.items()
    ]
    header = ["method", "median error (frames)", "90th percentile (frames)", "clips"]
    return "\n".join(tables.table(header, rows))


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_integer(
        "seed", 1, "generator seed (parameters were tuned on seed 0)", flag_values=fv
    )
    flags.DEFINE_integer("subjects", 8, "synthetic subjects", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("clips_per_subject", 5, "clips per subject", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("image_size", 64, "frame side in pixels", lower_bound=16, flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    errors = measure_synthetic(fv.seed, fv.subjects, fv.clips_per_subject, fv.image_size)
    print(error_table(errors))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the apex-spotting error table; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
