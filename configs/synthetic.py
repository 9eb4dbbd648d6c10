"""The embedded synthetic micro-expression set: LOSO over generated subjects, no downloads.

Command::

    python train.py --config configs/synthetic.py --workdir runs/synthetic

Expected: about 3 minutes on 2 CPU cores, compilation included (7 subjects x 12 clips at
32 px, 10 epochs, batch 6), and UF1 >= 0.8 on the held-out subjects (chance is about
0.2) for any generator seed (``--config.data.synthetic_seed=N``); seeds 0 and 7 gave
UF1 0.90 and 0.93. It also trains the all-subjects model, so prediction and export work
on the workdir. ``runlocal`` trains 3 folds (and the all-subjects model) for 4 epochs.
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, runlocal=False)
    config = default.get_config()
    config.data.name = "synthetic_me"
    config.data.builder_config = ""
    # 32 px keeps the whole demo within a few minutes on 2 CPU cores (compute scales
    # with the pixel count); the generator scales its motions with the image size.
    config.data.image_size = 32
    config.data.prepared_image_size = 32
    config.data.synthetic_subjects = 7
    config.data.synthetic_clips = 12
    config.train.epochs = 10
    # Small batches: what this short run needs is optimiser steps (test UF1 stays near
    # chance for the first ~60 steps, then climbs); 12 steps per epoch here.
    config.train.batch_size = 6
    config.augment.crop_padding = 2  # 15 px at 224 px, scaled to 32 px
    config.checkpoint.every_epochs = 5
    config.final_model = True
    default.use_model(config, args.model)
    if args.model != "mmnet":
        # The flow models' official recipes (hundreds of epochs at batch 256, lr 5e-5)
        # are for the 442-clip composite; this demo set takes a short schedule of its
        # own, the same for each (Adam 1e-3, batch 16, 40 epochs, shuffled), on the
        # TV-L1 flow of the 32 px frames at 28 px.
        config.train.update(epochs=40, batch_size=16, learning_rate=1e-3, shuffle=True)
        config.checkpoint.every_epochs = 20
    if args.model == "htnet":  # the official 140 M-parameter HTNet, shrunk for a CPU demo
        config.model.update(dim=32, heads=2, block_repeats=[1, 1, 1])
    if args.runlocal:
        default.runlocal(config)
    return config
