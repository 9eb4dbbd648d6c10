"""Show where a trained MMNet looks: its four CA attention maps and the motion it reads.

Command (same model and input options as ``mmnet_jax.predict``)::

    python -m mmnet_jax.explain --workdir WORKDIR --onset A.jpg --apex B.jpg --out OUT_DIR
    python -m mmnet_jax.explain --workdir WORKDIR --clip_dir D --onset_frame 46 \\
        --apex_frame 59 --out OUT_DIR
    python -m mmnet_jax.explain --model_dir MODEL_DIR --csv pairs.csv --out OUT_DIR

For each pair it writes, under OUT_DIR (``<id>`` is the pair's id, made file-safe):

- ``<id>_explain.png``: one figure, as in the paper's figures: the onset and apex
  frames, the motion image, the class probabilities, and the attention map of each CA
  stage overlaid on the onset frame;
- ``<id>_stage1.png`` .. ``<id>_stage4.png``: each stage's map over the onset frame;
- ``<id>_motion.png``: the motion image.

The maps are the continuous attention of the CA blocks (each stage's sigmoid map times
the pooled map of the stage before; 112/56/28/14 px at 224), upsampled bilinearly to the
onset frame's own size and min-max stretched for display (the figure states each map's
raw range). The motion image is apex - onset in the model's normalised input space,
stretched symmetrically: mid-grey is no change, the 99.5th percentile of |motion| maps
to black or white. Paths written are printed to stdout, one per line.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import jax
import numpy as np
from flax import nnx

from mmnet_jax import io_utils, predict

STAGES = 4


@functools.partial(jax.jit, static_argnums=(0, 1))
def _explain(graphdef, norm, state, onset, apex):
    model = nnx.merge(graphdef, state)
    onset_n, apex_n = predict._normalize(onset, norm), predict._normalize(apex, norm)
    logits, maps = model(onset_n, apex_n, return_attention=True)
    # The main branch's input, as in MMNet.features: apex - onset, normalised space.
    return {"logits": logits, "attention": [m[..., 0] for m in maps], "motion": apex_n - onset_n}


def attention_maps(
    model: nnx.Module, meta: dict, onset: np.ndarray, apex: np.ndarray, batch_size: int = 8
) -> dict:
    """Logits, attention and motion for uint8 RGB NHWC frames (N, S, S, 3) at model size.

    Returns a dict of NumPy arrays: ``logits`` (N, C), ``attention`` (a list of the four
    CA maps, (N, h, w) each, values in [0, 1]), ``motion`` (N, S, S, 3) float32.
    """
    graphdef, state = nnx.split(model)
    norm = predict.norm_key(meta)
    parts = predict.batched(
        lambda o, a: _explain(graphdef, norm, state, o, a), [onset, apex], max(batch_size, 1)
    )
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def stretch_motion(motion: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """(H, W, 3) signed motion -> uint8 RGB: 128 is no change, +-the percentile of |motion|
    maps to 255 / 0."""
    m = float(np.percentile(np.abs(motion), percentile)) or 1.0
    return np.clip(127.5 + 127.5 * motion / m, 0, 255).astype(np.uint8)


def stretch_map(a: np.ndarray) -> np.ndarray:
    """A map min-max scaled to [0, 1] (all zeros when it is constant)."""
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def overlay(frame: np.ndarray, attention: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An attention map (h, w), upsampled to the frame's size, stretched and coloured
    (jet), blended over an RGB uint8 frame (H, W, 3)."""
    h, w = frame.shape[:2]
    up = cv2.resize(attention.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.uint8(np.round(255 * stretch_map(up))), cv2.COLORMAP_JET)
    heat = heat[..., ::-1]  # BGR -> RGB
    return np.uint8(np.round((1 - alpha) * frame + alpha * heat))


def _write_rgb(path: Path, rgb: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise io_utils.UserError(f"cannot write {path}")
    return path


def render_pair(
    out_dir: Path,
    name: str,
    onset: np.ndarray,
    apex: np.ndarray,
    attention: Sequence[np.ndarray],
    motion: np.ndarray,
    record: dict,
) -> list[Path]:
    """Write one pair's figure, per-stage overlays and motion image; returns the paths.

    ``onset``/``apex`` are the frames at their own size (RGB uint8), ``attention`` the
    four maps (h, w), ``motion`` (S, S, 3) in normalised space, ``record`` a
    ``predict.records`` entry.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    h, w = onset.shape[:2]
    motion_rgb = cv2.resize(stretch_motion(motion), (w, h), interpolation=cv2.INTER_LINEAR)
    overlays = [overlay(onset, a) for a in attention]
    written = [_write_rgb(out_dir / f"{name}_stage{k + 1}.png", o) for k, o in enumerate(overlays)]
    written.append(_write_rgb(out_dir / f"{name}_motion.png", motion_rgb))

    fig = Figure(figsize=(13, 6.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 4)
    panels = [(onset, "onset"), (apex, "apex"), (motion_rgb, "motion (apex - onset)")]
    for ax, (image, title) in zip(axes[0], panels, strict=False):
        ax.imshow(image)
        ax.set_title(title, fontsize=10)
    bar = axes[0, 3]
    probs = record["probabilities"]
    bar.barh(range(len(probs)), probs, color="tab:blue")
    bar.set_yticks(range(len(probs)), record["class_names"], fontsize=9)
    bar.invert_yaxis()
    bar.set_xlim(0, 1)
    bar.set_title("probabilities", fontsize=10)
    for k, (ax, image, a) in enumerate(zip(axes[1], overlays, attention, strict=True)):
        ax.imshow(image)
        ax.set_title(
            f"CA stage {k + 1} ({a.shape[0]}x{a.shape[1]})\nraw {a.min():.3g}..{a.max():.3g}",
            fontsize=9,
        )
    for ax in [*axes[0, :3], *axes[1]]:
        ax.set_xticks([])
        ax.set_yticks([])
    k = record["predicted_index"]
    fig.suptitle(f"{name}: {record['predicted_class']} (p = {probs[k]:.3f})", fontsize=12)
    fig.tight_layout()
    figure_path = out_dir / f"{name}_explain.png"
    fig.savefig(figure_path)
    return [figure_path, *written]


def safe_name(text: str) -> str:
    """A pair id as a file-name stem."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "pair"


def explain_pairs(
    model: nnx.Module,
    meta: dict,
    pairs: Sequence[io_utils.Pair],
    out_dir: str | os.PathLike,
    *,
    batch_size: int = 8,
    warn: io_utils.Warn = io_utils.warn_stderr,
) -> list[Path]:
    """Write the images described in the module docstring for each pair; returns paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = io_utils.class_names(model, meta)
    size = model.config.image_size
    used: dict[str, int] = {}
    written: list[Path] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        onsets, onset = io_utils.load_frames([p.onset for p in chunk], size, "onset", warn)
        apexes, apex = io_utils.load_frames([p.apex for p in chunk], size, "apex", warn)
        result = attention_maps(model, meta, onset, apex, batch_size)
        recs = predict.records(result["logits"], names)
        for i, pair in enumerate(chunk):
            name = safe_name(pair.id)
            used[name] = used.get(name, 0) + 1
            if used[name] > 1:  # repeated ids keep their files apart
                name = f"{name}_{used[name]}"
            maps = [a[i] for a in result["attention"]]
            written += render_pair(
                out, name, onsets[i], apexes[i], maps, result["motion"][i], recs[i]
            )
    return written


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        description="Write attention-map and motion images of onset/apex frame pairs."
    )
    io_utils.add_model_args(parser)
    io_utils.add_input_args(parser)
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    parser.add_argument("--batch_size", type=int, default=8, help="pairs per forward pass")
    args = parser.parse_args(argv)
    load = io_utils.model_loader(args.workdir, args.model_dir, args.fold)
    pairs = io_utils.pairs_from_args(args)
    predict.check_files(pairs)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise io_utils.UserError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise io_utils.UserError(f"cannot create the output folder {out}: {e}") from None
    model, meta = load()
    for path in explain_pairs(model, meta, pairs, out, batch_size=max(args.batch_size, 1)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command; returns the exit status (2 for user errors, with a message)."""
    return io_utils.run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
