"""Which channel of a folder of flow images holds u, v and the optical strain.

    python benchmarks/flow_channels.py --images path/to/norm_u_v_os

Reads every ``.png`` under ``--images`` with ``cv2.imread`` (OpenCV's BGR order, as the
field's code reads them) and prints, per channel of that array: its mean, median and
skewness over all pixels (the strain is non-negative before normalisation, so its
normalised values sit near 0 with a long tail, while u and v centre on mid-grey), the
median correlation of each image with its mirror image (on faces, the horizontal flow is
antisymmetric about the face's midline, the vertical flow symmetric), and, for the two
remaining channels, which assignment (u, v) explains the strain channel better: the
strain of each candidate pair, with the unknown per-channel scale of the min-max
normalisation fitted, correlated with the strain channel (the fraction of images each
assignment wins). For a folder in the STSTNet release's layout
(``<subject>/u_test/<class>/<name>.png``, classes 0 negative, 1 positive, 2 surprise), it
also prints, per class, how far each channel lies from the image's median in the upper
third of the face (brows) and in the lower left and right thirds (mouth corners): signs
that tell the direction of each flow channel. docs/flow.md gives the figures for the
STSTNet release's images.
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

# Ratios of the u scale to the v scale tried when fitting the strain (the min-max
# normalisation scales each channel by its own unknown factor).
_RATIOS = np.exp(np.linspace(-3.0, 3.0, 31))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _strain_fit(u: np.ndarray, v: np.ndarray, s: np.ndarray) -> float:
    """The best correlation of ``s`` with the strain of ``(r u, v)`` over scale ratios r."""
    return max(_corr(flow.strain(u * r, v), s) for r in _RATIOS)


def channel_evidence(images: np.ndarray) -> dict:
    """Statistics of (N, H, W, 3) images in ``cv2.imread`` order (see the module
    docstring) and the channel assignment they point to.

    Returns:
      ``{"channels": [{"mean", "median", "skew", "mirror_corr"} per array channel],
      "strain": index, "u": index, "v": index, "u_v_wins": fraction of images where the
      chosen (u, v) explains the strain channel better than the swap,
      "fit": (median fit chosen, median fit swapped)}``. The strain is the channel with
      the largest skew; u and v are then ordered by the strain fit.
    """
    x = np.asarray(images, np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) images, got {x.shape}")
    stats = []
    for c in range(3):
        values = x[..., c].ravel()
        spread = values.std()
        skew = float(((values - values.mean()) ** 3).mean() / spread**3) if spread > 0 else 0.0
        mirror = np.median([_corr(im[..., c], im[:, ::-1, c]) for im in x])
        stats.append(
            {
                "mean": float(values.mean()),
                "median": float(np.median(values)),
                "skew": skew,
                "mirror_corr": float(mirror),
            }
        )
    s = int(np.argmax([c["skew"] for c in stats]))
    a, b = (c for c in range(3) if c != s)
    # Hypothesis 1: u = a, v = b; hypothesis 2: u = b, v = a.
    fit1 = np.array([_strain_fit(im[..., a], im[..., b], im[..., s]) for im in x])
    fit2 = np.array([_strain_fit(im[..., b], im[..., a], im[..., s]) for im in x])
    u, v = (a, b) if np.median(fit1) >= np.median(fit2) else (b, a)
    wins = fit1 > fit2 if u == a else fit2 > fit1
    chosen, swapped = (fit1, fit2) if u == a else (fit2, fit1)
    return {
        "images": len(x),
        "channels": stats,
        "strain": s,
        "u": u,
        "v": v,
        "u_v_wins": float(np.mean(wins)),
        "fit": (float(np.median(chosen)), float(np.median(swapped))),
    }


def regional_motion(images: np.ndarray) -> dict[str, np.ndarray]:
    """Mean of each channel minus its image's median (zero motion, for most of a face is
    still) over (N, H, W, 3) images: ``{"upper third", "lower left", "lower right"}`` ->
    (3,) per channel."""
    x = np.asarray(images, np.float64)
    x = x - np.median(x.reshape(len(x), -1, 3), axis=1)[:, None, None, :]
    h, w = x.shape[1:3]
    return {
        "upper third": x[:, : h // 3].mean(axis=(0, 1, 2)),
        "lower left": x[:, h - h // 3 :, : w // 2].mean(axis=(0, 1, 2)),
        "lower right": x[:, h - h // 3 :, w - w // 2 :].mean(axis=(0, 1, 2)),
    }


def read_folder(folder: pathlib.Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Every ``.png`` under ``folder`` (``cv2.imread``, BGR uint8) of the most common
    size, the name of the folder above each (its class in the release layout), and the
    files skipped (another size or unreadable)."""
    images, skipped = [], []
    for path in sorted(folder.rglob("*.png")):
        image = cv2.imread(str(path))
        if image is None:
            skipped.append(f"{path}: unreadable")
            continue
        images.append((path, image))
    if not images:
        return np.zeros((0, 1, 1, 3), np.uint8), [], skipped
    shapes = [im.shape for _, im in images]
    common = max(set(shapes), key=shapes.count)
    skipped += [f"{p}: shape {im.shape}" for p, im in images if im.shape != common]
    kept = [(p, im) for p, im in images if im.shape == common]
    return np.stack([im for _, im in kept]), [p.parent.name for p, _ in kept], skipped


def report(evidence: dict) -> str:
    lines = [
        f"{evidence['images']} images; per channel of the cv2.imread array:",
        "| channel | mean | median | skew | mirror correlation |",
        "|---|---|---|---|---|",
    ]
    for c, st in enumerate(evidence["channels"]):
        lines.append(
            f"| {c} | {st['mean']:.1f} | {st['median']:.1f} | {st['skew']:.2f} "
            f"| {st['mirror_corr']:.3f} |"
        )
    chosen, swapped = evidence["fit"]
    lines.append(
        f"strain: channel {evidence['strain']} (largest skew); u: channel {evidence['u']}, "
        f"v: channel {evidence['v']}: their strain explains the strain channel better in "
        f"{100 * evidence['u_v_wins']:.1f} % of images (median correlation {chosen:.3f} "
        f"against {swapped:.3f} swapped)"
    )
    return "\n".join(lines)


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("images", None, "folder of flow images (searched recursively)",
                        flag_values=fv)  # fmt: skip
    flags.mark_flag_as_required("images", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    folder = pathlib.Path(fv.images).expanduser()
    if not folder.is_dir():
        cli.fail(f"--images {folder}: no such folder")
    images, classes, skipped = read_folder(folder)
    if not len(images):
        cli.fail(f"--images {folder}: no readable .png image in it")
    for line in skipped[:5]:
        cli.note(f"skipped {line}")
    print(report(channel_evidence(images)))
    names = {"0": "negative", "1": "positive", "2": "surprise"}
    if set(classes) <= set(names):
        print("per class, mean of each channel minus its image's median (channels 0, 1, 2):")
        for code in sorted(set(classes)):
            chosen = images[np.asarray(classes) == code]
            parts = [
                f"{region} {np.array2string(values, precision=1)}"
                for region, values in regional_motion(chosen).items()
            ]
            print(f"  {code} {names[code]} ({len(chosen)}): " + "; ".join(parts))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the channel evidence of a folder of flow images; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
