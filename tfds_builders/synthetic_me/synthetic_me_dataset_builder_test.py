"""synthetic_me: build tiny configs through TFDS (array_record, no TensorFlow) and check them."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_builders.synthetic_me as synthetic_me
from tfds_builders import clip_features as cf
from tfds_builders.synthetic_me import generator

TINY = dict(num_subjects=3, clips_per_subject=4, image_size=32)


def _build(data_dir, **params):
    config = synthetic_me.make_config(**{**TINY, **params})
    builder = tfds.builder(
        "synthetic_me", config=config, data_dir=data_dir, file_format="array_record"
    )
    builder.download_and_prepare()
    source = builder.as_data_source()["train"]
    records = sorted((source[i] for i in range(len(source))), key=lambda r: r["id"])
    return builder, records


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="module")
def seed0(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("seed0"), seed=0)


def test_registered_with_named_configs(tmp_path):
    builder = tfds.builder("synthetic_me", data_dir=tmp_path, file_format="array_record")
    assert builder.name == "synthetic_me"
    assert builder.builder_config.name == "default"
    assert set(synthetic_me.Builder.builder_configs) == {"default", "224px"}
    assert synthetic_me.make_config(seed=7, **TINY).name == "seed7_s3_c4_32px_f5_k5"
    assert synthetic_me.make_config().name == "seed0_s8_c15_48px_f5_k5"
    with pytest.raises(ValueError):
        synthetic_me.make_config(image_size=16)
    with pytest.raises(ValueError):
        synthetic_me.make_config(num_classes=9)


def test_records(seed0):
    builder, records = seed0
    names = builder.info.features["label"].names
    assert names == list(generator.CLASS_NAMES[:5])
    assert len(records) == 12
    assert [_text(r["id"]) for r in records] == [
        f"s{s:02d}/c{c:02d}" for s in range(1, 4) for c in range(4)
    ]
    # Balanced: the labels are i % 5 over the 12 clips, shuffled within subjects.
    counts = collections.Counter(int(r["label"]) for r in records)
    assert counts == collections.Counter(i % 5 for i in range(12))
    for r in records:
        name = names[int(r["label"])]
        assert _text(r["subject"]) == _text(r["id"]).split("/")[0]
        assert _text(r["clip"]) == _text(r["id"]).split("/")[1]
        assert _text(r["source"]) == "synthetic_me"
        assert _text(r["emotion"]) == name
        assert _text(r["action_units"]) == generator.ACTION_UNITS[name]
        assert not r["apex_estimated"]
        onset, apex, offset = int(r["onset"]), int(r["apex"]), int(r["offset"])
        assert 0 < onset < apex < offset
        assert int(r["jitter"]) == cf.jitter_range(onset, apex, 5) >= 1
        onset_numbers, apex_numbers = cf.frame_numbers(onset, apex, offset, 5)
        assert list(r["onset_frame_numbers"]) == onset_numbers
        assert list(r["apex_frame_numbers"]) == apex_numbers
        assert apex_numbers[5] == apex + 1  # frames after the apex (3-class jitter)
        for side, k in (("onset", 5), ("apex", 9)):
            frames = np.stack(r[f"{side}_frames"])
            assert frames.shape == (k, 32, 32, 3) and frames.dtype == np.uint8
            numbers = list(r[f"{side}_frame_numbers"])
            for i in range(1, k):  # a repeated frame number is the same frame
                assert np.array_equal(frames[i], frames[i - 1]) == (numbers[i] == numbers[i - 1])


def test_deterministic(seed0, tmp_path):
    _, records = seed0
    _, again = _build(tmp_path / "again", seed=0)
    assert len(again) == len(records)
    for a, b in zip(records, again, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key
    # The encoded examples (PNG bytes included) are equal too.
    config = synthetic_me.make_config(seed=0, **TINY)
    first = [rec.to_example(5) for rec in synthetic_me.clip_records(config)]
    second = [rec.to_example(5) for rec in synthetic_me.clip_records(config)]
    assert first == second

    _, other = _build(tmp_path / "other", seed=1)
    assert not np.array_equal(
        np.stack([r["onset_frames"][0] for r in records]),
        np.stack([r["onset_frames"][0] for r in other]),
    )


def test_motion_is_in_the_class_region(seed0):
    """Onset and apex differ mainly where the clip's expression acts, and that region
    sits where the class says (brows above eyes above nose above mouth)."""
    _, records = seed0
    config = synthetic_me.make_config(seed=0, **TINY)
    plan = generator.plan_dataset(config.seed, config.num_subjects, config.clips_per_subject)
    specs = {
        f"s{s.subject_index + 1:02d}/c{s.clip_index:02d}": (identity, s)
        for identity, clips in plan
        for s in clips
    }
    ratios = []
    rows = collections.defaultdict(list)
    for r in records:
        identity, spec = specs[_text(r["id"])]
        assert spec.label == int(r["label"])
        mask = generator.expression_mask(identity, spec, 32)
        assert 0.005 < mask.mean() < 0.3
        grown = mask.copy()  # one pixel of slack for the head motion
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        diff = np.abs(
            r["apex_frames"][0].astype(np.float32) - r["onset_frames"][0].astype(np.float32)
        ).mean(axis=-1)
        ratios.append(diff[grown].mean() / diff[~grown].mean())
        rows[_text(r["emotion"])].append(np.nonzero(mask)[0].mean() / 32)
    assert min(ratios) > 1.2, ratios
    assert np.median(ratios) > 2.0, ratios
    height = {name: np.mean(v) for name, v in rows.items()}
    assert height["brow_raise"] < height["eye_squint"] < height["nose_wrinkle"]
    assert height["nose_wrinkle"] < min(height["lip_corner_pull"], height["lip_press"])


def test_generator_alone():
    """The NumPy generator: deterministic frames, no expression at the onset."""
    identity, clips = generator.plan_dataset(5, 1, 2)[0]
    spec = clips[0]
    a = generator.render_frame(identity, spec, spec.apex, 40)
    assert a.shape == (40, 40, 3) and a.dtype == np.uint8
    assert np.array_equal(a, generator.render_frame(identity, spec, spec.apex, 40))
    assert spec.intensity(spec.onset) == 0.0 == spec.intensity(spec.offset)
    assert spec.intensity(spec.apex) == spec.amplitude
    onset = generator.render_frame(identity, spec, spec.onset, 40, clean=True)
    rest = generator.render_frame(identity, spec, spec.onset, 40, intensity=0.0, clean=True)
    assert np.array_equal(onset, rest)
    assert generator.expression_mask(identity, spec, 40).any()
