"""TFDS builders of the micro-expression releases; importing this registers them all.

``tfds.builder('casme2/5class', data_dir=..., file_format='array_record')`` then works
for casme2, samm, mmew, casme3, smic, megc2019, flow_images (the STSTNet release's flow
images) and synthetic_me (one record per clip), and casme2_lv and samm_lv (one record
per long video, for spotting).
"""

from tfds_builders import me_common
from tfds_builders.casme2 import casme2_dataset_builder
from tfds_builders.casme2_lv import casme2_lv_dataset_builder
from tfds_builders.casme3 import casme3_dataset_builder
from tfds_builders.flow_images import flow_images_dataset_builder
from tfds_builders.megc2019 import megc2019_dataset_builder
from tfds_builders.mmew import mmew_dataset_builder
from tfds_builders.samm import samm_dataset_builder
from tfds_builders.samm_lv import samm_lv_dataset_builder
from tfds_builders.smic import smic_dataset_builder
from tfds_builders.synthetic_me import synthetic_me_dataset_builder  # noqa: F401

# The builders of licence-gated releases, which `mmnet prepare` builds from
# a manual download (synthetic_me is generated, by train.py itself).
RELEASE_BUILDERS = {
    builder.name: builder
    for builder in (
        casme2_dataset_builder.Builder,
        samm_dataset_builder.Builder,
        mmew_dataset_builder.Builder,
        casme3_dataset_builder.Builder,
        smic_dataset_builder.Builder,
        megc2019_dataset_builder.Builder,
        flow_images_dataset_builder.Builder,
        casme2_lv_dataset_builder.Builder,
        samm_lv_dataset_builder.Builder,
    )
}
# The long-video builders among them (one record per video: other options).
VIDEO_BUILDERS = {
    name: builder
    for name, builder in RELEASE_BUILDERS.items()
    if issubclass(builder, me_common.LongVideoBuilder)
}
