"""Orbax checkpoints of a LOSO run: stacked fold state plus the run's progress.

``WORKDIR/checkpoints/<step>/`` holds two items:

- ``state``: the ``FoldState`` of the group being trained (every leaf with a leading
  fold axis; PRNG keys stored as their uint32 key data);
- ``progress``: ``mmnet_jax.evaluation.results.Progress`` as JSON: which group and epoch the state
  is at, and the per-epoch history of every fold trained so far (losses, test
  predictions), so a resumed run reports exactly what an uninterrupted one would.

The step number counts epochs over the whole run (group * epochs + epoch), so the
latest checkpoint is always the furthest point reached.

Saves are asynchronous: ``save`` returns once the state is copied off the device (Orbax
copies every array to host memory before its ``save`` returns; the files are written
and committed by a background thread), so the next epoch may donate the state's buffers
while the previous epoch's checkpoint is being written. A checkpoint is written to a
temporary directory and renamed when complete, so a process killed mid-write leaves the
previous checkpoints intact. Everything that reads checkpoints, and ``wait``/``close``,
first waits for the pending save.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from mmnet_jax import workdir as workdir_files
from mmnet_jax.evaluation import results
from mmnet_jax.models import registry
from mmnet_jax.training import fold_trainer
from mmnet_jax.vision import frames

log = logging.getLogger(__name__)


def absolute(path) -> epath.Path:
    """Local paths made absolute (Orbax refuses relative ones); URLs (gs://...) as given."""
    text = os.fspath(path)
    return epath.Path(text if "://" in text else os.path.abspath(text))


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def keys_to_data(tree):
    """Typed PRNG keys -> uint32 key data (Orbax stores plain arrays)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def data_to_keys(tree, like):
    """Inverse of ``keys_to_data``, guided by a tree with the original key leaves."""
    return jax.tree.map(
        lambda x, ref: (
            jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref)) if _is_key(ref) else x
        ),
        tree,
        like,
    )


class RunCheckpoints:
    """Saves and restores (state, progress) in ``WORKDIR/checkpoints``."""

    def __init__(self, workdir: epath.Path, keep: int, epochs: int | None = None):
        """``keep`` latest checkpoints are kept and, with ``epochs``, also the last one of
        every fold group (steps that are multiples of ``epochs``), so each fold's final
        state stays loadable (``load_fold_model``)."""
        self.directory = absolute(workdir) / workdir_files.CHECKPOINTS
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            keep_period=epochs,
            create=True,
            enable_async_checkpointing=True,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "progress")
        )

    def latest_step(self) -> int | None:
        """The latest committed step (after the pending save)."""
        self.wait()
        return self.manager.latest_step()

    def save(self, step: int, state, progress: results.Progress) -> None:
        """Start saving ``state`` and ``progress`` as ``step``; returns once the state's
        arrays are copied to host memory (so they may be donated next), the files are
        written in the background (a previous pending save is waited for first)."""
        state = keys_to_data(state)
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                # A snapshot (to_json copies): the background write never sees later epochs.
                progress=ocp.args.JsonSave(progress.to_json()),
            ),
            force=True,
        )
        log.info("saving checkpoint %d in %s", step, self.directory)

    def wait(self) -> None:
        """Wait until the pending save (if any) is committed; raises its error if it
        failed."""
        self.manager.wait_until_finished()

    def restore_progress(self, step: int) -> results.Progress:
        self.wait()
        return _restore_progress(self.manager, step)

    def restore_state(self, step: int, like):
        """Restore the state at ``step`` into the shapes and shardings of ``like``."""
        self.wait()
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
            keys_to_data(like),
        )
        out = self.manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
        )
        return data_to_keys(out["state"], like)

    def close(self) -> None:
        """Wait for the pending save, then close."""
        self.wait()
        self.manager.close()


def saved_groups(workdir) -> list[list[int]] | None:
    """The fold groups of the latest checkpoint in ``workdir`` (None: no checkpoint)."""
    directory = absolute(workdir) / "checkpoints"
    if not directory.is_dir():
        return None
    options = ocp.CheckpointManagerOptions(read_only=True, create=False)
    manager = ocp.CheckpointManager(directory, options=options, item_names=("state", "progress"))
    try:
        step = manager.latest_step()
        return None if step is None else _restore_progress(manager, step).groups
    finally:
        manager.close()


def load_fold_model(workdir, subject: str):
    """The model of the LOSO fold that tests ``subject``, from a run's checkpoints.

    Returns ``(model, resolved)``: the model in eval mode and the run's resolved config
    (``config.json``). The state comes from the newest kept checkpoint in which that
    fold's group finished its last epoch.

    Raises:
      FileNotFoundError: no ``config.json``, or no finished checkpoint of the fold kept.
      ValueError: no fold tests ``subject``, or the checkpoint does not fit the model.
    """
    wd = absolute(workdir)
    cfg_file = wd / workdir_files.CONFIG
    if not cfg_file.exists():
        raise FileNotFoundError(f"{wd} is not a training workdir: {cfg_file} is missing")
    resolved = json.loads(cfg_file.read_text())
    subjects = resolved["data"]["subjects"]
    if subject not in subjects:
        raise ValueError(f"no fold tests subject {subject!r} in {wd}; subjects: {subjects}")
    index = subjects.index(subject)
    epochs = int(resolved["train_settings"]["epochs"])
    manager = ocp.CheckpointManager(
        wd / workdir_files.CHECKPOINTS, item_names=("state", "progress")
    )
    try:
        for step in sorted(manager.all_steps(), reverse=True):
            progress = _restore_progress(manager, step)
            group = progress.groups[progress.group]
            if index in group and progress.epoch == epochs:
                raw = manager.restore(
                    step, args=ocp.args.Composite(state=ocp.args.StandardRestore())
                )["state"]
                row = group.index(index)
                break
        else:
            raise FileNotFoundError(
                f"no finished checkpoint of fold {subject!r} is in {wd / 'checkpoints'} "
                "(has its fold group finished training?)"
            )
    finally:
        manager.close()
    config = registry.config_from(resolved)
    graphdef, params, rest = fold_trainer.eval_graphdef(config)
    stacked = {}
    for part, state in (("params", params), ("rest", rest)):
        saved = _flat_by_name(raw[part])
        flat = dict(nnx.to_flat_state(state))
        for path, var in flat.items():
            name = "/".join(map(str, path))
            if name not in saved:
                raise ValueError(f"checkpoint of fold {subject!r} lacks {part}/{name}")
            value = np.asarray(saved[name])
            if _is_key(var.get_value()):  # stored as its uint32 key data (keys_to_data)
                # The fold states' streams are the trainer's keys (fold_trainer.PRNG_IMPL).
                value = jax.random.wrap_key_data(value, impl=fold_trainer.PRNG_IMPL)
            if value.shape[1:] != var.get_value().shape:
                raise ValueError(
                    f"checkpoint of fold {subject!r}: {part}/{name} has shape "
                    f"{value.shape[1:]}, the model needs {var.get_value().shape}"
                )
            var.set_value(value)
        stacked[part] = nnx.from_flat_state(flat)
    model = fold_trainer.fold_model(graphdef, stacked["params"], stacked["rest"], row)
    return model, resolved


def _restore_progress(manager: ocp.CheckpointManager, step: int) -> results.Progress:
    out = manager.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore()))
    return results.Progress.from_json(out["progress"])


def _flat_by_name(tree) -> dict[str, Any]:
    """Leaves of a restored Orbax tree by their ``a/b/c`` path (nnx Variables are stored
    as dicts holding their value)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
        out["/".join(names).removesuffix("/value")] = leaf
    return out


# --- model directories ---------------------------------------------------------------
# A model directory (the deployable form of one model; read by mmnet_jax.inference.model_dir).
MODEL_FORMAT = "mmnet_jax.model/1"
MODEL_STATE_FILTER = nnx.Any(nnx.Param, nnx.BatchStat)


def save_model_dir(
    directory: str | os.PathLike,
    model: Any,
    *,
    class_names: list[str] | None = None,
    source: str | None = None,
    extra: dict[str, Any] | None = None,
) -> epath.Path:
    """Write ``model`` (parameters + BatchNorm statistics) and its metadata to a model
    directory; returns its absolute path.

    Args:
      directory: the folder to write (created; ``state/`` is overwritten).
      model: a model of the registry (``mmnet_jax.models.registry``).
      class_names: one per output, in label order (default ``class_<i>``).
      source: where the model comes from, for people reading model.json.
      extra: more model.json keys (e.g. ``epochs``, ``seed``).

    Raises:
      ValueError: the class names do not fit the model's head.
    """
    path = absolute(directory)
    config = model.config
    names = list(class_names) if class_names else [f"class_{i}" for i in range(config.num_classes)]
    if len(names) != config.num_classes:
        raise ValueError(f"{len(names)} class names for a {config.num_classes}-way head")
    path.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": MODEL_FORMAT,
        **registry.describe(config),
        "class_names": names,
        "preprocess": frames.constants(config.image_size),
        "source": source or "",
        **(extra or {}),
    }
    state = nnx.to_pure_dict(nnx.state(model, MODEL_STATE_FILTER))
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path / "state", state, force=True)
    (path / "model.json").write_text(json.dumps(meta, indent=2))
    return path
