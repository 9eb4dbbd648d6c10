"""``mmnet convert``: an official MMNet state dict (.pth or .npz) -> a model directory.

    mmnet convert --weights CASME2_5class.pth --out models/casme2_5class

The key mapping and layouts are the model's own (:mod:`mmnet_jax.models.mmnet.params`);
``.pth`` files are read with PyTorch (the ``[torch]`` extra), ``.npz`` without it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

import numpy as np
from absl import flags

from mmnet_jax import cli
from mmnet_jax.models import MMNetConfig
from mmnet_jax.models.mmnet import params
from mmnet_jax.training import checkpoints


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("weights", None, "official state dict: .pth or .npz; required",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_enum("preset", "5class", ["5class", "3class"], "official architecture",
                      flag_values=fv)  # fmt: skip
    flags.DEFINE_integer(
        "num_classes", None, "head width (default: from the weights)", flag_values=fv
    )
    flags.DEFINE_boolean(
        "antialias", False, "anti-aliased PC resize (weights trained with newer torchvision)",
        flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_list(
        "class_names", None, "comma-separated class names, in label order", flag_values=fv
    )
    flags.DEFINE_string("out", None, "model directory to write; required", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if not fv.weights:
        cli.fail("--weights is required: the official state dict (.pth or .npz)")
    if not fv.out:
        cli.fail("--out is required: the model directory to write")
    if os.path.exists(fv.out) and not os.path.isdir(fv.out):
        cli.fail(f"--out {fv.out} exists and is not a folder")
    preset = MMNetConfig.official_5class if fv.preset == "5class" else MMNetConfig.official_3class
    config = preset(pc_resize_antialias=fv.antialias)
    try:
        sd = params.load_state_dict(fv.weights)
    except (OSError, ImportError, ValueError) as e:
        cli.fail(str(e))
    if fv.num_classes is not None:
        config = dataclasses.replace(config, num_classes=fv.num_classes)
    elif "main_branch.fc.weight" in sd:
        config = dataclasses.replace(
            config, num_classes=int(np.shape(sd["main_branch.fc.weight"])[0])
        )
    try:
        model = params.mmnet_from_torch(sd, config)
    except ValueError as e:  # keys or shapes that do not fit (named in the message)
        cli.fail(f"{fv.weights}: {e}")
    try:
        checkpoints.save_model_dir(
            fv.out, model, class_names=fv.class_names, source=f"converted from {fv.weights}"
        )
    except ValueError as e:  # class names that do not fit the head
        cli.fail(f"--class_names: {e}")
    print(f"wrote {fv.out} ({config.num_classes} classes, {fv.preset})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 ok, 2 user error with one line, 130)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
