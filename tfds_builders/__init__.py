"""TFDS builders of the micro-expression releases; importing this registers them all.

``tfds.builder('casme2/5class', data_dir=..., file_format='array_record')`` then works
for casme2, samm, mmew, casme3, smic, megc2019 (and synthetic_me when present).
"""

import importlib
import pathlib

from tfds_builders.casme2 import casme2_dataset_builder  # noqa: F401
from tfds_builders.casme3 import casme3_dataset_builder  # noqa: F401
from tfds_builders.megc2019 import megc2019_dataset_builder  # noqa: F401
from tfds_builders.mmew import mmew_dataset_builder  # noqa: F401
from tfds_builders.samm import samm_dataset_builder  # noqa: F401
from tfds_builders.smic import smic_dataset_builder  # noqa: F401

# The synthetic builder is its own package, written separately: register it once its
# package exists.
_SYNTHETIC = pathlib.Path(__file__).parent / "synthetic_me"
if (_SYNTHETIC / "__init__.py").exists():
    importlib.import_module("tfds_builders.synthetic_me")
    if (_SYNTHETIC / "synthetic_me_dataset_builder.py").exists():
        importlib.import_module("tfds_builders.synthetic_me.synthetic_me_dataset_builder")
