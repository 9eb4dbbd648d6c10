"""Default run config: the official MMNet recipe, CASME II 5 classes, honest LOSO.

Every field can be overridden on the command line, e.g.
``--config.train.epochs=10 --config.data.data_dir=/data/tfds``.

Command (after preparing CASME II, see docs/data.md)::

    python train.py --config configs/default.py --workdir runs/casme2_5class

The official recipe item by item (``CASME2_5.py``), and what this config does:

=====================================  =============================================
official                               here
=====================================  =============================================
AdamW 8e-4, wd 0.6, all params         ``train.*`` the same
lr x0.987 for 50 epochs, 74 epochs     the same, per epoch of each fold's own steps
batch 32, drop_last off                ``train.schedule="per_fold"``: ceil(n/B) steps
normalise, then flip/rot 3/crop pad 15 the same, fill 0 = mean colour (``augment``)
jitter 0.15 (apex - onset) / 4         ``augment.jitter="5class"``: the same, capped
                                       at the 4 stored neighbours (build report)
init as the official modules           the same (``models/``)
PIL bilinear resize at load            INTER_AREA when preparing (measured gap: docs/training.md)
best test epoch per subject            a pre-declared epoch (``eval.epoch``)
=====================================  =============================================

docs/training.md ("The official recipe") has the full table (3-class column included).

Variants import this file and override a few fields (``casme2.py``, ``samm.py``, ...).
Every variant takes ``runlocal`` (``--config configs/samm.py:runlocal``): see
:func:`runlocal`; and ``model=NAME`` (``--config configs/megc2019.py:model=ststnet``),
which trains that model of the registry with its official recipe on the same folds,
seeds and epoch rule (:func:`use_model`; ``recipe.MODEL_RECIPES``):

============  ===============================================================
model         its official recipe (``config.train``, ``config.augment``)
============  ===============================================================
mmnet         as above (MMNet's ``CASME2_5.py``)
ststnet       Adam 5e-5, batch 256 in clip order (no shuffle), 800 epochs,
              plain cross-entropy, no augmentation (STSTNet ``main.py``)
off_apexnet   Adam 1e-4 with L2 weight decay 1e-3, batch 32 shuffled, 3000
              epochs, no augmentation (MEB's ``Config``)
htnet         Adam 5e-5, batch 256 in clip order, 800 epochs, no augmentation
              (HTNet ``main_HTNet.py``)
============  ===============================================================

The flow models read the onset-to-apex optical flow at ``config.data.flow_size`` (28):
the records' (``mmnet prepare --flow 28``), or TV-L1 flow of the labelled frames
computed when the data is loaded (docs/flow.md). Every model is scored at the
pre-declared epoch (``eval.epoch``, -1: the last, as STSTNet's script does), or by
validation subjects (``eval.select``); never on the test subject.

The recipe's numbers (model, optimiser, schedule, augmentation, eval chunk) are written
once, as typed defaults in ``mmnet_jax/training/recipe.py``; this file reads them there.
"""

import dataclasses

import ml_collections

from mmnet_jax.models import registry
from mmnet_jax.training import recipe


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    args = parse_arg(arg, runlocal=False)
    config = ml_collections.ConfigDict()
    config.seed = 0
    # Seeds trained together: seed, seed+1, ..., seed+num_seeds-1, each on every fold,
    # stacked with the folds (results.json: per_seed, mean and std over seeds).
    config.num_seeds = 1

    config.data = ml_collections.ConfigDict()
    config.data.name = "casme2"  # a TFDS builder of tfds_builders/
    config.data.builder_config = "5class"
    config.data.data_dir = ""  # TFDS data_dir; empty: ~/tensorflow_datasets
    config.data.image_size = 224  # model input; records are resized if stored otherwise
    config.data.prepared_image_size = 224  # the size the records were prepared at
    config.data.frames_per_side = 5  # stored temporal-jitter frames (builders' default)
    # Flow models (model=ststnet|off_apexnet|htnet): the flow's size, and the --flow size
    # the records were prepared with (0: records without flow: TV-L1 flow of the labelled
    # frames is computed when the data is loaded; docs/flow.md).
    config.data.flow_size = 28
    config.data.prepared_flow_size = 0
    # Only for the synthetic_me set (generated on demand, no files needed):
    config.data.synthetic_seed = 0
    config.data.synthetic_subjects = 8
    config.data.synthetic_clips = 15

    # Architecture (num_classes and image_size come from the data).
    # recipe.MODEL_FIELDS of recipe.OFFICIAL_MODEL: pc_depth 2, pc_mlp_ratio 4.0,
    # pc_num_heads 4, drop_path_rate 0.0, pc_resize_antialias False (the paper-era
    # resize), dtype "float32" ("bfloat16": bf16 compute, float32 master weights).
    config.model = ml_collections.ConfigDict()
    # The model of the registry (mmnet_jax/models/registry.py); the other fields of this
    # section are its config's (MMNetConfig's here).
    config.model.name = "mmnet"
    for name in recipe.MODEL_FIELDS:
        config.model[name] = getattr(recipe.OFFICIAL_MODEL, name)
    # "xla" or "matmul_grad" (matrix-product weight gradients); auto: the default of the
    # platform the run lowers for (fold_trainer.PLATFORM_DEFAULTS, which says why).
    config.model.conv_impl = "auto"
    # Head width: 0 = one output per class of the data; 5 = the official 3-class
    # script's 5-way head on 3 classes (test predictions: argmax over the data's classes).
    config.model.head_classes = 0

    # The official optimiser and schedule (recipe.TrainRecipe): epochs 74, batch_size 32,
    # AdamW learning_rate 8e-4, weight_decay 0.6, lr_decay 0.987 per epoch for
    # lr_decay_epochs 50, b1 0.9, b2 0.999, eps 1e-8, schedule "per_fold" (each fold
    # ceil(n_train / batch) steps per epoch, its last batch smaller; "wrapped": every
    # fold the largest fold's steps of full batches).
    config.train = ml_collections.ConfigDict(dataclasses.asdict(recipe.OFFICIAL_TRAIN))

    # The official augmentation (augment.AugmentConfig): flip True, rotation_deg 3.0,
    # crop_padding 15, temporal_jitter True, jitter "5class". Whose temporal-jitter
    # ranges: "5class" (CASME2_5.py: onset and apex each up to 0.15 (apex - onset) / 4
    # inwards) or "3class" (CASME2_3.py: onset up to 0.2 (apex - onset) / 4, apex also up
    # to 0.15 (offset - apex) / 4 after it).
    config.augment = ml_collections.ConfigDict(dataclasses.asdict(recipe.OFFICIAL_AUGMENT))

    # Honest evaluation: metrics at this pre-declared epoch (-1: the last), never the
    # best epoch on the test subject.
    config.eval = ml_collections.ConfigDict()
    config.eval.epoch = -1
    config.eval.chunk = recipe.OFFICIAL_EVAL_CHUNK  # test clips per forward pass (16)
    # Which epoch each fold is scored at: "last" (eval.epoch, the same for every fold) or
    # "validation" (each fold holds out eval.validation_subjects of its training subjects,
    # drawn from its seed and fold, and takes the epoch of best UF1 on them).
    config.eval.select = "last"
    config.eval.validation_subjects = 2

    config.folds = ml_collections.ConfigDict()
    config.folds.group_size = 0  # folds trained at once; 0: as many as fit in memory
    # GiB per device that group_size 0 fits the groups into; 0: the device's own limit
    # (GPU: XLA_PYTHON_CLIENT_MEM_FRACTION of it; CPU: host memory per device).
    config.folds.device_memory_gb = 0.0
    # Test subjects that get a fold, for a partial run: "" (all), "s01,s02" (these), or
    # "first:N" (the first N in sorted order; resolved once the data is loaded).
    config.folds.only = ""
    # Per device: "vmap" (one batched program) or "map" (one fold after another); auto:
    # the platform's default (fold_trainer.PLATFORM_DEFAULTS).
    config.folds.loop = "auto"

    config.checkpoint = ml_collections.ConfigDict()
    config.checkpoint.every_epochs = 5
    config.checkpoint.keep = 2

    config.final_model = False  # after LOSO, train on all subjects -> workdir/final_model
    config.distributed = False  # several processes/hosts as one run (docs/hosts.md)
    # Seconds without a heartbeat from another process before the run stops, naming it.
    config.distributed_timeout = 60
    config.progress_bar = True
    # Persistent XLA compilation cache shared by runs ("" to disable).
    config.compilation_cache_dir = "~/.cache/mmnet_jax/xla"
    config.report = True
    return finish(config, args)


def use_model(config: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
    """Train the registry model ``name`` with its official recipe
    (``recipe.MODEL_RECIPES``): ``config.model`` becomes that model's hyperparameters
    (its config's defaults), ``config.train`` and ``config.augment`` its recipe's. The
    data and evaluation sections stay the dataset's (the same folds, seeds and epoch rule
    for every model). ``"mmnet"`` leaves the config as it is."""
    if name == "mmnet":
        return config
    if name not in recipe.MODEL_RECIPES:
        raise ValueError(f"model={name!r}: known: {', '.join(sorted(recipe.MODEL_RECIPES))}")
    spec = registry.get(name)
    model = ml_collections.ConfigDict({"name": name})
    for f in dataclasses.fields(spec.config_class):
        if f.name in ("num_classes", "image_size") or not _flat(f.default):
            continue  # from the data; or a nested default (e.g. HTNet's block centres)
        model[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    config.model = model
    r = recipe.MODEL_RECIPES[name]
    config.train = ml_collections.ConfigDict(dataclasses.asdict(r.train))
    config.augment = ml_collections.ConfigDict(dataclasses.asdict(r.augment))
    return config


def finish(config: ml_collections.ConfigDict, args: ml_collections.ConfigDict):
    """The config arguments every config takes: ``model=NAME`` (:func:`use_model`), then
    ``runlocal`` (:func:`runlocal`)."""
    use_model(config, args.model)
    if args.runlocal:
        runlocal(config)
    return config


def _flat(value) -> bool:
    """A default a config field can hold: a number, string or flat tuple of them."""
    scalar = (bool, int, float, str)
    return isinstance(value, scalar) or (
        isinstance(value, tuple) and all(isinstance(v, scalar) for v in value)
    )


def runlocal(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Shrink any config to a few-minute smoke run: the first 3 subjects' folds (all
    subjects still train them), at most 112 px, 4 epochs, a checkpoint every 2."""
    config.folds.only = "first:3"
    config.data.image_size = min(int(config.data.image_size), 112)
    config.train.epochs = 4
    config.checkpoint.every_epochs = 2
    return config


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
    """``"classes=3,runlocal"`` -> ConfigDict(classes=3, runlocal=True), typed by defaults."""
    defaults = {"model": "mmnet", **defaults}  # every config takes model=NAME
    out = ml_collections.ConfigDict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        if key not in defaults:
            raise ValueError(f"unknown config argument {key!r}; known: {sorted(defaults)}")
        kind = type(defaults[key])
        if kind is bool:
            out[key] = value.lower() in ("", "1", "true", "yes")
        else:
            out[key] = kind(value)
    return out
