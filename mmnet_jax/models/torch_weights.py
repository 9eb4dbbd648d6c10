"""PyTorch state dicts <-> NNX modules, by a name map: what every model's ``params`` shares.

A model's converter is a *name map*: official state-dict name -> (path in
``nnx.state(module)``, layout), the layout one of :data:`LAYOUTS` (how a PyTorch array is
laid out for this project's NHWC modules). :func:`load` fills a module from a state dict
(checking names and shapes), :func:`export` writes the state dict back; the two are
inverse. :func:`read` reads a state dict from ``.pth``/``.pt`` (needs torch) or ``.npz``.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

NameMap = dict[str, tuple[tuple, str]]


def _conv_to_jax(v: np.ndarray) -> np.ndarray:  # OIHW -> HWIO
    return np.transpose(v, (2, 3, 1, 0))


def _conv_to_torch(v: np.ndarray) -> np.ndarray:
    return np.transpose(v, (3, 2, 0, 1))


def _channel_to_jax(v: np.ndarray) -> np.ndarray:  # (1, C, 1, 1) -> (C,)
    return v.reshape(-1)


def _channel_to_torch(v: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, 1, 1)


# Layout name -> (PyTorch -> this project, the inverse).
LAYOUTS: dict[str, tuple[Callable, Callable]] = {
    "copy": (lambda v: v, lambda v: v),
    "conv": (_conv_to_jax, _conv_to_torch),  # Conv2d weight OIHW <-> HWIO
    "conv1x1": (lambda v: v[:, :, 0, 0].T, lambda v: v.T[:, :, None, None]),  # -> (in, out)
    "linear": (np.transpose, np.transpose),  # Linear weight (out, in) <-> (in, out)
    "channel": (_channel_to_jax, _channel_to_torch),  # a (1, C, 1, 1) parameter <-> (C,)
}


def check_names(
    state_dict: Mapping[str, object], names: NameMap, ignore: re.Pattern | None = None
) -> dict[str, object]:
    """The entries of ``state_dict`` the name map uses.

    Raises:
      ValueError: names the map needs are missing, or entries are neither in the map nor
        matched by ``ignore`` (one message naming both lists).
    """
    given = {k: v for k, v in state_dict.items() if not (ignore and ignore.search(k))}
    missing = [k for k in names if k not in given]
    unexpected = sorted(k for k in given if k not in names)
    if missing or unexpected:
        parts = [
            f"{what} {len(keys)} entr{'y' if len(keys) == 1 else 'ies'}: {', '.join(keys)}"
            for what, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise ValueError(
            f"state dict does not fit this model: {'; '.join(parts)} (is the config right "
            "for these weights?)"
        )
    return given


def load(
    build: Callable[[nnx.Rngs], nnx.Module],
    state_dict: Mapping[str, object],
    names: NameMap,
    ignore: re.Pattern | None = None,
    rngs: nnx.Rngs | None = None,
) -> nnx.Module:
    """The module ``build(rngs)`` makes, holding the arrays of ``state_dict`` (``rngs``
    defaults to ``nnx.Rngs(0)``; only the variables the map leaves out take from it).

    The module is built abstractly (``nnx.eval_shape``: no random initialisation of
    weights that are replaced anyway, no compilation); the variables the map leaves out
    (dropout PRNG streams) take their values from ``rngs`` when it is given (a concrete
    build), else fresh streams of key 0 with their counts at 0.

    Raises:
      ValueError: names that do not fit (:func:`check_names`), or an entry whose shape
        does not fit its parameter (named).
    """
    given = check_names(state_dict, names, ignore)
    module = nnx.eval_shape(lambda: build(nnx.Rngs(0)))
    paths = {path for path, _ in names.values()}
    if rngs is not None and not set(dict(nnx.to_flat_state(nnx.state(module)))) <= paths:
        module = build(rngs)
    graphdef, state = nnx.split(module)
    flat = dict(nnx.to_flat_state(state))
    for path, var in flat.items():
        value = var.get_value()
        if path in paths or not isinstance(value, jax.ShapeDtypeStruct):
            continue
        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):  # a dropout stream
            keys = jax.random.split(jax.random.key(0), max(int(np.prod(value.shape)), 1))
            var.set_value(keys.reshape(value.shape))
        else:  # its count
            var.set_value(jnp.zeros(value.shape, value.dtype))
    for name, (path, layout) in names.items():
        value = np.asarray(given[name], dtype=np.float32)
        expected = tuple(flat[path].get_value().shape)
        try:
            converted = LAYOUTS[layout][0](value)
        except (ValueError, IndexError):
            converted = None
        if converted is None or converted.shape != expected:
            raise ValueError(
                f"{name!r}: shape {tuple(value.shape)} does not fit "
                f"{'.'.join(map(str, path))} of shape {expected} (after layout conversion) "
                "for this config"
            )
        flat[path].set_value(jnp.asarray(converted))
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def export(module: nnx.Module, names: NameMap) -> dict[str, np.ndarray]:
    """The state dict of ``module``: official names, PyTorch layouts, float32."""
    flat = dict(nnx.to_flat_state(nnx.state(module)))
    return {
        name: LAYOUTS[layout][1](np.asarray(flat[path].get_value(), np.float32))
        for name, (path, layout) in names.items()
    }


def converters(
    module_class: type, name_map: Callable[[object], NameMap], ignore: re.Pattern | None = None
) -> tuple[Callable, Callable]:
    """``(from_torch, to_torch)`` of a model class built as ``module_class(config, rngs=)``
    whose official names ``name_map(config)`` gives (entries matching ``ignore`` are
    accepted and left out)."""
    what = module_class.__name__

    def from_torch(state_dict: Mapping[str, object], config, *, rngs: nnx.Rngs | None = None):
        return load(
            lambda r: module_class(config, rngs=r), state_dict, name_map(config), ignore, rngs
        )

    def to_torch(module: nnx.Module) -> dict[str, np.ndarray]:
        return export(module, name_map(module.config))

    from_torch.__doc__ = f"""A ``{what}`` for ``config`` holding the weights of an official
    state dict (name -> array, PyTorch layouts; ``rngs`` only for dropout streams).

    Raises:
      ValueError: entries missing or unexpected (both named), or a shape that does not
        fit the config (named).
    """
    to_torch.__doc__ = f"""The state dict of a ``{what}``: official names, PyTorch layouts,
    float32 (the inverse of ``from_torch``)."""
    return from_torch, to_torch


def by_name(tree: nnx.State, names: NameMap) -> dict[str, np.ndarray]:
    """Entries of a state-shaped tree (e.g. gradients) by official name, PyTorch layouts,
    float64; names whose path the tree lacks are left out."""
    flat = dict(nnx.to_flat_state(tree))
    return {
        name: LAYOUTS[layout][1](np.asarray(flat[path].get_value(), np.float64))
        for name, (path, layout) in names.items()
        if path in flat
    }


def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a state dict from ``.npz`` or ``.pth``/``.pt`` (needs torch).

    A checkpoint dict holding the state dict under ``state_dict``, ``model`` or ``net`` is
    unwrapped; a ``module.`` prefix (DataParallel) is dropped.

    Raises:
      FileNotFoundError: no such file.
      ImportError: a ``.pth`` file without PyTorch installed.
      ValueError: the file cannot be read as a state dict (the message names it).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.endswith(".npz"):
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a readable .npz state dict ({e})") from None
    try:
        import torch  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ImportError(
            f"reading {path} needs PyTorch: pip install 'mmnet_jax[torch]', or save the "
            "state dict as .npz"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ValueError(f"{path}: not a readable PyTorch state dict ({e})") from None
    for key in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    out = {}
    for k, v in obj.items():
        k = k.removeprefix("module.")  # DataParallel checkpoints
        out[k] = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
    return out
