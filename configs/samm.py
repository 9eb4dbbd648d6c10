"""SAMM, LOSO: ``classes=5`` (136 clips: happiness, anger, contempt, surprise, other) or
``classes=3`` (negative, positive, surprise as in MEGC 2019).

Commands::

    mmnet prepare --dataset samm/5class --manual_dir ~/data/SAMM
    python train.py --config configs/samm.py --workdir runs/samm_5

Expected: the paper reports 90.22% / UF1 0.8391 for SAMM (3 classes), with
best-epoch-on-test selection; honest figures are lower.
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, classes=5, runlocal=False)
    config = default.get_config()
    config.data.name = "samm"
    config.data.builder_config = f"{args.classes}class"
    return default.finish(config, args)
