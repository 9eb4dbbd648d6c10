"""The strain at the output size: the full-size strain resized, or recomputed from the
resized flow? Both, against the true strain of a known deformation.

    python benchmarks/flow_strain.py --size 112 --out_size 28

A real photograph (scikit-image's astronaut, her face region in grey, ``--size`` px) is
warped by a known local motion, a vertical displacement of ``--amplitude`` px with a
Gaussian profile of width sigma about the brows (the kind of motion a micro-expression
makes); TV-L1 recovers the flow at full size. Printed per sigma: the mean absolute error
and the correlation, over the interior of the ``--out_size`` image (3 px from the
border), of (a) the full-size strain resized (what :func:`mmnet_jax.vision.flow.features`
stores) and (b) the strain recomputed from the resized flow, each against the true
strain (of the known displacement, resized); and where the full-size strain peaks.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402
from mmnet_jax.vision import flow  # noqa: E402


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def compare(size: int, out_size: int, amplitude: float, sigmas: Sequence[float]) -> list[dict]:
    from skimage import data as skdata  # noqa: PLC0415 - a test extra

    grey = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    face = cv2.resize(grey[30:240, 150:330], (size, size), interpolation=cv2.INTER_AREA)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    inner = slice(3, out_size - 3)
    rows = []
    for sigma in sigmas:
        r2 = (x - size / 2) ** 2 + (y - 0.36 * size) ** 2
        v = (-amplitude * np.exp(-r2 / (2 * sigma**2))).astype(np.float32)
        # The onset pixel p moves to p + (0, v(p)): apex(q) ~ onset(q - (0, v(q))).
        apex = cv2.remap(face, x, y - v, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        full = flow.features(face, apex)
        u1, v1, resized = flow.resize_flow(full[..., 0], full[..., 1], full[..., 2], out_size)
        recomputed = flow.strain(u1, v1)
        true = flow.strain(np.zeros_like(v), v)
        true = cv2.resize(true, (out_size, out_size), interpolation=cv2.INTER_AREA)
        peak_y, peak_x = np.unravel_index(np.argmax(full[..., 2]), full.shape[:2])
        rows.append(
            {
                "sigma": sigma,
                "mae_resized": float(np.abs(resized - true)[inner, inner].mean()),
                "mae_recomputed": float(np.abs(recomputed - true)[inner, inner].mean()),
                "corr_resized": _corr(resized[inner, inner], true[inner, inner]),
                "corr_recomputed": _corr(recomputed[inner, inner], true[inner, inner]),
                "full_peak": (int(peak_x), int(peak_y)),
            }
        )
    return rows


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_integer("size", 112, "the face crop's side", lower_bound=16, flag_values=fv)
    flags.DEFINE_integer("out_size", 28, "the flow's output side", lower_bound=8, flag_values=fv)
    flags.DEFINE_float("amplitude", 1.5, "largest displacement, pixels", flag_values=fv)
    flags.DEFINE_list("sigmas", ["4", "8", "16"], "widths of the motion, pixels",
                      flag_values=fv)  # fmt: skip


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    try:
        sigmas = [float(s) for s in fv.sigmas]
    except ValueError:
        cli.fail(f"--sigmas {','.join(fv.sigmas)}: not numbers")
    if not flow.contrib_available():
        cli.fail(flow.CONTRIB_HINT)
    print(
        "| sigma (px) | MAE resized | MAE recomputed | corr resized | corr recomputed "
        "| full-size strain peak (x, y) |"
    )
    print("|---|---|---|---|---|---|")
    for r in compare(fv.size, fv.out_size, fv.amplitude, sigmas):
        print(
            f"| {r['sigma']:g} | {r['mae_resized']:.4f} | {r['mae_recomputed']:.4f} "
            f"| {r['corr_resized']:.3f} | {r['corr_recomputed']:.3f} | {r['full_peak']} |"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the strain comparison; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
