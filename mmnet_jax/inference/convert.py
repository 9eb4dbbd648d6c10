"""``mmnet convert``: official PyTorch weights (.pth or .npz) -> a model directory, or a
folder of per-subject weights -> a LOSO workdir of fold models.

    mmnet convert --weights CASME2_5class.pth --out models/casme2_5class
    mmnet convert --model ststnet --weights STSTNet_Weights/006.pth --out models/ststnet_006
    mmnet convert --model ststnet --weights STSTNet_Weights --out runs/ststnet_release

The key mapping and layouts are each model's own (``mmnet_jax.models.<name>.params``);
``.pth`` files are read with PyTorch (the ``[torch]`` extra), ``.npz`` without it. A
folder of ``<subject>.pth`` (or ``.npz``) files, one state dict per held-out subject as
the STSTNet release ships them, becomes a LOSO workdir whose fold models
``mmnet predict --workdir OUT --fold SUBJECT`` and ``model_dir.load(OUT, fold=SUBJECT)``
load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from flax import nnx

from mmnet_jax import cli
from mmnet_jax import workdir as workdir_files
from mmnet_jax.evaluation import results
from mmnet_jax.models import MMNetConfig, registry, torch_weights
from mmnet_jax.training import checkpoints

# Each convertible model's head weight: its first axis is the number of classes.
HEAD_WEIGHT = {
    "mmnet": "main_branch.fc.weight",
    "ststnet": "fc.weight",
    "off_apexnet": "fc.weight",
    "htnet": "mlp_head.2.weight",
}
# The baselines' official code labels the composite's three classes so.
BASELINE_CLASSES = ("negative", "positive", "surprise")
WEIGHT_SUFFIXES = (".pth", ".pt", ".npz")


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum("model", "mmnet", sorted(HEAD_WEIGHT), "the model the weights are of",
                      flag_values=fv)  # fmt: skip
    flags.DEFINE_string("weights", None, "official state dict (.pth or .npz), or a folder of "
                        "<subject>.pth state dicts (one per LOSO fold); required",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_enum("preset", "5class", ["5class", "3class"],
                      "official MMNet architecture (--model mmnet)", flag_values=fv)  # fmt: skip
    flags.DEFINE_integer(
        "num_classes", None, "head width (default: from the weights)", flag_values=fv
    )
    flags.DEFINE_boolean(
        "antialias", False, "anti-aliased PC resize (weights trained with newer torchvision; "
        "--model mmnet)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_list(
        "class_names", None, "comma-separated class names, in label order (default: "
        "class_<i>; the baselines' 3 classes: negative,positive,surprise)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_string("out", None, "model directory (or, for a folder of weights, the LOSO "
                        "workdir) to write; required", flag_values=fv)  # fmt: skip


def _base_config(fv: flags.FlagValues):
    if fv.model == "mmnet":
        preset = (
            MMNetConfig.official_5class if fv.preset == "5class" else MMNetConfig.official_3class
        )
        return preset(pc_resize_antialias=fv.antialias)
    for name in ("preset", "antialias"):
        if fv[name].present:
            cli.fail(f"--{name} is for --model mmnet, not {fv.model}")
    return registry.get(fv.model).config_class()


def _read(path: str) -> dict[str, np.ndarray]:
    try:
        return torch_weights.read(path)
    except (OSError, ImportError, ValueError) as e:
        cli.fail(str(e))


def _config_for(fv: flags.FlagValues, config, sd: dict):
    if fv.num_classes is not None:
        return dataclasses.replace(config, num_classes=fv.num_classes)
    head = HEAD_WEIGHT[fv.model]
    if head in sd:
        return dataclasses.replace(config, num_classes=int(np.shape(sd[head])[0]))
    return config


def _convert(fv: flags.FlagValues, config, sd: dict, path: str):
    try:
        return registry.get(fv.model).from_torch(sd, config)
    except ValueError as e:  # keys or shapes that do not fit (named in the message)
        cli.fail(f"{path}: {e}")


def _class_names(fv: flags.FlagValues, num_classes: int) -> list[str] | None:
    if fv.class_names:
        if len(fv.class_names) != num_classes:
            cli.fail(f"--class_names: {len(fv.class_names)} names for a {num_classes}-way head")
        return list(fv.class_names)
    if fv.model != "mmnet" and num_classes == len(BASELINE_CLASSES):
        return list(BASELINE_CLASSES)
    return None


def fold_weights(folder: str) -> dict[str, str]:
    """``{subject: path}`` of the ``<subject>.pth`` / ``.pt`` / ``.npz`` files of a folder,
    sorted by subject."""
    out = {}
    for entry in sorted(os.listdir(folder)):
        stem, suffix = os.path.splitext(entry)
        if suffix in WEIGHT_SUFFIXES and os.path.isfile(os.path.join(folder, entry)):
            if stem in out:
                cli.fail(f"{folder}: two state dicts for subject {stem!r}")
            out[stem] = os.path.join(folder, entry)
    return out


def write_loso_workdir(
    workdir: str, models: dict[str, nnx.Module], class_names: list[str], source: str
) -> None:
    """A LOSO workdir holding one fold model per subject, as training writes them: the
    resolved ``config.json`` (model, subjects, class names) and one checkpoint of the
    fold states stacked along a leading fold axis, every fold finished (the layout
    :func:`mmnet_jax.training.checkpoints.load_fold_model` reads)."""
    subjects = list(models)
    config = next(iter(models.values())).config
    parts = []
    for model in models.values():
        model.eval()
        _, params, rest = nnx.split(model, nnx.Param, ...)
        parts.append((params, rest))
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    params = jax.tree.map(stack, *[p for p, _ in parts])
    rest = jax.tree.map(stack, *[r for _, r in parts])
    epochs = 1  # the converted models count as one finished epoch each
    resolved = {
        **registry.describe(config),
        "train_settings": {"epochs": epochs},
        "data": {"dataset": "converted", "class_names": class_names, "subjects": subjects},
        "source": source,
    }
    path = checkpoints.absolute(workdir)
    path.mkdir(parents=True, exist_ok=True)
    (path / workdir_files.CONFIG).write_text(json.dumps(resolved, indent=2, sort_keys=True))
    progress = results.Progress(
        group=0, epoch=epochs, groups=[list(range(len(subjects)))], epochs=epochs
    )
    ckpt = checkpoints.RunCheckpoints(path, keep=1, epochs=epochs)
    try:
        ckpt.save(epochs, {"params": params, "rest": rest}, progress)
    finally:
        ckpt.close()


def _folder(fv: flags.FlagValues, config) -> int:
    found = fold_weights(fv.weights)
    if not found:
        cli.fail(
            f"{fv.weights}: no <subject>.pth (or .pt, .npz) state dicts in the folder: "
            "give one state dict, or a folder of one per LOSO subject"
        )
    if os.path.exists(os.path.join(fv.out, workdir_files.CONFIG)):
        cli.fail(f"--out {fv.out} already holds a workdir (config.json): use a new folder")
    models = {}
    for subject, path in found.items():
        sd = _read(path)
        cfg = _config_for(fv, config, sd)
        if models and cfg != next(iter(models.values())).config:
            cli.fail(f"{path}: a {cfg.num_classes}-way head, the folder's first file has "
                     f"{next(iter(models.values())).config.num_classes}")  # fmt: skip
        models[subject] = _convert(fv, cfg, sd, path)
    cfg = next(iter(models.values())).config
    names = _class_names(fv, cfg.num_classes) or [f"class_{i}" for i in range(cfg.num_classes)]
    write_loso_workdir(fv.out, models, names, f"converted from {fv.weights}")
    print(f"wrote {fv.out} ({len(models)} LOSO folds of {fv.model}, {cfg.num_classes} classes)")
    return 0


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if not fv.weights:
        cli.fail("--weights is required: the official state dict (.pth or .npz)")
    if not fv.out:
        cli.fail("--out is required: the model directory to write")
    if os.path.exists(fv.out) and not os.path.isdir(fv.out):
        cli.fail(f"--out {fv.out} exists and is not a folder")
    config = _base_config(fv)
    if os.path.isdir(fv.weights):
        return _folder(fv, config)
    sd = _read(fv.weights)
    config = _config_for(fv, config, sd)
    model = _convert(fv, config, sd, fv.weights)
    names = _class_names(fv, config.num_classes)
    try:
        checkpoints.save_model_dir(
            fv.out, model, class_names=names, source=f"converted from {fv.weights}"
        )
    except ValueError as e:  # class names that do not fit the head
        cli.fail(f"--class_names: {e}")
    what = fv.preset if fv.model == "mmnet" else fv.model
    print(f"wrote {fv.out} ({config.num_classes} classes, {what})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 ok, 2 user error with one line, 130)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
