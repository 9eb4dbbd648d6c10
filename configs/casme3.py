"""CAS(ME)^3 part A, LOSO over its subjects: ``classes=4`` (positive, surprise,
negative, others), ``classes=3`` or ``classes=7``.

Commands::

    mmnet prepare --dataset casme3/4class --manual_dir ~/data/CASME3
    python train.py --config configs/casme3.py:classes=4 --workdir runs/casme3_4

Expected: no MMNet figure is published for this set; 860 clips over ~94 subjects make
a long run (use a GPU/TPU and fold groups).
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, classes=4, runlocal=False)
    config = default.get_config()
    config.data.name = "casme3"
    config.data.builder_config = f"{args.classes}class"
    return default.finish(config, args)
