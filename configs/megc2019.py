"""The MEGC 2019 composite (SMIC + CASME II + SAMM), 3 classes, LOSO over 68 subjects.

Commands::

    mmnet prepare --dataset megc2019/3class --manual_dir ~/data/MEGC2019
    python train.py --config configs/megc2019.py --workdir runs/megc2019

The results report UF1 and UAR over all pooled predictions and per source dataset.
Expected: no MMNet figure is published for the composite.
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, runlocal=False)
    config = default.get_config()
    config.data.name = "megc2019"
    config.data.builder_config = "3class"
    return default.finish(config, args)
