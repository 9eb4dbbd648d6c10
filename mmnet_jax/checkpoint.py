"""Model directories: one trained (or converted) MMNet that prediction and export load.

``load_from_workdir`` also reaches into a training workdir: its all-subjects model, or
one LOSO fold's model out of the stacked training checkpoint.

Layout of a model directory::

    DIR/model.json   format tag, MMNetConfig, class names, preprocessing constants, source
    DIR/state/       Orbax checkpoint of the parameters and BatchNorm statistics

Training checkpoints of stacked fold states live elsewhere (``mmnet_jax.training``);
this is the deployable form.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from mmnet_jax import frames
from mmnet_jax.models import MMNet, MMNetConfig

FORMAT = "mmnet_jax.model/1"
_STATE_FILTER = nnx.Any(nnx.Param, nnx.BatchStat)


def config_from_dict(d: dict) -> MMNetConfig:
    fields = {f.name for f in dataclasses.fields(MMNetConfig)}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
    return MMNetConfig(**kw)


def save_model(
    directory: str | os.PathLike,
    model: MMNet,
    *,
    class_names: list[str] | None = None,
    source: str | None = None,
    extra: dict[str, Any] | None = None,
) -> epath.Path:
    """Write ``model`` (parameters + BatchNorm statistics) and its metadata to a directory."""
    path = epath.Path(directory).resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = model.config
    names = list(class_names) if class_names else [f"class_{i}" for i in range(config.num_classes)]
    if len(names) != config.num_classes:
        raise ValueError(f"{len(names)} class names for a {config.num_classes}-way head")
    meta = {
        "format": FORMAT,
        "mmnet_config": dataclasses.asdict(config),
        "class_names": names,
        "preprocess": frames.constants(config.image_size),
        "source": source or "",
        **(extra or {}),
    }
    state = nnx.to_pure_dict(nnx.state(model, _STATE_FILTER))
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path / "state", state, force=True)
    (path / "model.json").write_text(json.dumps(meta, indent=2))
    return path


def read_meta(directory: str | os.PathLike) -> dict:
    path = epath.Path(directory)
    meta_file = path / "model.json"
    if not meta_file.exists():
        raise FileNotFoundError(
            f"{path} is not a model directory: {meta_file} is missing (expected model.json "
            "and state/, as written by training with final_model=True, by "
            "`python -m mmnet_jax.convert`, or by mmnet_jax.checkpoint.save_model)"
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_file}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def load_model(
    directory: str | os.PathLike, *, config_overrides: dict | None = None
) -> tuple[MMNet, dict]:
    """``(model, meta)`` from a model directory; the model is in eval mode."""
    path = epath.Path(directory).resolve()
    meta = read_meta(path)
    config = config_from_dict({**meta["mmnet_config"], **(config_overrides or {})})
    # Abstract model: no random init to compile; every value comes from the checkpoint.
    model = nnx.eval_shape(lambda: MMNet(config, rngs=nnx.Rngs(0)))
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
    model.eval()
    return model, meta


def _check_shapes(expected, restored, where) -> None:
    """Orbax restores into an abstract target without checking shapes: check them here."""
    want, got = _flat_by_name(expected), _flat_by_name(restored)
    for name, leaf in want.items():
        if name not in got:
            raise ValueError(f"{where} lacks {name}: incompatible checkpoint")
        if tuple(got[name].shape) != tuple(leaf.shape):
            raise ValueError(
                f"{where}: {name} has shape {tuple(got[name].shape)}, the model in model.json "
                f"needs {tuple(leaf.shape)}: incompatible checkpoint"
            )


def _flat_by_name(tree) -> dict[str, Any]:
    import jax  # noqa: PLC0415

    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        names = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
        # Orbax stores an nnx Variable as a dict holding its value.
        out["/".join(names).removesuffix("/value")] = leaf
    return out


def load_from_workdir(workdir: str | os.PathLike, fold: str | None = None) -> tuple[MMNet, dict]:
    """``(model, meta)`` from a training workdir (or a model directory).

    Args:
      workdir: a training workdir, or a model directory (``model.json`` + ``state/``).
      fold: ``None`` for the all-subjects model (``WORKDIR/final_model``, written by a
        run with ``final_model=True``), or a test subject's id for that LOSO fold's
        model, read from the run's last checkpoint of that fold's group.
    """

    text = os.fspath(workdir)  # Orbax needs absolute local paths
    wd = epath.Path(text if "://" in text else os.path.abspath(text))
    if not wd.exists():
        raise FileNotFoundError(f"{wd} does not exist")
    if fold is None:
        if (wd / "model.json").exists():
            return load_model(wd)
        if (wd / "final_model" / "model.json").exists():
            return load_model(wd / "final_model")
        raise FileNotFoundError(
            f"{wd} has no all-subjects model ({wd / 'final_model'} is missing). Train one "
            "with --config.final_model=True, or choose a LOSO fold's model by its test subject"
        )
    from mmnet_jax.training import run_checkpoints  # noqa: PLC0415

    model, resolved = run_checkpoints.load_fold_model(wd, fold)
    config = model.config
    meta = {
        "format": FORMAT,
        "mmnet_config": dataclasses.asdict(config),
        "class_names": resolved["data"]["class_names"],
        "preprocess": frames.constants(config.image_size),
        "source": f"LOSO fold {fold!r} of {wd}",
    }
    return model, meta
