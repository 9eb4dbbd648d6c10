"""Predict the micro-expression class of (onset, apex) frame pairs with a trained model.

Example:

    mmnet predict --workdir runs/synthetic --onset onset.png --apex apex.png

    mmnet predict --model_dir models/ststnet --flow_image 006_006_1_2.png

    mmnet predict --workdir runs/synthetic --video clip.mp4

Give the model with --workdir (its final model, or a LOSO fold's with --fold SUBJECT) or
--model_dir, and the pairs with --onset/--apex, --clip_dir/--onset_frame/--apex_frame or
--csv; or a whole clip with --video or --clip_dir alone (face aligned, onset = first
frame, apex spotted; the JSON says which frames were used and how). Prints a JSON list,
one object per pair: id, the input paths, class_names, probabilities (softmax of
logits), predicted_class, predicted_index, logits. Conversions
of the frames are noted on stderr. A flow model (STSTNet, Off-ApexNet, HTNet) given
--onset/--apex computes their TV-L1 flow itself; --flow_image gives it the field's flow
image instead (docs/flow.md). More in docs/models.md ("Use a trained model").
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Sequence

import cv2
import jax
import numpy as np
from absl import flags
from flax import nnx

from mmnet_jax import cli
from mmnet_jax.evaluation import metrics
from mmnet_jax.inference import inputs, model_dir
from mmnet_jax.models import registry
from mmnet_jax.vision import flow as flow_lib
from mmnet_jax.vision import frames

# The frame size a flow model's flow is computed at when its model.json does not say.
FLOW_FRAME_SIZE = 224

Images = Sequence[str | os.PathLike | np.ndarray] | np.ndarray


@functools.partial(jax.jit, static_argnums=(0, 1))
def _logits(graphdef, names, state, *inputs):
    model = nnx.merge(graphdef, state)
    # Frames are uint8 and normalised here; the flow comes as the model reads it.
    given = zip(names, inputs, strict=True)
    return model(*(x if n == "flow" else frames.normalize(x) for n, x in given))


def batched(fn, arrays: Sequence[np.ndarray], batch_size: int) -> list:
    """``fn`` over equal-length arrays in chunks of ``batch_size``; the last chunk is
    padded (so one compiled shape serves all chunks) and the padding dropped again.
    Returns, per chunk, ``fn``'s output as NumPy (a pytree)."""
    n = len(arrays[0])
    size = min(batch_size, n)
    out = []
    for start in range(0, n, size):
        chunk = [a[start : start + size] for a in arrays]
        real = len(chunk[0])
        if real < size:
            chunk = [np.concatenate([c, np.repeat(c[-1:], size - real, axis=0)]) for c in chunk]
        result = jax.tree.map(lambda x, real=real: np.asarray(x)[:real], fn(*chunk))
        out.append(result)
    return out


def logits_of(
    model: nnx.Module,
    onset: np.ndarray | None,
    apex: np.ndarray | None,
    batch_size: int = 16,
    flow: np.ndarray | None = None,
):
    """Logits (N, C) float32 for uint8 RGB NHWC frames (N, S, S, 3) at the model's size,
    normalised by :func:`mmnet_jax.vision.frames.normalize`, and, for a model that reads
    flow, ``flow`` (N, S, S, 3) float32 as it reads it (``vision.flow.model_input``); the
    model takes what it declares (``ModelSpec.inputs``)."""
    graphdef, state = nnx.split(model)
    spec = registry.of_model(model)
    taken = spec.pick(onset=onset, apex=apex, flow=flow)
    names = spec.inputs
    parts = batched(lambda *x: _logits(graphdef, names, state, *x), taken, max(batch_size, 1))
    return np.concatenate(parts) if parts else np.zeros((0, model.config.num_classes), np.float32)


def records(logits: np.ndarray, names: list[str]) -> list[dict]:
    """One dict per row of logits: class names, probabilities, prediction, logits."""
    out = []
    for row, probs in zip(logits, metrics.softmax(logits), strict=True):
        k = int(np.argmax(probs))
        out.append(
            {
                "class_names": list(names),
                "probabilities": [float(p) for p in probs],
                "predicted_class": names[k],
                "predicted_index": k,
                "logits": [float(v) for v in row],
            }
        )
    return out


def _describe(image: np.ndarray, mode: str | None) -> str:
    h, w = image.shape[:2]
    return f"{w}x{h} {mode or 'unknown mode'}"


def load_pairs(
    onset_images: Images,
    apex_images: Images,
    size: int,
    ids: Sequence[str] | None = None,
    warn: frames.Warn = cli.note,
) -> tuple[frames.Loaded, frames.Loaded]:
    """Onset and apex frames read and resized for the model (see
    :func:`mmnet_jax.vision.frames.load_frames`), with a note for each pair whose two frames
    differ in size or colour mode: the model reads apex - onset, so such a difference
    looks like motion and can flip the prediction."""
    if len(onset_images) != len(apex_images):
        raise ValueError(f"{len(onset_images)} onset frames but {len(apex_images)} apex frames")
    onset = frames.load_frames(onset_images, size, "onset frame", warn)
    apex = frames.load_frames(apex_images, size, "apex frame", warn)
    for i in range(len(onset.originals)):
        a = _describe(onset.originals[i], onset.modes[i])
        b = _describe(apex.originals[i], apex.modes[i])
        if a != b:
            who = f"pair {ids[i]}" if ids is not None else f"pair {i}"
            warn(
                f"{who}: the onset frame is {a} but the apex frame is {b}; the model reads "
                "their difference as motion, so the prediction may be wrong (use two frames "
                "of the same clip, same size and mode)"
            )
    return onset, apex


def predict_pairs(
    model: nnx.Module,
    meta: dict,
    onset_images: Images,
    apex_images: Images,
    *,
    batch_size: int = 16,
    ids: Sequence[str] | None = None,
    warn: frames.Warn = cli.note,
) -> list[dict]:
    """Class predictions for pairs of frames.

    Args:
      model: a model of the registry in eval mode (e.g. from ``model_dir.load``).
      meta: its model.json metadata (class names).
      onset_images, apex_images: equal-length sequences of image paths or RGB arrays
        (H, W), (H, W, 1|3|4), uint8 or float in [0, 1], any size; or (N, H, W, C)
        arrays. They are converted and resized to the model's size (noted to ``warn``).
      batch_size: pairs per forward pass.
      ids: pair names for the notes (default: the pairs' indices).

    Returns:
      One dict per pair: ``class_names``, ``probabilities`` (softmax, summing to 1),
      ``predicted_class``, ``predicted_index``, ``logits``.
    """
    size = model.config.image_size
    if "flow" not in registry.of_model(model).inputs:
        onset, apex = load_pairs(onset_images, apex_images, size, ids, warn)
        logits = logits_of(model, onset.model_input, apex.model_input, batch_size)
        return records(logits, model_dir.class_names(model.config.num_classes, meta))
    # A flow model: TV-L1 flow of the two frames at the size its training flow was
    # computed at, resized to the model's (docs/flow.md).
    given = meta.get("flow_frame_size") or meta.get("data", {}).get("flow_frame_size")
    frame_size = int(given or FLOW_FRAME_SIZE)
    onset, apex = load_pairs(onset_images, apex_images, frame_size, ids, warn)
    flow = np.stack(
        [
            flow_lib.model_input(flow_lib.features(a, b, size))
            for a, b in zip(onset.model_input, apex.model_input, strict=True)
        ]
    ).astype(np.float32)
    logits = logits_of(model, None, None, batch_size, flow=flow)
    return records(logits, model_dir.class_names(model.config.num_classes, meta))


def read_flow_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """A field flow image (e.g. the STSTNet release's ``norm_u_v_os`` PNGs) as a flow
    model reads it: ``cv2.imread``'s array, float32 0..255 (``vision.flow.model_input`` of
    its channels, which leaves such an image's values as they are).

    Raises:
      frames.FrameError: unreadable, not 3 channels, or not ``size`` x ``size``.
    """
    image = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise frames.FrameError(f"{path}: not an image OpenCV can read")
    if image.ndim != 3 or image.shape[2] != 3:
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise frames.FrameError(
            f"{path}: {channels} channel(s); a flow image has 3 (u, v and strain)"
        )
    if image.shape[:2] != (size, size):
        raise frames.FrameError(
            f"{path}: {image.shape[1]}x{image.shape[0]}; this model reads {size}x{size} flow images"
        )
    if image.dtype != np.uint8:
        raise frames.FrameError(f"{path}: {image.dtype} pixels; a flow image is 8-bit")
    return flow_lib.model_input(flow_lib.from_field_image(image)).astype(np.float32)


def predict_flow_images(
    model: nnx.Module, meta: dict, paths: Sequence[str | os.PathLike], batch_size: int = 16
) -> list[dict]:
    """Class predictions of a flow model for field flow images (:func:`read_flow_image`)."""
    if "flow" not in registry.of_model(model).inputs:
        raise ValueError(
            f"the model ({registry.of_model(model).name}) reads frames, not flow images: "
            "give --onset/--apex"
        )
    flow = np.stack([read_flow_image(p, model.config.image_size) for p in paths])
    logits = logits_of(model, None, None, batch_size, flow=flow)
    return records(logits, model_dir.class_names(model.config.num_classes, meta))


def _define(fv: flags.FlagValues) -> None:
    model_dir.define_flags(fv)
    inputs.define_flags(fv)
    flags.DEFINE_multi_string(
        "flow_image", None, "a flow model's input: a field flow image (e.g. norm_u_v_os PNG); "
        "repeatable", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_integer("batch_size", 16, "pairs per forward pass", lower_bound=1, flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    load = model_dir.loader_from_flags(fv)
    if fv.flow_image:
        return _predict_flow_images(fv, load)
    pairs = inputs.pairs_from_flags(fv)
    inputs.check_files(pairs)
    model, meta = load()
    try:
        results = predict_pairs(
            model,
            meta,
            [p.onset for p in pairs],
            [p.apex for p in pairs],
            batch_size=fv.batch_size,
            ids=[p.id for p in pairs],
        )
    except (frames.FrameError, OSError) as e:
        cli.fail(str(e))
    out = [{**pair.describe(), **result} for pair, result in zip(pairs, results, strict=True)]
    print(json.dumps(out, indent=2))
    return 0


def _predict_flow_images(fv: flags.FlagValues, load) -> int:
    missing = [p for p in fv.flow_image if not os.path.isfile(p)]
    if missing:
        cli.fail(f"--flow_image {missing[0]}: no such file")
    model, meta = load()
    try:
        results = predict_flow_images(model, meta, fv.flow_image, fv.batch_size)
    except (frames.FrameError, ValueError) as e:
        cli.fail(str(e))
    out = [
        {"id": os.path.splitext(os.path.basename(p))[0].strip(), "flow_image": p, **r}
        for p, r in zip(fv.flow_image, results, strict=True)
    ]
    print(json.dumps(out, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 ok, 2 user error with one line, 130)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
