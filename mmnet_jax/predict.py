"""Predict the micro-expression class of (onset, apex) frame pairs with a trained MMNet.

Commands::

    python -m mmnet_jax.predict --workdir WORKDIR --onset onset.jpg --apex apex.jpg
    python -m mmnet_jax.predict --workdir WORKDIR --clip_dir sub01/EP02_01f \\
        --onset_frame 46 --apex_frame 59
    python -m mmnet_jax.predict --workdir WORKDIR --fold sub01 --csv pairs.csv
    python -m mmnet_jax.predict --model_dir MODEL_DIR --onset A.png --apex B.png

``--workdir`` uses the run's final model (``WORKDIR/final_model``, written when training
with ``--config.final_model=True``), or a LOSO fold's model with ``--fold SUBJECT``;
``--model_dir`` takes a model directory (e.g. from ``python -m mmnet_jax.convert``). The
input options are described in ``mmnet_jax.io_utils``. Frames should be face crops like
the training frames; they are preprocessed as in training (RGB, resized to the model's
image size, scaled and normalised), and every conversion is noted on stderr.

Prints a JSON list to stdout, one object per pair::

    {"id", "onset", "apex", ["clip_dir", "onset_frame", "apex_frame"],
     "class_names", "probabilities", "predicted_class", "predicted_index", "logits"}

``probabilities`` is the softmax of ``logits``, in ``class_names`` order.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mmnet_jax import io_utils

Images = Sequence[str | os.PathLike | np.ndarray] | np.ndarray


def _normalize(frames: jax.Array, norm: tuple) -> jax.Array:
    divisor, mean, std = norm
    x = frames.astype(jnp.float32) / divisor
    return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def norm_key(meta: dict) -> tuple:
    """The model's normalisation as a hashable ``(divisor, mean, std)`` (a static jit arg)."""
    divisor, mean, std = io_utils.normalization(meta)
    return float(divisor), tuple(float(m) for m in mean), tuple(float(s) for s in std)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _logits(graphdef, norm, state, onset, apex):
    model = nnx.merge(graphdef, state)
    return model(_normalize(onset, norm), _normalize(apex, norm))


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
    model: nnx.Module, meta: dict, onset: np.ndarray, apex: np.ndarray, batch_size: int = 16
) -> np.ndarray:
    """Logits (N, C) float32 for uint8 RGB NHWC frames (N, S, S, 3) at the model's size."""
    graphdef, state = nnx.split(model)
    norm = norm_key(meta)
    parts = batched(
        lambda o, a: _logits(graphdef, norm, state, o, a), [onset, apex], max(batch_size, 1)
    )
    return np.concatenate(parts) if parts else np.zeros((0, model.config.num_classes))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64."""
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def records(logits: np.ndarray, names: list[str]) -> list[dict]:
    """One dict per row of logits: class names, probabilities, prediction, logits."""
    out = []
    for row, probs in zip(logits, softmax(logits), strict=True):
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


def predict_pairs(
    model: nnx.Module,
    meta: dict,
    onset_images: Images,
    apex_images: Images,
    *,
    batch_size: int = 16,
    warn: io_utils.Warn = io_utils.warn_stderr,
) -> list[dict]:
    """Class predictions for pairs of frames.

    Args:
      model: an MMNet in eval mode (e.g. from ``io_utils.load_trained_model``).
      meta: its model.json metadata (class names, preprocessing constants).
      onset_images, apex_images: equal-length sequences of image paths or RGB arrays
        (H, W), (H, W, 1|3|4), uint8 or float in [0, 1], any size; or (N, H, W, C)
        arrays. They are converted and resized to the model's size (noted to ``warn``).
      batch_size: pairs per forward pass.

    Returns:
      One dict per pair: ``class_names``, ``probabilities`` (softmax, summing to 1),
      ``predicted_class``, ``predicted_index``, ``logits``.
    """
    if len(onset_images) != len(apex_images):
        raise ValueError(f"{len(onset_images)} onset frames but {len(apex_images)} apex frames")
    size = model.config.image_size
    _, onset = io_utils.load_frames(onset_images, size, "onset frame", warn)
    _, apex = io_utils.load_frames(apex_images, size, "apex frame", warn)
    logits = logits_of(model, meta, onset, apex, batch_size)
    return records(logits, io_utils.class_names(model, meta))


def check_files(pairs: list[io_utils.Pair]) -> None:
    """Fail early, before loading the model, when an image file is missing."""
    for pair in pairs:
        for what, path in (("onset", pair.onset), ("apex", pair.apex)):
            if not path.is_file():
                raise io_utils.UserError(f"{what} image file not found: {path} (pair {pair.id})")


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        description="Predict micro-expression classes of onset/apex frame pairs (JSON out)."
    )
    io_utils.add_model_args(parser)
    io_utils.add_input_args(parser)
    parser.add_argument("--batch_size", type=int, default=16, help="pairs per forward pass")
    args = parser.parse_args(argv)
    load = io_utils.model_loader(args.workdir, args.model_dir, args.fold)
    pairs = io_utils.pairs_from_args(args)
    check_files(pairs)
    model, meta = load()
    results = predict_pairs(
        model,
        meta,
        [p.onset for p in pairs],
        [p.apex for p in pairs],
        batch_size=args.batch_size,
    )
    out = [{**pair.describe(), **result} for pair, result in zip(pairs, results, strict=True)]
    print(json.dumps(out, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command; returns the exit status (2 for user errors, with a message)."""
    return io_utils.run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
