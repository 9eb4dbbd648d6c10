"""MMEW micro-expressions, LOSO over 30 subjects, 4 classes (happiness, surprise,
disgust, others).

Commands::

    mmnet prepare --dataset mmew/4class --manual_dir ~/data/MMEW
    python train.py --config configs/mmew.py --workdir runs/mmew_4

Expected: the paper reports 87.45% / UF1 0.8635 with best-epoch-on-test selection;
honest figures are lower.
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, runlocal=False)
    config = default.get_config()
    config.data.name = "mmew"
    config.data.builder_config = "4class"
    return default.finish(config, args)
