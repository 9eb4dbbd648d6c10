"""The official MMNet recipe (``CASME2_5.py``) as typed defaults: its numbers, written once.

``configs/default.py`` builds its ``model``, ``train``, ``augment`` and ``eval.chunk``
sections from these, and code that needs the recipe without parsing a config file (the
benchmarks: no ``ml_collections``) takes them from here, e.g.
``fold_trainer.TrainSettings.official(steps_per_epoch)`` or ``OFFICIAL_MODEL``.
"""

from __future__ import annotations

import dataclasses

from mmnet_jax.data import augment
from mmnet_jax.models.mmnet.config import MMNetConfig


@dataclasses.dataclass(frozen=True)
class TrainRecipe:
    """The official optimiser and schedule: the fields of ``config.train``."""

    epochs: int = 74
    batch_size: int = 32
    learning_rate: float = 8e-4  # AdamW, on all parameters
    weight_decay: float = 0.6
    lr_decay: float = 0.987  # times this after each epoch ...
    lr_decay_epochs: int = 50  # ... for the first 50 epochs, then constant
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    # "per_fold" (official): each fold ceil(n_train / batch) steps per epoch, its last
    # batch smaller; "wrapped": every fold the largest fold's steps of full batches.
    schedule: str = "per_fold"
    optimizer: str = "adamw"  # PyTorch's AdamW ("adam": PyTorch's Adam, L2 decay)
    shuffle: bool = True  # a new random order each epoch (DataLoader shuffle=True)


OFFICIAL_TRAIN = TrainRecipe()
# Flip, rotation 3 degrees, crop padding 15, temporal jitter over the 5-class ranges.
OFFICIAL_AUGMENT = augment.AugmentConfig()
OFFICIAL_EVAL_CHUNK = 16  # test clips per forward pass (not part of the official recipe)
# The official CASME II 5-class model: PC depth 2, MLP ratio 4, 4 heads, no drop-path.
OFFICIAL_MODEL = MMNetConfig.official_5class()
# The fields of ``config.model`` that come from OFFICIAL_MODEL, in that section's order.
MODEL_FIELDS = (
    "pc_depth",
    "pc_mlp_ratio",
    "pc_num_heads",
    "drop_path_rate",
    "pc_resize_antialias",
    "dtype",
)


@dataclasses.dataclass(frozen=True)
class ModelRecipe:
    """A registry model's official training recipe: what ``configs/<dataset>.py:model=NAME``
    sets (``configs/default.py:use_model``).

    Attributes:
      train: the optimiser and schedule (``config.train``).
      augment: the augmentation (``config.augment``; the flow models' scripts use none).
      source: where the numbers come from.
    """

    train: TrainRecipe
    augment: augment.AugmentConfig
    source: str


_NO_AUGMENT = augment.AugmentConfig(
    flip=False, rotation_deg=0.0, crop_padding=0, temporal_jitter=False
)
# Adam without decay or schedule, as torch.optim.Adam(model.parameters(), lr=...).
_PLAIN_ADAM = dict(weight_decay=0.0, lr_decay=1.0, lr_decay_epochs=0, optimizer="adam")

MODEL_RECIPES: dict[str, ModelRecipe] = {
    "mmnet": ModelRecipe(OFFICIAL_TRAIN, OFFICIAL_AUGMENT, "MMNet's CASME2_5.py"),
    "ststnet": ModelRecipe(
        TrainRecipe(epochs=800, batch_size=256, learning_rate=5e-5, shuffle=False, **_PLAIN_ADAM),
        _NO_AUGMENT,
        "christy1206/STSTNet main.py: Adam 5e-5, batch 256 (a DataLoader without shuffle), "
        "800 epochs, plain cross-entropy, no augmentation, the last epoch scored",
    ),
    "off_apexnet": ModelRecipe(
        TrainRecipe(
            epochs=3000,
            batch_size=32,
            learning_rate=1e-4,
            weight_decay=1e-3,
            lr_decay=1.0,
            lr_decay_epochs=0,
            optimizer="adam",
            shuffle=True,
        ),  # fmt: skip
        _NO_AUGMENT,
        "tvaranka/meb (core.Config and its 'Table 3. Early stopping' notebook): Adam 1e-4 "
        "with weight decay 1e-3 (L2), batch 32 (shuffled), 3000 epochs, cross-entropy, no "
        "augmentation",
    ),
    "htnet": ModelRecipe(
        TrainRecipe(epochs=800, batch_size=256, learning_rate=5e-5, shuffle=False, **_PLAIN_ADAM),
        _NO_AUGMENT,
        "wangzhifengharrison/HTNet main_HTNet.py: Adam 5e-5, batch 256 (a DataLoader "
        "without shuffle), 800 epochs, cross-entropy, no augmentation (its published "
        "figures keep each subject's best test epoch; here an epoch chosen without the "
        "test subject)",
    ),
}
