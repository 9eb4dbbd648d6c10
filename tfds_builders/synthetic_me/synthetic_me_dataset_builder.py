"""synthetic_me: procedurally generated micro-expression clips (no downloads).

Every record follows ``tfds_builders.clip_features``. Sizes and the seed are config
fields (:class:`SyntheticConfig`); :func:`make_config` names a config after all of them,
so any seed can be built on demand::

    import tensorflow_datasets as tfds
    from tfds_builders.synthetic_me import make_config

    builder = tfds.builder(
        "synthetic_me",
        config=make_config(seed=3, num_subjects=8, clips_per_subject=15, image_size=64),
        data_dir=data_dir,
        file_format="array_record",
    )
    builder.download_and_prepare()
    records = builder.as_data_source()["train"]
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from tfds_builders import clip_features as cf
from tfds_builders.synthetic_me import generator

SOURCE = "synthetic_me"


@dataclasses.dataclass(eq=False)
class SyntheticConfig(tfds.core.BuilderConfig):
    """What to generate.

    Attributes:
      seed: generator seed (any non-negative int); equal configs give equal records.
      num_subjects: subjects (face identities), named ``s01``, ``s02``, ...
      clips_per_subject: clips per subject, named ``c00``, ``c01``, ...
      image_size: side of the square RGB frames (32 to 224; the face and its motions
        scale with it).
      frames_per_side: frames stored per side (onset side and apex side).
      num_classes: the first ``num_classes`` of ``generator.CLASS_NAMES`` (2 to 7).
    """

    seed: int = 0
    num_subjects: int = 8
    clips_per_subject: int = 15
    image_size: int = 48
    frames_per_side: int = cf.DEFAULT_FRAMES_PER_SIDE
    num_classes: int = generator.DEFAULT_NUM_CLASSES

    def __post_init__(self):
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.num_subjects < 1 or self.clips_per_subject < 1:
            raise ValueError("num_subjects and clips_per_subject must be positive")
        if not 32 <= self.image_size <= 224:
            raise ValueError(f"image_size must be in [32, 224], got {self.image_size}")
        if self.frames_per_side < 1:
            raise ValueError(f"frames_per_side must be positive, got {self.frames_per_side}")
        generator.class_names(self.num_classes)  # validates


def config_name(
    seed: int,
    num_subjects: int,
    clips_per_subject: int,
    image_size: int,
    frames_per_side: int,
    num_classes: int,
) -> str:
    """``seed0_s8_c15_48px_f5_k5``: every parameter, in a fixed order."""
    return (
        f"seed{seed}_s{num_subjects}_c{clips_per_subject}_{image_size}px"
        f"_f{frames_per_side}_k{num_classes}"
    )


def make_config(
    seed: int = 0,
    num_subjects: int = 8,
    clips_per_subject: int = 15,
    image_size: int = 48,
    frames_per_side: int = cf.DEFAULT_FRAMES_PER_SIDE,
    num_classes: int = generator.DEFAULT_NUM_CLASSES,
) -> SyntheticConfig:
    """A config for any parameters, named by :func:`config_name` (its own data folder)."""
    params = dict(
        seed=int(seed),
        num_subjects=int(num_subjects),
        clips_per_subject=int(clips_per_subject),
        image_size=int(image_size),
        frames_per_side=int(frames_per_side),
        num_classes=int(num_classes),
    )
    return SyntheticConfig(
        name=config_name(**params),
        description=_describe(**params),
        **params,
    )


def _describe(seed, num_subjects, clips_per_subject, image_size, frames_per_side, num_classes):
    return (
        f"{num_subjects} subjects x {clips_per_subject} clips, {image_size} px, "
        f"{frames_per_side} frames per side, {num_classes} classes, seed {seed}."
    )


def _named(name: str, **params) -> SyntheticConfig:
    full = dict(
        seed=0,
        frames_per_side=cf.DEFAULT_FRAMES_PER_SIDE,
        num_classes=generator.DEFAULT_NUM_CLASSES,
    )
    full.update(params)
    return SyntheticConfig(name=name, description=_describe(**full), **full)


def subject_name(index: int, num_subjects: int) -> str:
    return f"s{index + 1:0{max(2, len(str(num_subjects)))}d}"


def clip_name(index: int, clips_per_subject: int) -> str:
    return f"c{index:0{max(2, len(str(clips_per_subject - 1)))}d}"


def clip_records(config: SyntheticConfig):
    """Yield the config's clips as ``ClipRecord``s, subject by subject, in clip order."""
    names = generator.class_names(config.num_classes)
    fps = config.frames_per_side
    plan = generator.plan_dataset(
        config.seed, config.num_subjects, config.clips_per_subject, config.num_classes
    )
    for identity, clips in plan:
        for spec in clips:
            onset_numbers, apex_numbers = cf.frame_numbers(spec.onset, spec.apex, spec.offset, fps)
            frames = generator.render_frames(
                identity, spec, onset_numbers + apex_numbers, config.image_size
            )
            name = names[spec.label]
            yield cf.ClipRecord(
                subject=subject_name(spec.subject_index, config.num_subjects),
                clip=clip_name(spec.clip_index, config.clips_per_subject),
                source=SOURCE,
                emotion=name,
                action_units=generator.ACTION_UNITS[name],
                label=name,
                onset=spec.onset,
                apex=spec.apex,
                offset=spec.offset,
                apex_estimated=False,
                onset_frames=frames[:fps],
                apex_frames=frames[fps:],
                onset_numbers=onset_numbers,
                apex_numbers=apex_numbers,
            )


class Builder(tfds.core.GeneratorBasedBuilder):
    """Synthetic faces whose class is a small local motion between onset and apex."""

    VERSION = tfds.core.Version("2.0.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "2.0.0": cf.AFTER_APEX_RELEASE_NOTE,
    }
    BUILDER_CONFIGS = [
        # Builds in seconds; the size of the demo run.
        _named("default", num_subjects=8, clips_per_subject=15, image_size=48),
        # Full size, as the official MMNet reads it.
        _named("224px", num_subjects=12, clips_per_subject=15, image_size=224),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        return self.dataset_info_from_configs(
            description=(
                "Procedurally generated micro-expression clips: synthetic faces of many "
                "identities, classes that are small local facial motions between onset "
                "and apex, plus head motion, lighting change and sensor noise."
            ),
            features=cf.clip_features(
                generator.class_names(config.num_classes),
                config.image_size,
                config.frames_per_side,
            ),
            homepage="",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # nothing to download
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for record in clip_records(self.builder_config):
            yield record.to_example(self.builder_config.frames_per_side)
