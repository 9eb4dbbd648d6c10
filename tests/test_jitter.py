"""The official temporal jitter, end to end: the scripts' ranges, the frames the builders
store for them, and the frames training draws from those records."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mmnet_jax.data import augment
from mmnet_jax.data import records as data
from mmnet_jax.vision import frames as frames_lib
from tfds_builders import clip_features as cf


def _official(onset, apex, offset, recipe):
    """The scripts' own expressions (CASME2_5.py / CASME2_3.py), as (low, high) frame
    numbers of ``random.randint`` for the onset and the apex."""
    if recipe == "5class":
        on = (int(onset), int(onset + int(0.15 * (apex - onset) / 4)))
        ap = (int(apex - int(0.15 * (apex - onset) / 4)), apex)
    else:
        on = (int(onset), int(onset + int(0.2 * (apex - onset) / 4)))
        ap = (int(apex - int(0.15 * (apex - onset) / 4)), apex + int(0.15 * (offset - apex) / 4))
    return on, ap


@pytest.mark.parametrize("recipe", frames_lib.JITTER_RECIPES)
def test_ranges_are_the_scripts_own(recipe):
    # Rises and falls across every step of int(0.15 x / 4) and int(0.2 x / 4) up to 140 frames.
    for rise, fall in itertools.product(range(0, 141), (0, 1, 26, 27, 53, 80, 106, 107, 140)):
        onset, apex = 100, 100 + rise
        offset = apex + fall
        j0, j1, j2 = frames_lib.official_jitter(onset, apex, offset, recipe)
        on, ap = _official(onset, apex, offset, recipe)
        assert (onset, onset + j0) == on and (apex - j1, apex + j2) == ap, (rise, fall)
    with pytest.raises(ValueError, match="jitter must be one of"):
        frames_lib.official_jitter(0, 10, 20, "4class")


def test_stored_frames_cover_both_recipes_capped_at_k():
    # rise 60: 5-class 2, 3-class onset 3; fall 60: 2 after the apex.
    on, ap = cf.frame_numbers(100, 160, 220, 5)
    assert on == [100, 101, 102, 103, 103]
    assert ap == [160, 159, 158, 158, 158, 161, 162, 162, 162]
    assert cf.jitter_note(100, 160, 220, 5) is None
    # rise 120: 3-class onset range 6 > 4 stored; the note says so and how to store all.
    on, ap = cf.frame_numbers(0, 120, 125, 5)
    assert on == [0, 1, 2, 3, 4] and ap[:5] == [120, 119, 118, 117, 116]
    note = cf.jitter_note(0, 120, 125, 5)
    assert "after the onset 6 (stored 4)" in note and "--frames_per_side 7" in note
    # Frames after the apex stop at the first one missing on disk (not a skipped clip).
    present = set(range(100, 161)) | {161}
    _, ap = cf.frame_numbers(100, 160, 220, 5, on_disk=present)
    assert ap[5:] == [161, 161, 161, 161]
    note = cf.jitter_note(100, 160, 220, 5, on_disk=present)
    assert note.endswith("after the apex 2 (stored 1)")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """A tiny synthetic set written by its TFDS builder, read back as training reads it."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="synthetic_me",
            data_dir=str(tmp_path_factory.mktemp("tfds")),
            synthetic_seed=3,
            synthetic_subjects=2,
            synthetic_clips=3,
            image_size=32,
            frames_per_side=5,
        )
    )
    builder = data.get_builder(cfg)
    builder.download_and_prepare()
    source = builder.as_data_source()["train"]
    numbers = {
        str(r["id"], "utf-8"): (list(r["onset_frame_numbers"]), list(r["apex_frame_numbers"]))
        for r in (source[i] for i in range(len(source)))
    }
    return data.load(cfg), numbers


def _drawn(arrays, numbers, seeds=40):
    """The frame numbers training drew as each clip's onset and apex, over many keys."""
    cfg = augment.AugmentConfig(flip=False, rotation_deg=0.0, crop_padding=0)
    n = len(arrays)
    batch = jax.jit(
        lambda key: augment.training_batch(
            key,
            arrays.onset_frames,
            arrays.apex_frames,
            jnp.asarray(arrays.jitter),
            jnp.arange(n),
            cfg,
        )
    )
    seen = {i: (set(), set()) for i in arrays.ids}
    stored = {
        side: np.asarray(frames_lib.normalize(getattr(arrays, f"{side}_frames")))
        for side in ("onset", "apex")
    }
    for seed in range(seeds):
        for side, x in zip(("onset", "apex"), batch(jax.random.key(seed)), strict=True):
            for c, clip in enumerate(arrays.ids):
                hit = [
                    numbers[clip][side == "apex"][i]
                    for i in range(stored[side].shape[1])
                    if np.allclose(np.asarray(x[c]), stored[side][c, i], rtol=0, atol=1e-5)
                ]
                assert hit, (clip, side)
                seen[clip][side == "apex"].update(hit)
    return seen


@pytest.mark.parametrize("recipe", frames_lib.JITTER_RECIPES)
def test_training_draws_the_official_frames_from_the_records(records, recipe):
    arrays, numbers = records
    k = arrays.onset_frames.shape[1]
    assert arrays.apex_frames.shape[1] == 2 * k - 1
    ready = arrays.for_jitter(recipe)
    # 5-class: nothing drawn after the apex, so those frames are not carried.
    assert ready.apex_frames.shape[1] == (k if recipe == "5class" else 2 * k - 1)
    seen = _drawn(ready, numbers)
    after = 0
    for clip, (onset, apex, offset) in zip(arrays.ids, arrays.bounds.tolist(), strict=True):
        (on_lo, on_hi), (ap_lo, ap_hi) = _official(onset, apex, offset, recipe)
        assert seen[clip][0] == set(range(on_lo, on_hi + 1)), clip
        assert seen[clip][1] == set(range(ap_lo, ap_hi + 1)), clip
        after += ap_hi > apex
    assert (after > 0) == (recipe == "3class")  # the synthetic clips reach after the apex


def test_no_jitter_keeps_the_labelled_frames_and_old_records_are_refused(records):
    arrays, _ = records
    bare = arrays.for_jitter(None)
    assert bare.onset_frames.shape[1] == bare.apex_frames.shape[1] == 1
    np.testing.assert_array_equal(bare.apex_frames[:, 0], arrays.apex_frames[:, 0])
    k = arrays.onset_frames.shape[1]
    old = data.ClipArrays(**{**vars(arrays), "apex_frames": arrays.apex_frames[:, :k]})
    old.stored = old.stored * np.array([1, 1, 0], np.int32)
    assert old.for_jitter("5class").jitter.tolist() == arrays.for_jitter("5class").jitter.tolist()
    with pytest.raises(data.DatasetError, match="hold none .* prepare the dataset again"):
        old.for_jitter("3class")
