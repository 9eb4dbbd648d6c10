"""Export a trained MMNet as one self-contained file: serialized StableHLO (``jax.export``)
and its metadata in a zip archive, loadable with plain JAX.

Example:

    mmnet export --workdir runs/synthetic --out mmnet.export.zip

Then, needing only jax and numpy: ``m = mmnet_jax.inference.export.load("mmnet.export.zip")``;
``m(onset, apex)`` takes uint8 RGB NHWC frames (B, S, S, 3), S = ``m.image_size``, and
returns logits (B, C) float32 (with ``--input float32``: frames normalised by
``mmnet_jax.vision.frames.normalize``). The batch size B is symbolic. The archive holds
``metadata.json`` (class names, input and output specs, preprocessing, versions),
``exported.bin`` (``jax.export.Exported.serialize()``) and ``README.txt``; zip's CRC-32
guards the program's bytes. More in docs/models.md ("Use a trained model").
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import zipfile
import zlib
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
Micro-expression classifier ({model}) exported with jax.export ({format}).

Inputs: {inputs}, {input_text}.
Output: logits (batch, {num_classes}) float32; classes: {class_names}.

Load with plain JAX (no Flax or model code needed):

    import json, zipfile, jax
    with zipfile.ZipFile("{name}") as z:
        meta = json.loads(z.read("{meta}"))
        exported = jax.export.deserialize(bytearray(z.read("{exported}")))
    logits = exported.call({args})

or with mmnet_jax installed: mmnet_jax.inference.export.load("{name}")({args}).
"""


def _input_text(input_dtype: str, size: int, inputs: Sequence[str] = ("onset", "apex")) -> str:
    if tuple(inputs) == ("flow",):
        return (
            f"float32 NHWC (batch, {size}, {size}, 3): the onset-to-apex flow as the field's "
            "flow image (each channel min-max normalised to 0..255, in cv2.imread's channel "
            "order of those images: docs/flow.md)"
        )
    if input_dtype == "uint8":
        return (
            f"uint8 RGB NHWC (batch, {size}, {size}, 3), values 0..255, face crops resized "
            "to the image size; the program scales and normalises them"
        )
    return (
        f"float32 NHWC (batch, {size}, {size}, 3), RGB scaled to [0, 1] then normalised "
        "with the mean and std in metadata.json"
    )


def export_program(
    model: Any, *, input_dtype: str = "uint8", platforms: Sequence[str] = DEFAULT_PLATFORMS
) -> jax.export.Exported:
    """The exported program of ``model`` (a model of the registry, eval mode) for
    ``platforms``: logits of a batch of its inputs (``ModelSpec.inputs``, e.g. onset and
    apex frames) of any size; see the module docstring for their layout."""
    from flax import nnx  # noqa: PLC0415 - load() must not need Flax

    from mmnet_jax.models import registry  # noqa: PLC0415
    from mmnet_jax.vision import frames  # noqa: PLC0415

    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input_dtype must be one of {INPUT_DTYPES}, got {input_dtype!r}")
    model.eval()
    size = model.config.image_size
    names = registry.of_model(model).inputs
    graphdef, state = nnx.split(model)

    def forward(*inputs: jax.Array) -> jax.Array:
        # The weights are closed over, so they become constants of the exported program.
        m = nnx.merge(graphdef, state)
        if input_dtype == "uint8":  # frames only: a flow input is the field image, float
            inputs = tuple(
                x if n == "flow" else frames.normalize(x)
                for n, x in zip(names, inputs, strict=True)
            )
        return m(*inputs).astype(jnp.float32)

    (batch,) = jax.export.symbolic_shape("batch")
    specs = [
        jax.ShapeDtypeStruct((batch, size, size, 3), jnp.dtype(_dtype_of(n, input_dtype)))
        for n in names
    ]
    return jax.export.export(jax.jit(forward), platforms=tuple(platforms))(*specs)


def _dtype_of(name: str, input_dtype: str) -> str:
    """An input's dtype in the program: the flow is float32 (the field's flow image,
    0..255), the frames ``input_dtype``."""
    return "float32" if name == "flow" else input_dtype


def export_model(
    model: Any,
    meta: dict,
    out: str | os.PathLike,
    *,
    input_dtype: str = "uint8",
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    source: dict | None = None,
) -> dict:
    """Write ``model`` (a model of the registry, eval mode) to ``out`` as an export file;
    returns its metadata. See the module docstring for the function exported and the file
    format.
    """
    from mmnet_jax.inference import model_dir  # noqa: PLC0415
    from mmnet_jax.models import registry  # noqa: PLC0415
    from mmnet_jax.vision import frames  # noqa: PLC0415

    config = model.config
    size = config.image_size
    names = model_dir.class_names(config.num_classes, meta)
    exported = export_program(model, input_dtype=input_dtype, platforms=platforms)
    blob = exported.serialize()
    inputs = registry.of_model(model).inputs

    frame = {
        "shape": ["batch", size, size, 3],
        "dtype": input_dtype,
        "layout": "NHWC",
        "channels": "RGB",
        "values": "0..255" if input_dtype == "uint8" else "normalised (x / 255 - mean) / std",
    }
    flow = {
        "shape": ["batch", size, size, 3],
        "dtype": "float32",
        "layout": "NHWC",
        "channels": "the field's flow image as cv2.imread reads it (docs/flow.md)",
        "values": "0..255, each channel min-max normalised",
    }
    metadata = {
        "format": FORMAT,
        "class_names": names,
        "num_classes": config.num_classes,
        "image_size": size,
        "inputs": [{"name": name, **(flow if name == "flow" else frame)} for name in inputs],
        "outputs": [{"name": "logits", "shape": ["batch", config.num_classes], "dtype": "float32"}],
        "input_description": _input_text(input_dtype, size, inputs),
        "preprocess": {
            **frames.constants(size),
            "applied_inside": input_dtype == "uint8",
            "resize": "square resize to image_size (area filter down, bilinear up)",
        },
        **registry.describe(config),
        "platforms": list(exported.platforms),
        "jax_version": jax.__version__,
        "jaxlib_version": _jaxlib_version(),
        "calling_convention_version": exported.calling_convention_version,
        "source": {**(source or {}), "model_source": meta.get("source", "")},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    readme = _README.format(
        format=FORMAT,
        model=metadata["model"],
        inputs=" and ".join("the flow image" if n == "flow" else f"{n} frames" for n in inputs),
        args=", ".join(inputs),
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


def _jaxlib_version() -> str:
    try:
        import jaxlib  # noqa: PLC0415

        return jaxlib.__version__
    except (ImportError, AttributeError):
        return ""


class ExportedModel:
    """A loaded export file: call it with the model's inputs (``input_names``, e.g.
    ``model(onset, apex)``) -> logits.

    Attributes:
      metadata: the file's metadata.json.
      class_names, num_classes, image_size, input_dtype, input_names, platforms: from the
        metadata.
      exported: the ``jax.export.Exported`` (its ``call`` also works inside ``jax.jit``).
    """

    def __init__(self, exported: jax.export.Exported, metadata: dict):
        self.exported = exported
        self.metadata = metadata
        self.class_names: list[str] = list(metadata["class_names"])
        self.num_classes: int = int(metadata["num_classes"])
        self.image_size: int = int(metadata["image_size"])
        self.input_names: tuple[str, ...] = tuple(i["name"] for i in metadata["inputs"])
        self.input_dtypes: dict[str, str] = {i["name"]: i["dtype"] for i in metadata["inputs"]}
        frame_dtypes = [d for n, d in self.input_dtypes.items() if n != "flow"]
        self.input_dtype: str = frame_dtypes[0] if frame_dtypes else "float32"
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
        if self.input_dtypes[name] == "uint8":
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

    def __call__(self, *frames) -> jax.Array:
        """Logits (B, num_classes) float32 for the model's input frames, each
        (B, S, S, 3), in the order of ``input_names``."""
        if len(frames) != len(self.input_names):
            raise TypeError(
                f"this model takes {len(self.input_names)} inputs "
                f"({', '.join(self.input_names)}), got {len(frames)}"
            )
        frames = tuple(self._check(n, x) for n, x in zip(self.input_names, frames, strict=True))
        sizes = {x.shape[0] for x in frames}
        if len(sizes) > 1:
            counts = ", ".join(
                f"{x.shape[0]} {n}" for n, x in zip(self.input_names, frames, strict=True)
            )
            raise ValueError(f"the inputs' batch sizes differ: {counts} frames")
        return self._call(*frames)

    def probabilities(self, *frames) -> jax.Array:
        """Softmax of the logits, (B, num_classes)."""
        return jax.nn.softmax(self(*frames), axis=-1)

    def __repr__(self) -> str:
        return (
            f"ExportedModel({self.metadata.get('model', 'mmnet')}: {self.num_classes} classes, "
            f"{self.image_size}px, "
            f"{self.input_dtype} input, platforms={self.platforms})"
        )


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata.json of an export file."""
    return _open(path)[0]


def _open(path: str | os.PathLike, with_blob: bool = False) -> tuple[dict, bytes | None]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"export file not found: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not an MMNet export file (not a zip archive)") from None
    with archive:
        names = set(archive.namelist())
        if METADATA_NAME not in names or EXPORTED_NAME not in names:
            raise ValueError(
                f"{path}: not an MMNet export file (needs {METADATA_NAME} and {EXPORTED_NAME})"
            )
        try:
            metadata = json.loads(_read(archive, METADATA_NAME, path))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: {METADATA_NAME} is not valid JSON ({e})") from None
        blob = _read(archive, EXPORTED_NAME, path) if with_blob else None
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: format {metadata.get('format')!r}, expected {FORMAT!r}")
    return metadata, blob


def _read(archive: zipfile.ZipFile, name: str, path) -> bytes:
    """A member's bytes; zipfile checks them against the CRC-32 stored in the archive
    (the file's one integrity check)."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise ValueError(f"{path}: {name} is damaged ({e}); export the model again") from None


def load(path: str | os.PathLike) -> ExportedModel:
    """Load an export file written by :func:`export_model`; needs only jax and numpy.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not an export file, or its program bytes are damaged.
    """
    metadata, blob = _open(path, with_blob=True)
    exported = jax.export.deserialize(bytearray(blob))
    return ExportedModel(exported, metadata)


def _define(fv) -> None:
    # Imported here: load() needs only jax and numpy.
    from absl import flags  # noqa: PLC0415

    from mmnet_jax.inference import model_dir  # noqa: PLC0415

    model_dir.define_flags(fv)
    flags.DEFINE_string("out", None, "file to write (a zip archive); required", flag_values=fv)
    flags.DEFINE_enum(
        "input", "uint8", INPUT_DTYPES, "uint8: RGB frames 0..255, normalised inside "
        "(default); float32: frames already normalised", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_list(
        "platforms", list(DEFAULT_PLATFORMS), "comma-separated jax platforms to lower for",
        flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_boolean(
        "check", True, "compare the exported program with the model on random frames "
        "(--no_check skips it)", flag_values=fv,
    )  # fmt: skip


def _body(fv, positional: list[str]) -> int:
    from mmnet_jax import cli
    from mmnet_jax.inference import model_dir  # noqa: PLC0415

    cli.no_positional(positional)
    if not fv.out:
        cli.fail("--out is required: the export file to write (see --help)")
    load_model = model_dir.loader_from_flags(fv)
    platforms = tuple(p.strip() for p in fv.platforms if p.strip())
    if not platforms:
        cli.fail("--platforms is empty: give e.g. --platforms cpu,cuda,tpu")
    out_dir = os.path.dirname(os.path.abspath(fv.out))
    if not os.path.isdir(out_dir):
        cli.fail(f"output folder not found: {out_dir} (for --out {fv.out})")
    if os.path.isdir(fv.out):
        cli.fail(f"--out {fv.out} is a folder: give the file to write")
    model, meta = load_model()
    source = {"workdir": fv.workdir, "model_dir": fv.model_dir, "fold": fv.fold}
    try:
        metadata = export_model(
            model, meta, fv.out, input_dtype=fv.input, platforms=platforms, source=source
        )
    except ValueError as e:  # e.g. an unknown platform name
        cli.fail(f"cannot export for platforms {','.join(platforms)}: {e}")
    summary = {
        "out": fv.out,
        "bytes": os.path.getsize(fv.out),
        "platforms": metadata["platforms"],
        "input": metadata["input_description"],
        "class_names": metadata["class_names"],
    }
    if fv.check:
        summary["check"] = check(model, fv.out)
    print(json.dumps(summary, indent=2))
    return 0


def check(model: Any, path: str | os.PathLike, batch_sizes=(1, 3)) -> dict:
    """Compare the export file with the model on random frames at several batch sizes
    (on the default backend); returns the largest relative difference of the logits."""
    from mmnet_jax.inference import predict  # noqa: PLC0415
    from mmnet_jax.vision import frames

    loaded = load(path)
    rng = np.random.default_rng(0)
    s, n = loaded.image_size, max(batch_sizes)
    given = {name: rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8) for name in ("onset", "apex")}
    given["flow"] = rng.uniform(0, 255, (n, s, s, 3)).astype(np.float32)  # a flow image
    # The model one input at a time: independent of the batch sizes under test.
    want = predict.logits_of(model, given["onset"], given["apex"], 1, flow=given["flow"])
    inputs = [given[name] for name in loaded.input_names]
    if loaded.input_dtype == "float32":
        inputs = [
            x if name == "flow" else frames.normalize(x)
            for name, x in zip(loaded.input_names, inputs, strict=True)
        ]
    worst = 0.0
    for b in batch_sizes:
        got = np.asarray(loaded(*(x[:b] for x in inputs)))
        rel = np.abs(got - want[:b]).max() / max(np.abs(want[:b]).max(), 1e-12)
        worst = max(worst, float(rel))
    return {"batch_sizes": list(batch_sizes), "max_rel_diff": worst}


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 ok, 2 user error with one line, 130)."""
    from mmnet_jax import cli  # noqa: PLC0415

    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
