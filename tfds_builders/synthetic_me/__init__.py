"""synthetic_me: procedurally generated micro-expression clips; importing registers it.

``generator`` is the pure-NumPy renderer (no TFDS); the builder writes its clips in the
``tfds_builders.clip_features`` layout.
"""

from tfds_builders.synthetic_me import generator
from tfds_builders.synthetic_me.generator import ACTION_UNITS, CLASS_NAMES, class_names
from tfds_builders.synthetic_me.synthetic_me_dataset_builder import (
    Builder,
    SyntheticConfig,
    clip_records,
    config_name,
    make_config,
)

__all__ = [
    "ACTION_UNITS",
    "CLASS_NAMES",
    "Builder",
    "SyntheticConfig",
    "class_names",
    "clip_records",
    "config_name",
    "generator",
    "make_config",
]
