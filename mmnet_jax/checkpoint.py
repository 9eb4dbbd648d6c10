"""Model directories: one trained (or converted) MMNet that prediction and export load.

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

from mmnet_jax import preprocess
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
        "preprocess": preprocess.constants(config.image_size),
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
    model = MMNet(config, rngs=nnx.Rngs(0))
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
    state = nnx.state(model, _STATE_FILTER)
    nnx.replace_by_pure_dict(state, restored)
    nnx.update(model, state)
    model.eval()
    return model, meta
