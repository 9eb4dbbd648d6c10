"""``mmnet flow``: the optical flow from an onset to an apex image, as the field computes it.

    mmnet flow --onset onset.png --apex apex.png --out flow.npz [--png flow.png] [--size 28]

TV-L1 flow (OpenCV's contrib build) and the optical strain on the two images as given
(no face crop: give face crops), in grey. ``--out`` (.npz) holds ``u``, ``v`` and
``strain``, float32 (H, W) each (``u``, ``v``: the onset-to-apex displacement in pixels,
``x`` to the right, ``y`` down), and ``params``, the TV-L1 parameters as JSON text.
``--size S`` resizes them to S x S first (``u``, ``v`` scaled to pixels at that size).
``--png`` also writes the field's flow image: each channel min-max normalised to 0..255,
red u, green v, blue strain, as the STSTNet release's ``norm_u_v_os`` images. Details:
docs/flow.md. Exit status: 0 written, 2 a user mistake (one ``error:`` line).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import cv2
import numpy as np
from absl import flags
from etils import epath

from mmnet_jax import cli
from mmnet_jax.vision import flow
from mmnet_jax.vision import frames as frames_lib


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("onset", None, "onset image (a face crop); required", flag_values=fv)
    flags.DEFINE_string("apex", None, "apex image, the same size; required", flag_values=fv)
    flags.DEFINE_string("out", None, ".npz to write (u, v, strain, params); required",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_string("png", None, "also write the field's flow image here (.png)",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_integer("size", None, "resize the flow to size x size (default: as given)",
                         lower_bound=2, flag_values=fv)  # fmt: skip


def _read(flag: str, path: str) -> np.ndarray:
    if not epath.Path(path).exists():
        cli.fail(f"--{flag} {path}: no such file")
    if epath.Path(path).is_dir():
        cli.fail(f"--{flag} {path}: is a folder, not an image")
    try:
        return frames_lib.read_rgb(path)
    except (OSError, frames_lib.FrameError) as e:
        cli.fail(f"--{flag} {path}: {cli.one_line(e)}")


def _check_out(flag: str, path: str | None, suffix: str) -> None:
    if path is None:
        return
    target = epath.Path(path)
    if target.suffix.lower() != suffix:
        cli.fail(f"--{flag} {path}: the file name must end in {suffix}")
    if target.is_dir():
        cli.fail(f"--{flag} {path}: is a folder")
    if not target.parent.is_dir():
        cli.fail(f"--{flag} {path}: no folder {target.parent}")


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    for name in ("onset", "apex", "out"):
        if not fv[name].value:
            cli.fail(f"--{name} is required (see --help)")
    _check_out("out", fv.out, ".npz")
    _check_out("png", fv.png, ".png")
    onset, apex = _read("onset", fv.onset), _read("apex", fv.apex)
    params = flow.DEFAULT_PARAMS
    try:
        out = flow.features(onset, apex, fv.size, params)
    except flow.FlowUnavailable as e:
        cli.fail(str(e))
    except flow.FlowError as e:
        cli.fail(f"--onset {fv.onset}, --apex {fv.apex}: {cli.one_line(e)}")
    described = {**params.describe(), "size": fv.size}
    with epath.Path(fv.out).open("wb") as f:
        np.savez(f, u=out[..., 0], v=out[..., 1], strain=out[..., 2], params=json.dumps(described))
    print(f"wrote {fv.out} (u, v, strain: {out.shape[1]}x{out.shape[0]}, float32)")
    if fv.png:
        ok, data = cv2.imencode(".png", flow.to_field_image(out))
        if not ok:
            cli.fail(f"--png {fv.png}: PNG encoding failed")
        epath.Path(fv.png).write_bytes(data.tobytes())
        print(f"wrote {fv.png} (the field's flow image: red u, green v, blue strain)")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 written, 2 user error with one line)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
