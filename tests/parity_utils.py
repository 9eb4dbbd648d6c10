"""Helpers for comparing against the official PyTorch fixtures (tests/fixtures)."""

from __future__ import annotations

import json
import pathlib

import numpy as np

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def _channel_param(name: str, shape: tuple, suffix: str) -> bool:
    return name.endswith(suffix) and len(shape) == 4 and shape[0] == 1 and shape[2:] == (1, 1)


def recipe_state_dict(manifest: list, seed: int) -> dict[str, np.ndarray]:
    """The fixtures' weight recipe (fixtures/PARITY_README.md), drawn as float64. Numpy
    only: the fixture generators (run with PyTorch) draw with it too."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in manifest:
        shape = tuple(shape)
        if name.endswith("running_var"):
            v = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("running_mean"):
            v = rng.normal(0.0, 0.1, shape)
        elif "pos_embed" in name or "cls_token" in name or name == "timeembed":
            v = rng.normal(0.0, 0.02, shape)
        elif len(shape) == 1 and name.endswith("weight"):
            v = 1.0 + rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:
            v = rng.normal(0.0, 0.05, shape)
        elif _channel_param(name, shape, ".g"):  # HTNet's LayerNorm scale, (1, C, 1, 1)
            v = 1.0 + rng.normal(0.0, 0.1, shape)
        elif _channel_param(name, shape, ".b"):  # ... and shift
            v = rng.normal(0.0, 0.05, shape)
        else:
            v = rng.normal(0.0, 1 / np.sqrt(np.prod(shape[1:])), shape)
        out[name] = v
    return out


def load_case(tag: str) -> tuple[list, dict[str, np.ndarray]]:
    """(manifest, arrays) of ``mmnet{tag}`` (tag '5' or '3')."""
    manifest = json.loads((FIXTURES / f"mmnet{tag}_manifest.json").read_text())
    with np.load(FIXTURES / f"mmnet{tag}_seed0.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return manifest, arrays


def load_fixture(name: str) -> tuple[list, dict[str, np.ndarray]]:
    """(manifest, arrays) of ``<name>_manifest.json`` and ``<name>_seed0.npz``."""
    manifest = json.loads((FIXTURES / f"{name}_manifest.json").read_text())
    with np.load(FIXTURES / f"{name}_seed0.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return manifest, arrays


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def rel_err(out, ref) -> float:
    out = np.asarray(out, np.float64)
    ref = np.asarray(ref, np.float64)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
