"""The embedded synthetic micro-expression set: LOSO over generated subjects, no downloads.

Command::

    python train.py --config configs/synthetic.py --workdir runs/synthetic

Expected: a few minutes on 2 CPU cores, compilation included, and UF1 >= 0.8 on the
held-out subjects (chance is about 0.2) for any generator seed
(``--config.data.synthetic_seed=N``). It also trains the all-subjects model, so
prediction and export work on the workdir. ``runlocal`` makes a tiny, seconds-long run.
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, runlocal=False)
    config = default.get_config()
    config.data.name = "synthetic_me"
    config.data.builder_config = ""
    config.data.image_size = 48
    config.data.prepared_image_size = 48
    config.data.synthetic_subjects = 8
    config.data.synthetic_clips = 12
    config.train.epochs = 10
    config.train.batch_size = 16
    config.augment.crop_padding = 3  # 15 px at 224 px, scaled to 48 px
    config.checkpoint.every_epochs = 2
    config.final_model = True
    if args.runlocal:
        config.data.image_size = config.data.prepared_image_size = 32
        config.data.synthetic_subjects = 3
        config.data.synthetic_clips = 4
        config.train.epochs = 2
    return config
