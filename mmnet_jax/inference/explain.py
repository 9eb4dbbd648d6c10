"""Show where a trained MMNet looks: its four CA attention maps and the motion it reads.

Example:

    mmnet explain --workdir runs/synthetic --onset onset.png --apex apex.png \\
        --out pictures/

Takes the model and input flags of mmnet_jax.inference.predict (a whole clip too: --video clip.mp4).
For each pair it writes, under --out: ``<id>_explain.png`` (onset, apex, motion, class
probabilities and the four CA stages' attention over the onset frame, with a colourbar),
``<id>_stage1.png`` ..
``<id>_stage4.png`` and ``<id>_motion.png``, and prints the paths. The four stages share
one colour scale per pair, from the smallest to the largest attention value of any stage
(stated on the colourbar), so the stages compare directly. More in docs/models.md ("Use a
trained model").
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import jax
import numpy as np
from absl import flags
from flax import nnx

from mmnet_jax import cli
from mmnet_jax.inference import inputs, model_dir, predict
from mmnet_jax.vision import frames

STAGES = 4


@functools.partial(jax.jit, static_argnums=0)
def _explain(graphdef, state, onset, apex):
    model = nnx.merge(graphdef, state)
    onset_n, apex_n = frames.normalize(onset), frames.normalize(apex)
    logits, maps = model(onset_n, apex_n, return_attention=True)
    return {"logits": logits, "attention": [m[..., 0] for m in maps]}


def attention_maps(
    model: nnx.Module, onset: np.ndarray, apex: np.ndarray, batch_size: int = 8
) -> dict:
    """Logits, attention and motion for uint8 RGB NHWC frames (N, S, S, 3) at model size.

    Returns a dict of NumPy arrays: ``logits`` (N, C), ``attention`` (a list of the four
    CA maps, (N, h, w) each, values in [0, 1]), ``motion`` (N, S, S, 3) float32.
    """
    graphdef, state = nnx.split(model)
    parts = predict.batched(
        lambda o, a: _explain(graphdef, state, o, a), [onset, apex], max(batch_size, 1)
    )
    out = jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
    # The main branch's input (MMNet.features: apex - onset in normalised space), computed
    # here from the uint8 frames: exact zeros where they agree. Taken from the compiled
    # program, XLA's rounding leaves ~1e-7 there, which the display stretch blows up.
    step = np.float32(255.0) * np.asarray(frames.STD, np.float32)
    out["motion"] = (apex.astype(np.float32) - onset.astype(np.float32)) / step
    return out


def stretch_motion(motion: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """(H, W, 3) signed motion -> uint8 RGB: 128 is no change, +-the percentile of |motion|
    maps to 255 / 0."""
    m = float(np.percentile(np.abs(motion), percentile)) or 1.0
    return np.clip(127.5 + 127.5 * motion / m, 0, 255).astype(np.uint8)


def shared_scale(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """One colour scale for several attention maps: (smallest, largest) value of any."""
    lo = min(float(a.min()) for a in maps)
    hi = max(float(a.max()) for a in maps)
    return lo, hi


def colour(values: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """Values -> uint8 RGB through the jet colour map, ``scale`` (lo, hi) mapped to its
    ends (matplotlib's map, the one the figure's colourbar shows)."""
    import matplotlib  # noqa: PLC0415 - only to draw

    lo, hi = scale
    unit = np.clip((values - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(values)
    return np.uint8(np.round(255 * matplotlib.colormaps["jet"](unit)[..., :3]))


def overlay(
    frame: np.ndarray, attention: np.ndarray, scale: tuple[float, float], alpha: float = 0.5
) -> np.ndarray:
    """An attention map (h, w), upsampled bilinearly to the frame's size and coloured on
    ``scale`` (see :func:`colour`), blended over an RGB uint8 frame (H, W, 3)."""
    h, w = frame.shape[:2]
    up = cv2.resize(attention.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.uint8(np.round((1 - alpha) * frame + alpha * colour(up, scale)))


def _write_rgb(path: Path, rgb: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"cannot write {path}")
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
    from matplotlib import cm, colors  # noqa: PLC0415
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    h, w = onset.shape[:2]
    motion_rgb = cv2.resize(stretch_motion(motion), (w, h), interpolation=cv2.INTER_LINEAR)
    scale = shared_scale(attention)
    overlays = [overlay(onset, a, scale) for a in attention]
    written = [_write_rgb(out_dir / f"{name}_stage{k + 1}.png", o) for k, o in enumerate(overlays)]
    written.append(_write_rgb(out_dir / f"{name}_motion.png", motion_rgb))

    fig = Figure(figsize=(14, 6.8), dpi=100, layout="constrained")
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
    lo, hi = scale
    mappable = cm.ScalarMappable(colors.Normalize(lo, hi if hi > lo else lo + 1), "jet")
    bar = fig.colorbar(mappable, ax=list(axes[1]), fraction=0.03, pad=0.01)
    bar.set_label(f"attention {lo:.3g}..{hi:.3g}, all stages", fontsize=9)
    k = record["predicted_index"]
    fig.suptitle(f"{name}: {record['predicted_class']} (p = {probs[k]:.3f})", fontsize=12)
    figure_path = out_dir / f"{name}_explain.png"
    fig.savefig(figure_path)
    return [figure_path, *written]


def safe_name(text: str) -> str:
    """A pair id as a file-name stem."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "pair"


def explain_pairs(
    model: nnx.Module,
    meta: dict,
    pairs: Sequence[inputs.Pair],
    out_dir: str | os.PathLike,
    *,
    batch_size: int = 8,
    warn: frames.Warn = cli.note,
) -> list[Path]:
    """Write the images described in the module docstring for each pair; returns paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = model_dir.class_names(model.config.num_classes, meta)
    size = model.config.image_size
    used: dict[str, int] = {}
    written: list[Path] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        onset, apex = predict.load_pairs(
            [p.onset for p in chunk], [p.apex for p in chunk], size, [p.id for p in chunk], warn
        )
        result = attention_maps(model, onset.model_input, apex.model_input, batch_size)
        recs = predict.records(result["logits"], names)
        for i, pair in enumerate(chunk):
            name = safe_name(pair.id)
            used[name] = used.get(name, 0) + 1
            if used[name] > 1:  # repeated ids keep their files apart
                name = f"{name}_{used[name]}"
            maps = [a[i] for a in result["attention"]]
            written += render_pair(
                out,
                name,
                onset.originals[i],
                apex.originals[i],
                maps,
                result["motion"][i],
                recs[i],
            )
    return written


def _define(fv: flags.FlagValues) -> None:
    model_dir.define_flags(fv)
    inputs.define_flags(fv)
    flags.DEFINE_string("out", None, "folder for the PNG files (created); required", flag_values=fv)
    flags.DEFINE_integer("batch_size", 8, "pairs per forward pass", lower_bound=1, flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if not fv.out:
        cli.fail("--out is required: the folder for the pictures (see --help)")
    load = model_dir.loader_from_flags(fv)
    pairs = inputs.pairs_from_flags(fv)
    inputs.check_files(pairs)
    out = Path(fv.out)
    if out.exists() and not out.is_dir():
        cli.fail(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        cli.fail(f"cannot create the output folder {out}: {e}")
    model, meta = load()
    try:
        for path in explain_pairs(model, meta, pairs, out, batch_size=fv.batch_size):
            print(path)
    except (frames.FrameError, OSError) as e:
        cli.fail(str(e))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 ok, 2 user error with one line, 130)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
