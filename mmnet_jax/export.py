"""A trained MMNet as one self-contained file: serialized StableHLO (``jax.export``).

Command::

    python -m mmnet_jax.export --workdir WORKDIR --out mmnet.mmnetx
    python -m mmnet_jax.export --workdir WORKDIR --fold sub01 --out sub01.mmnetx
    python -m mmnet_jax.export --model_dir MODEL_DIR --out m.mmnetx \\
        [--input uint8|float32] [--platforms cpu,cuda,tpu] [--no_check]

Using it needs only ``jax`` and ``numpy`` (no Flax, no mmnet model code)::

    from mmnet_jax import export
    model = export.load("mmnet.mmnetx")
    logits = model(onset, apex)        # (B, S, S, 3) uint8 RGB each -> (B, C) float32
    model.class_names, model.image_size, model.metadata

What the function computes: by default (``--input uint8``) it takes the onset and apex
frames as uint8 RGB NHWC face crops, (B, S, S, 3) with S = ``image_size``, and does the
training preprocessing inside (scale by 1/255, ImageNet mean/std), so callers only
resize. With ``--input float32`` it takes frames already normalised (float32 NHWC, as
``mmnet_jax.frames.normalize`` makes them). It returns logits (B, num_classes)
float32 (apply a softmax for probabilities). The batch dimension B is symbolic: any batch
size works without re-exporting. The weights are constants inside the program. The file
runs on the platforms it was exported for (default cpu, cuda and tpu).

File format (``mmnet_jax.export/1``): a zip archive holding

- ``metadata.json``: ``format``, ``class_names``, ``num_classes``, ``image_size``,
  ``inputs`` and ``outputs`` (name, shape with ``"batch"`` for B, dtype, layout,
  channels, value range), ``preprocess`` (constants, and whether the program applies
  them), ``mmnet_config``, ``platforms``, ``jax_version``, ``jaxlib_version``,
  ``calling_convention_version``, ``source``, ``exported_sha256``;
- ``exported.bin``: the bytes of ``jax.export.Exported.serialize()``;
- ``README.txt``: how to load it with plain JAX.

``jax.export`` keeps serialized programs loadable by later JAX releases for a
compatibility window (see the JAX documentation on export compatibility).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

FORMAT = "mmnet_jax.export/1"
METADATA_NAME = "metadata.json"
EXPORTED_NAME = "exported.bin"
README_NAME = "README.txt"
DEFAULT_PLATFORMS = ("cpu", "cuda", "tpu")
INPUT_DTYPES = ("uint8", "float32")

_README = """\
MMNet micro-expression classifier exported with jax.export ({format}).

Inputs: onset and apex frames, {input_text}.
Output: logits (batch, {num_classes}) float32; classes: {class_names}.

Load with plain JAX (no Flax or model code needed):

    import json, zipfile, jax
    with zipfile.ZipFile("{name}") as z:
        meta = json.loads(z.read("{meta}"))
        exported = jax.export.deserialize(bytearray(z.read("{exported}")))
    logits = exported.call(onset, apex)

or with mmnet_jax installed: mmnet_jax.export.load("{name}")(onset, apex).
"""


def _input_text(input_dtype: str, size: int) -> str:
    if input_dtype == "uint8":
        return (
            f"uint8 RGB NHWC (batch, {size}, {size}, 3), values 0..255, face crops resized "
            "to the image size; the program scales and normalises them"
        )
    return (
        f"float32 NHWC (batch, {size}, {size}, 3), RGB scaled to [0, 1] then normalised "
        "with the mean and std in metadata.json"
    )


def export_model(
    model: Any,
    meta: dict,
    out: str | os.PathLike,
    *,
    input_dtype: str = "uint8",
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    source: dict | None = None,
) -> dict:
    """Write ``model`` (an MMNet in eval mode) to ``out`` as an export file; returns its
    metadata. See the module docstring for the function exported and the file format.
    """
    from flax import nnx  # noqa: PLC0415 - load() must not need Flax

    from mmnet_jax import frames, io_utils, predict  # noqa: PLC0415

    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {INPUT_DTYPES}, got {input_dtype!r}")
    model.eval()
    config = model.config
    size = config.image_size
    names = io_utils.class_names(model, meta)
    norm = predict.norm_key(meta)
    graphdef, state = nnx.split(model)

    def forward(onset: jax.Array, apex: jax.Array) -> jax.Array:
        # The weights are closed over, so they become constants of the exported program.
        m = nnx.merge(graphdef, state)
        if input_dtype == "uint8":
            onset, apex = predict._normalize(onset, norm), predict._normalize(apex, norm)
        return m(onset, apex).astype(jnp.float32)

    (batch,) = jax.export.symbolic_shape("batch")
    spec = jax.ShapeDtypeStruct((batch, size, size, 3), jnp.dtype(input_dtype))
    exported = jax.export.export(jax.jit(forward), platforms=tuple(platforms))(spec, spec)
    blob = exported.serialize()

    frame = {
        "shape": ["batch", size, size, 3],
        "dtype": input_dtype,
        "layout": "NHWC",
        "channels": "RGB",
        "values": "0..255" if input_dtype == "uint8" else "normalised (x / 255 - mean) / std",
    }
    metadata = {
        "format": FORMAT,
        "class_names": names,
        "num_classes": config.num_classes,
        "image_size": size,
        "inputs": [{"name": "onset", **frame}, {"name": "apex", **frame}],
        "outputs": [{"name": "logits", "shape": ["batch", config.num_classes], "dtype": "float32"}],
        "input_description": _input_text(input_dtype, size),
        "preprocess": {
            **(meta.get("preprocess") or frames.constants(size)),
            "applied_inside": input_dtype == "uint8",
            "resize": "square resize to image_size (area filter down, bilinear up)",
        },
        "mmnet_config": meta.get("mmnet_config") or _config_dict(config),
        "platforms": list(exported.platforms),
        "jax_version": jax.__version__,
        "jaxlib_version": _jaxlib_version(),
        "calling_convention_version": exported.calling_convention_version,
        "source": {**(source or {}), "model_source": meta.get("source", "")},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "exported_sha256": hashlib.sha256(blob).hexdigest(),
    }
    readme = _README.format(
        format=FORMAT,
        input_text=metadata["input_description"],
        num_classes=config.num_classes,
        class_names=", ".join(names),
        name=os.path.basename(os.fspath(out)),
        meta=METADATA_NAME,
        exported=EXPORTED_NAME,
    )
    tmp = f"{os.fspath(out)}.tmp"
    with zipfile.ZipFile(tmp, "w") as z:
        z.writestr(METADATA_NAME, json.dumps(metadata, indent=2), zipfile.ZIP_DEFLATED)
        z.writestr(README_NAME, readme, zipfile.ZIP_DEFLATED)
        z.writestr(EXPORTED_NAME, bytes(blob), zipfile.ZIP_STORED)
    os.replace(tmp, out)
    return metadata


def _config_dict(config) -> dict:
    import dataclasses  # noqa: PLC0415

    return dataclasses.asdict(config)


def _jaxlib_version() -> str:
    try:
        import jaxlib  # noqa: PLC0415

        return jaxlib.__version__
    except (ImportError, AttributeError):
        return ""


class ExportedMMNet:
    """A loaded export file: call it as ``model(onset, apex) -> logits``.

    Attributes:
      metadata: the file's metadata.json.
      class_names, num_classes, image_size, input_dtype, platforms: from the metadata.
      exported: the ``jax.export.Exported`` (its ``call`` also works inside ``jax.jit``).
    """

    def __init__(self, exported: jax.export.Exported, metadata: dict):
        self.exported = exported
        self.metadata = metadata
        self.class_names: list[str] = list(metadata["class_names"])
        self.num_classes: int = int(metadata["num_classes"])
        self.image_size: int = int(metadata["image_size"])
        self.input_dtype: str = metadata["inputs"][0]["dtype"]
        self.platforms: tuple[str, ...] = tuple(exported.platforms)
        self._call = jax.jit(exported.call)

    def _check(self, name: str, x) -> jax.Array | np.ndarray:
        x = x if isinstance(x, jax.Array) else np.asarray(x)
        s = self.image_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (s, s, 3):
            raise ValueError(
                f"{name}: shape {tuple(x.shape)}; this model takes (batch, {s}, {s}, 3) "
                "NHWC RGB frames (resize them to the model's image size first)"
            )
        if self.input_dtype == "uint8":
            if x.dtype != np.uint8:
                raise TypeError(
                    f"{name}: dtype {x.dtype}; this export takes uint8 RGB frames (0..255) "
                    "and normalises them itself"
                )
        elif not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name}: dtype {x.dtype}; this export takes normalised float32")
        else:
            x = x.astype(jnp.float32)
        return x

    def __call__(self, onset, apex) -> jax.Array:
        """Logits (B, num_classes) float32 for onset and apex frames (B, S, S, 3)."""
        onset, apex = self._check("onset", onset), self._check("apex", apex)
        if onset.shape[0] != apex.shape[0]:
            raise ValueError(f"{onset.shape[0]} onset frames but {apex.shape[0]} apex frames")
        return self._call(onset, apex)

    def probabilities(self, onset, apex) -> jax.Array:
        """Softmax of the logits, (B, num_classes)."""
        return jax.nn.softmax(self(onset, apex), axis=-1)

    def __repr__(self) -> str:
        return (
            f"ExportedMMNet({self.num_classes} classes, {self.image_size}px, "
            f"{self.input_dtype} input, platforms={self.platforms})"
        )


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata.json of an export file."""
    return _open(path)[0]


def _open(path: str | os.PathLike, with_blob: bool = False) -> tuple[dict, bytes | None]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"export file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if METADATA_NAME not in names or EXPORTED_NAME not in names:
                raise ValueError(
                    f"{path}: not an MMNet export file (needs {METADATA_NAME} and {EXPORTED_NAME})"
                )
            metadata = json.loads(z.read(METADATA_NAME))
            blob = z.read(EXPORTED_NAME) if with_blob else None
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not an MMNet export file (not a zip archive)") from None
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: format {metadata.get('format')!r}, expected {FORMAT!r}")
    return metadata, blob


def load(path: str | os.PathLike) -> ExportedMMNet:
    """Load an export file written by :func:`export_model`; needs only jax and numpy.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not an export file, or its program bytes are damaged.
    """
    metadata, blob = _open(path, with_blob=True)
    digest = metadata.get("exported_sha256")
    if digest and hashlib.sha256(blob).hexdigest() != digest:
        raise ValueError(f"{path}: {EXPORTED_NAME} does not match its checksum (damaged file)")
    exported = jax.export.deserialize(bytearray(blob))
    return ExportedMMNet(exported, metadata)


def _main(argv: list[str] | None) -> int:
    import argparse  # noqa: PLC0415

    from mmnet_jax import io_utils  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        description="Export a trained MMNet as one jax.export file (StableHLO + metadata)."
    )
    io_utils.add_model_args(parser)
    parser.add_argument("--out", required=True, help="file to write (a zip archive)")
    parser.add_argument(
        "--input",
        choices=INPUT_DTYPES,
        default="uint8",
        help="uint8: RGB frames 0..255, normalised inside (default); float32: normalised",
    )
    parser.add_argument(
        "--platforms",
        default=",".join(DEFAULT_PLATFORMS),
        help="comma-separated jax platforms to lower for (default cpu,cuda,tpu)",
    )
    parser.add_argument(
        "--no_check",
        action="store_true",
        help="skip comparing the exported program with the model on random frames",
    )
    args = parser.parse_args(argv)
    platforms = tuple(p.strip() for p in args.platforms.split(",") if p.strip())
    load = io_utils.model_loader(args.workdir, args.model_dir, args.fold)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise io_utils.UserError(f"output folder not found: {out_dir}")
    model, meta = load()
    source = {"workdir": args.workdir, "model_dir": args.model_dir, "fold": args.fold}
    try:
        metadata = export_model(
            model, meta, args.out, input_dtype=args.input, platforms=platforms, source=source
        )
    except ValueError as e:  # e.g. an unknown platform name
        raise io_utils.UserError(f"cannot export for platforms {platforms}: {e}") from None
    summary = {
        "out": args.out,
        "bytes": os.path.getsize(args.out),
        "platforms": metadata["platforms"],
        "input": metadata["input_description"],
        "class_names": metadata["class_names"],
    }
    if not args.no_check:
        summary["check"] = check(model, meta, args.out)
    print(json.dumps(summary, indent=2))
    return 0


def check(model: Any, meta: dict, path: str | os.PathLike, batch_sizes=(1, 3)) -> dict:
    """Compare the export file with the model on random frames at several batch sizes
    (on the default backend); returns the largest relative difference of the logits."""
    from mmnet_jax import predict  # noqa: PLC0415

    loaded = load(path)
    rng = np.random.default_rng(0)
    s, n = loaded.image_size, max(batch_sizes)
    onset = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)
    apex = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)
    # The model one pair at a time: independent of the batch sizes under test.
    want = predict.logits_of(model, meta, onset, apex, batch_size=1)
    if loaded.input_dtype == "float32":
        onset, apex = normalize_np(onset, meta), normalize_np(apex, meta)
    worst = 0.0
    for b in batch_sizes:
        got = np.asarray(loaded(onset[:b], apex[:b]))
        rel = np.abs(got - want[:b]).max() / max(np.abs(want[:b]).max(), 1e-12)
        worst = max(worst, float(rel))
    return {"batch_sizes": list(batch_sizes), "max_rel_diff": worst}


def normalize_np(frames: np.ndarray, meta: dict) -> np.ndarray:
    """uint8 frames -> the float32 normalised frames a ``--input float32`` export takes."""
    from mmnet_jax import io_utils  # noqa: PLC0415

    divisor, mean, std = io_utils.normalization(meta)
    return ((frames.astype(np.float32) / divisor - mean) / std).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """The command; returns the exit status (2 for user errors, with a message)."""
    from mmnet_jax import io_utils  # noqa: PLC0415

    return io_utils.run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
