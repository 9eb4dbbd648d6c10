"""How long the onset-to-apex flow of one clip takes, by crop size, on this machine.

    python benchmarks/flow_timing.py --sizes 140x170,280x340,520x520 --repeats 5

Times :func:`mmnet_jax.vision.flow.features` (TV-L1 at the crop's full size, the strain,
the resize to ``--out_size``) as ``mmnet prepare --flow`` runs it once per clip, on a
real photograph (scikit-image's astronaut, her face region in grey) resized to each
``WxH`` and the same face magnified by 1 % about its centre (a small real motion). The
figure is the median of ``--repeats`` runs after one warm-up; OpenCV's thread count is
printed (it parallelises TV-L1 over rows). CASME II's faces are about 280 x 340 px (its
owners' figure); SAMM's aligned crops about 520 px.
"""

from __future__ import annotations

import pathlib
import sys
import time
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402
from mmnet_jax.vision import flow  # noqa: E402


def _pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage import data as skdata  # noqa: PLC0415 - a test extra

    grey = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY)
    face = cv2.resize(grey[30:240, 150:330], (width, height), interpolation=cv2.INTER_CUBIC)
    scale = 1.01
    m = np.array(
        [[scale, 0, (width - 1) / 2 * (1 - scale)], [0, scale, (height - 1) / 2 * (1 - scale)]]
    )
    apex = cv2.warpAffine(face, m, (width, height), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return face, apex


def measure(sizes: Sequence[tuple[int, int]], repeats: int, out_size: int) -> list[dict]:
    """``[{"width", "height", "median_s", "min_s", "max_s"}]``, one per size."""
    rows = []
    for width, height in sizes:
        onset, apex = _pair(width, height)
        flow.features(onset, apex, out_size)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            flow.features(onset, apex, out_size)
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "width": width,
                "height": height,
                "median_s": float(np.median(times)),
                "min_s": float(min(times)),
                "max_s": float(max(times)),
            }
        )
    return rows


def _sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        w, _, h = part.strip().lower().partition("x")
        if not (w.isdigit() and h.isdigit()) or min(int(w), int(h)) < 2:
            cli.fail(f"--sizes {text}: {part!r} is not WxH (e.g. 140x170)")
        sizes.append((int(w), int(h)))
    return sizes


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "sizes", "140x170,280x340,520x520", "crop sizes, WxH, comma-separated", flag_values=fv
    )
    flags.DEFINE_integer("repeats", 5, "timed runs per size", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("out_size", 28, "the flow's output side", lower_bound=2, flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    sizes = _sizes(fv.sizes)
    if not flow.contrib_available():
        cli.fail(flow.CONTRIB_HINT)
    rows = measure(sizes, fv.repeats, fv.out_size)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads; median of {fv.repeats}")
    print("| crop (W x H) | seconds per clip (median) | min | max |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['width']} x {r['height']} | {r['median_s']:.3f} | {r['min_s']:.3f} "
            f"| {r['max_s']:.3f} |"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the flow timing table; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
