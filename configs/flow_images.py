"""The STSTNet release's flow images (MEGC 2019 composite, 442 clips, 68 subjects, 3
classes), for the flow models: STSTNet (the default), ``model=off_apexnet``, ``model=htnet``.

Commands::

    mmnet prepare --dataset flow_images/3class --manual_dir ~/data/norm_u_v_os
    python train.py --config configs/flow_images.py --workdir runs/ststnet_flow_images
    python train.py --config configs/flow_images.py:model=htnet --workdir runs/htnet_fi

The records hold each clip's flow image as released (28 x 28, already min-max
normalised; tfds_builders/flow_images/README.md) and no frames, so only models that read
flow train on them. Each model takes its official recipe (``configs/default.py``,
``use_model``): STSTNet ``main.py``'s Adam 5e-5, batch 256 in clip order, 800 epochs,
no augmentation, the last epoch scored, as its script scores it. Same folds, seeds and
epoch rule for every model, so their runs pair in ``mmnet compare``.

Expected: the STSTNet authors logged UF1 0.7209 / UAR 0.725 for their own per-subject
weights on these images (``mmnet convert --model ststnet`` and ``mmnet evaluate`` score
them: docs/models.md); a training run here scores its last epoch, without selection.
"""

from configs import default


def get_config(arg: str | None = None):
    args = default.parse_arg(arg, runlocal=False, model="ststnet")
    config = default.get_config()
    config.data.name = "flow_images"
    config.data.builder_config = "3class"
    config.data.flow_size = 28  # the release's images
    return default.finish(config, args)
