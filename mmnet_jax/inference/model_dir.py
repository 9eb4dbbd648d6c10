"""Trained models, saved and found in one place: model directories, and the models a
training workdir holds.

A model directory is the deployable form of one model of the registry (training with
``final_model=True`` writes ``WORKDIR/final_model``; ``mmnet convert``
writes one from the official weights)::

    DIR/model.json   format tag, model name and config, class names, preprocessing, source
    DIR/state/       Orbax checkpoint of the parameters and BatchNorm statistics

:func:`load` also takes a training workdir: its all-subjects model
(``WORKDIR/final_model``), or one LOSO fold's model, which
:func:`mmnet_jax.training.checkpoints.load_fold_model` restores (only
``mmnet_jax.training`` knows the training checkpoints' layout).

:func:`define_flags` and :func:`loader_from_flags` give the commands (predict, export,
explain) the same ``--workdir``, ``--model_dir`` and ``--fold`` flags and messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from absl import flags
from etils import epath
from flax import nnx

from mmnet_jax import cli
from mmnet_jax import workdir as workdir_files
from mmnet_jax.models import registry
from mmnet_jax.training import checkpoints
from mmnet_jax.training import checkpoints as run_checkpoints
from mmnet_jax.vision import frames

FORMAT = checkpoints.MODEL_FORMAT
_STATE_FILTER = checkpoints.MODEL_STATE_FILTER


def is_model_dir(path: str | os.PathLike) -> bool:
    return (epath.Path(path) / "model.json").exists()


def read_meta(directory: str | os.PathLike) -> dict:
    """The model.json of a model directory.

    Raises:
      FileNotFoundError: no model.json there (the message says what writes one).
      ValueError: another format, or preprocessing other than :mod:`mmnet_jax.vision.frames`'s.
    """
    path = epath.Path(directory)
    meta_file = path / "model.json"
    if not meta_file.exists():
        raise FileNotFoundError(
            f"{path} is not a model directory: {meta_file} is missing (model directories "
            "are written by training with --config.final_model=True, as WORKDIR/final_model, "
            "or by mmnet convert)"
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_file}: format {meta.get('format')!r}, expected {FORMAT!r}")
    # The commands normalise with mmnet_jax.vision.frames (the one normaliser); a model saved with
    # other constants would be fed wrongly scaled frames, so refuse it.
    want = frames.constants(int(registry.config_from(meta).image_size))
    got = meta.get("preprocess") or want
    for key in ("scale", "mean", "std"):
        if key in got and got[key] != want[key]:
            raise ValueError(
                f"{meta_file}: preprocess {key} {got[key]}, but mmnet_jax normalises frames "
                f"with {want[key]}"
            )
    return meta


def _load_directory(path: epath.Path) -> tuple[Any, dict]:
    meta = read_meta(path)
    config = registry.config_from(meta)
    spec = registry.of_config(config)
    class_names(config.num_classes, meta)
    # Abstract model: no random init to compile; every value comes from the checkpoint.
    model = nnx.eval_shape(lambda: spec.build(config, nnx.Rngs(0)))
    abstract = nnx.to_pure_dict(nnx.state(model, _STATE_FILTER))
    if not (path / "state").exists():
        raise FileNotFoundError(f"{path / 'state'} is missing: the model directory is incomplete")
    with ocp.StandardCheckpointer() as ckptr:
        try:
            restored = ckptr.restore(path / "state", abstract)
        except (ValueError, KeyError) as e:
            raise ValueError(
                f"{path / 'state'} does not fit the model described in model.json: {e}"
            ) from e
    _check_shapes(abstract, restored, path / "state")
    state = nnx.state(model, _STATE_FILTER)
    nnx.replace_by_pure_dict(state, restored)
    nnx.update(model, state)
    _fresh_rng_streams(model)
    model.eval()
    return model, meta


def _fresh_rng_streams(model) -> None:
    """Give the PRNG streams of dropout and drop-path, which a model directory does not
    store (they are left abstract by ``eval_shape``), fresh values: count 0 and keys
    from ``jax.random.key(0)``, one per stream. Evaluation never reads them; without
    values the model could not be passed to a jitted function."""
    flat = dict(nnx.to_flat_state(nnx.state(model, nnx.RngState)))
    for i, (_, var) in enumerate(sorted(flat.items())):
        if isinstance(var, nnx.RngKey):
            var.set_value(jax.random.fold_in(jax.random.key(0), i))
        elif isinstance(var, nnx.RngCount):
            var.set_value(jnp.zeros(var.get_value().shape, var.get_value().dtype))
    nnx.update(model, nnx.from_flat_state(flat))


def _check_shapes(expected, restored, where) -> None:
    """Orbax restores into an abstract target without checking shapes: check them here."""
    got = dict(jax.tree_util.tree_flatten_with_path(restored)[0])
    for key, leaf in jax.tree_util.tree_flatten_with_path(expected)[0]:
        name = jax.tree_util.keystr(key, simple=True, separator="/")
        if key not in got:
            raise ValueError(f"{where} lacks {name}: incompatible checkpoint")
        if tuple(got[key].shape) != tuple(leaf.shape):
            raise ValueError(
                f"{where}: {name} has shape {tuple(got[key].shape)}, the model in model.json "
                f"needs {tuple(leaf.shape)}: incompatible checkpoint"
            )


def class_names(num_classes: int, meta: dict) -> list[str]:
    """The class names of a model's metadata (``class_<i>`` when absent).

    Raises:
      ValueError: their number does not fit a ``num_classes``-way head.
    """
    names = list(meta.get("class_names") or [f"class_{i}" for i in range(num_classes)])
    if len(names) != num_classes:
        raise ValueError(f"model.json lists {len(names)} class names for a {num_classes}-way head")
    return names


def _no_model_reason(workdir: epath.Path) -> str:
    """Why a folder has no all-subjects model, and what to do (the error's text)."""
    final = workdir / workdir_files.FINAL_MODEL
    cfg_file = workdir / workdir_files.CONFIG
    if not cfg_file.exists():
        return (
            f"{workdir} is neither a model directory ({workdir / 'model.json'} is missing) "
            f"nor a training workdir ({cfg_file} is missing)"
        )
    try:
        run = json.loads(cfg_file.read_text()).get("run_config", {})
    except ValueError:
        run = {}
    if run.get("final_model") or not (workdir / workdir_files.RESULTS).exists():
        # A run that stopped (NaN loss, Ctrl-C, a crash) has config.json but no results.
        return (
            f"{workdir} has no final model ({final / 'model.json'} is missing): its run did "
            f"not finish ({workdir / 'results.json'} is missing: it stopped early, e.g. on a "
            "NaN loss or an interrupt). Fix the cause and rerun the same train.py command (it "
            "resumes from the last checkpoint), or pass --fold SUBJECT for a fold whose "
            "training finished"
        )
    return (
        f"{workdir} has no final model ({final / 'model.json'} is missing): the run trained "
        "the LOSO folds only. Train with --config.final_model=True to write one, or pass "
        "--fold SUBJECT to use the model of a LOSO fold"
    )


def locate(path_or_workdir: str | os.PathLike, fold: str | None = None) -> epath.Path:
    """Where :func:`load` will read from, checked without loading anything: the model
    directory, or (with ``fold``) the training workdir.

    Raises:
      FileNotFoundError: the folder does not exist, or holds no model (the message says
        why: no final model, a run that did not finish...).
      ValueError: ``fold`` given for a model directory.
    """
    path = run_checkpoints.absolute(path_or_workdir)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if is_model_dir(path):
        if fold is not None:
            raise ValueError(f"{path} is a model directory, not a training workdir with folds")
        return path
    if fold is not None:
        if not (path / workdir_files.CONFIG).exists():
            raise FileNotFoundError(
                f"{path} is not a training workdir: {path / 'config.json'} is missing"
            )
        return path
    if is_model_dir(path / workdir_files.FINAL_MODEL):
        return path / workdir_files.FINAL_MODEL
    raise FileNotFoundError(_no_model_reason(path))


def load(path_or_workdir: str | os.PathLike, fold: str | None = None) -> tuple[Any, dict]:
    """``(model, meta)``: the model in eval mode and its model.json metadata.

    Args:
      path_or_workdir: a model directory, or a training workdir (local or ``gs://...``).
      fold: ``None`` for a model directory or a workdir's all-subjects model
        (``WORKDIR/final_model``); a test subject's id for that LOSO fold's model, from
        the run's newest kept checkpoint in which the fold finished training.

    Raises:
      FileNotFoundError: no such folder, no model there, or an incomplete one.
      ValueError: a checkpoint that does not fit its config, or an unknown fold.
    """
    where = locate(path_or_workdir, fold)
    if fold is None:
        return _load_directory(where)
    model, resolved = run_checkpoints.load_fold_model(where, fold)
    config = model.config
    meta = {
        "format": FORMAT,
        **registry.describe(config),
        "class_names": class_names(config.num_classes, resolved["data"]),
        "preprocess": frames.constants(config.image_size),
        "source": f"LOSO fold {fold!r} of {where}",
    }
    return model, meta


# ---------------------------------------------------------------------------------------
# Flags shared by the commands


def define_flags(fv: flags.FlagValues) -> None:
    """``--workdir``, ``--model_dir`` and ``--fold``."""
    flags.DEFINE_string(
        "workdir", None, "training run folder: its all-subjects model (WORKDIR/final_model), "
        "or a LOSO fold's model with --fold (a model directory is accepted too)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_string(
        "model_dir", None, "model directory (model.json + state/), e.g. from mmnet convert",
        flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_string(
        "fold", None, "test subject of the LOSO fold whose model to use (with --workdir)",
        flag_values=fv,
    )  # fmt: skip


def loader_from_flags(fv: flags.FlagValues) -> Callable[[], tuple[Any, dict]]:
    """Check where the flags of :func:`define_flags` point (cheap: the commands do it
    before reading frames) and return a function that loads ``(model, meta)``.

    Raises (both now and from the returned function):
      UserError: a missing folder, no model there, or a model that does not load.
    """
    if (fv.workdir is None) == (fv.model_dir is None):
        cli.fail("give one of --workdir or --model_dir (see --help)")
    if fv.model_dir is not None:
        if fv.fold is not None:
            cli.fail("--fold selects a fold of a training workdir: use it with --workdir")
        path = epath.Path(fv.model_dir)
        if not path.is_dir():
            cli.fail(f"model directory not found: {path}")
        if not is_model_dir(path):
            cli.fail(f"{path} is not a model directory: {path / 'model.json'} is missing")
    else:
        path = epath.Path(fv.workdir)
        if not path.is_dir():
            cli.fail(f"workdir not found: {path}")
    try:
        locate(path, fv.fold)
    except (OSError, ValueError) as e:
        cli.fail(str(e))
    where = f"{path} (fold {fv.fold})" if fv.fold is not None else path

    def load_it() -> tuple[Any, dict]:
        # Missing or unreadable files (OSError) and checkpoints that do not fit their
        # config, are damaged or lack the fold (ValueError) are the user's to fix; the
        # loaders' messages name the file and field.
        try:
            return load(path, fv.fold)
        except (OSError, ValueError) as e:
            cli.fail(f"cannot load the model from {where}: {type(e).__name__}: {e}")

    return load_it
