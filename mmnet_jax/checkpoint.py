"""Former name of :mod:`mmnet_jax.model_dir` (``save_model`` = ``save``,
``load_model`` = ``load_from_workdir`` = ``load``), kept so existing code keeps working."""

from __future__ import annotations

from mmnet_jax.model_dir import FORMAT, read_meta
from mmnet_jax.model_dir import load as load_from_workdir
from mmnet_jax.model_dir import load as load_model
from mmnet_jax.model_dir import save as save_model

__all__ = ["FORMAT", "load_from_workdir", "load_model", "read_meta", "save_model"]
