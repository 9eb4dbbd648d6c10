"""Stacked fold training: each fold's own schedule, a fold in a stack equals the fold
alone, masked partial batches, sharding over devices, metrics.jsonl's step counts."""

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from configs import synthetic
from mmnet_jax.evaluation import results as results_lib
from mmnet_jax.inference import model_dir
from mmnet_jax.models import MMNet
from mmnet_jax.training import trainer as trainer_lib
from mmnet_jax.training.fold_trainer import FoldTrainer, TrainSettings, make_mesh, train_step
from tests import trainer_utils as tu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Subjects of 3, 5, 4 and 6 clips: with batch 4 the folds train on 15, 13, 14 and 12
# clips, i.e. 4, 4, 4 and 3 steps whose last batches hold 3, 1, 2 and 4 clips.
UNEVEN = [3, 5, 4, 6]


def _leaves(tree):
    out = []
    for x in jax.tree.leaves(tree):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x))
    return out


def _state_leaves(state):
    return _leaves((state.params, state.rest, state.opt_state, state.key))


def test_per_fold_schedule_counts():
    data = tu.fake_clips(clips=UNEVEN)
    plan = tu.plan_of(data)
    tr = FoldTrainer(tu.model_config(), tu.settings(plan), data, plan, 7, make_mesh())
    steps, samples = tr.fold_steps([0, 1, 2, 3])
    assert samples.tolist() == [15, 13, 14, 12] == plan.train_mask.sum(1).tolist()
    assert steps.tolist() == [4, 4, 4, 3] and tr.s.steps_per_epoch == 4
    wrapped = dataclasses.replace(tu.settings(plan), schedule="wrapped")
    tr = FoldTrainer(tu.model_config(), wrapped, data, plan, 7, make_mesh())
    steps, samples = tr.fold_steps([0, 3])
    assert steps.tolist() == [4, 4] and samples.tolist() == [16, 16]
    with pytest.raises(ValueError, match="schedule must be one of"):
        dataclasses.replace(wrapped, schedule="drop_last")


# Why the map loop gives the SAME BITS stacked and alone, on any x86 CPU: with
# fold_loop="map" a device runs its folds one after another (lax.map), each through the
# same per-fold step: nothing is computed across folds (no batched convolution, no
# reduction over the fold axis), a fold's batches and augmentation come from integer
# draws of its own key (a step's key is fold_in(key, step), whatever the step count), and
# its padded steps select the old state bit for bit (jnp.where). XLA:CPU compiles each
# fused kernel from its HLO for the host's instruction set, deterministically, so the
# per-fold float32 operations run in the same order on the same inputs in both programs
# and give the same bits. A different CPU (AVX2 instead of AVX-512) changes both programs
# alike. What could break it is an XLA version that fuses the step differently when the
# fold loop has one trip (a single fold); the test would then fail loudly, and the bounds
# of test_sharded_over_four_cpu_devices_equals_vmap_on_one are what is left to assert.
# With vmap the folds' convolutions are batched: rounding differs, and with a learning
# rate > 0 Adam turns a rounding-level sign change of a near-zero gradient into a full
# step (measured: 0.1-0.4 apart after 2 epochs), so vmap is compared at learning rate 0
# with argued bounds.
@pytest.mark.slow
def test_stacked_equals_single_fold_map_exactly():
    """Two epochs at the real learning rate, drop-path on, partial last batches and a
    padded step (fold 3 takes 3 of the program's 4 steps): each fold of the stack ends
    bit for bit where the fold trained alone, in a program of exactly its own steps,
    ends; its Adam step count is its own steps, and the losses match."""
    data = tu.fake_clips(clips=UNEVEN)
    plan = tu.plan_of(data)
    trainer = FoldTrainer(
        tu.model_config(drop_path=0.2), tu.settings(plan), data, plan, 7, make_mesh()
    )
    group = [1, 3]
    steps, _ = trainer.fold_steps(group)
    stacked = trainer.init(group)
    alone = {f: trainer.with_steps(int(s)) for f, s in zip(group, steps, strict=True)}
    assert [alone[f].s.steps_per_epoch for f in group] == [4, 3]
    states = {f: alone[f].init([f]) for f in group}
    before = _state_leaves(stacked)
    losses_s, losses_a = [], {f: [] for f in group}
    for _ in range(2):
        stacked, loss_s, _ = trainer.train_epoch(stacked, trainer.train_masks(group))
        losses_s.append(np.asarray(loss_s))
        for f in group:
            states[f], loss_a, _ = alone[f].train_epoch(states[f], alone[f].train_masks([f]))
            losses_a[f].append(np.asarray(loss_a)[0])
    for gi, f in enumerate(group):
        own = int(steps[gi])
        for s_leaf, a_leaf in zip(_state_leaves(stacked), _state_leaves(states[f]), strict=True):
            np.testing.assert_array_equal(s_leaf[gi], a_leaf[0])
        for e in range(2):
            np.testing.assert_array_equal(losses_s[e][gi, :own], losses_a[f][e])
            assert (losses_s[e][gi, own:] == 0).all()
        counts = {
            int(np.asarray(leaf)[gi])
            for path, leaf in jax.tree_util.tree_flatten_with_path(stacked.opt_state)[0]
            if "count" in jax.tree_util.keystr(path)
        }
        assert counts == {2 * own}
    # The test can fail: the two folds differ, and both moved from their start.
    after = _state_leaves(stacked)
    p0 = _leaves(stacked.params)[0]
    assert not np.array_equal(p0[0], p0[1])
    moved = [np.abs(a - b).reshape(2, -1).max(1) for a, b in zip(after, before, strict=True)]
    assert (np.max(moved, 0) > 0).all()


# Bounds for vmap, and why they hold on any x86 CPU: with learning rate 0 the optimiser's
# update is 0 * u == 0 exactly, so every fold keeps its initial parameters, and each
# step's loss and gradient are one float32 forward/backward of the same parameters on the
# same batch. A stack and a fold alone (here: one fold per device of a 4-device mesh)
# differ only in the order XLA accumulates sums (vmap batches the folds' convolutions),
# i.e. by float32 rounding, u = 6e-8 per operation. The loss is well conditioned: a few u
# (2.7e-7 measured); bound 1e-5. The gradient norm is dominated by the layer-1 attention
# convolution, whose gradient is a sum of nearly cancelling terms (condition ~1e3: 8e-5
# measured, 1e3 u); bound 1e-3. A fold that drew another fold's clips or keys would be off
# by 1e-1 to 1.
LOSS_RTOL = 1e-5
GRAD_NORM_RTOL = 1e-3


@pytest.mark.slow
def test_masked_batch_is_the_smaller_batch():
    """A batch of 4 with 2 masked samples gives the loss, gradient and BatchNorm running
    statistics of the 2-sample batch (float32 rounding apart: sums in another order)."""
    cfg = tu.model_config()
    model = MMNet(cfg, rngs=nnx.Rngs(0))
    model.train()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    rng = np.random.default_rng(0)
    onset = rng.standard_normal((4, tu.SIZE, tu.SIZE, 3)).astype(np.float32)
    apex = (onset + 0.3 * rng.standard_normal(onset.shape)).astype(np.float32)
    labels = np.asarray([0, 2, 1, 1], np.int32)
    tx = optax.sgd(1.0)  # update == -gradient
    step = jax.jit(train_step, static_argnums=(0, 1))
    opt = tx.init(params)
    masked = step(
        graphdef, tx, params, rest, opt, (onset, apex), labels, np.array([1, 0, 1, 0], bool)
    )
    small = step(graphdef, tx, params, rest, opt, (onset[::2], apex[::2]), labels[::2])
    # All valid: the masked program again (one compile fewer), the whole batch's numbers.
    full = step(graphdef, tx, params, rest, opt, (onset, apex), labels, np.ones(4, bool))
    np.testing.assert_allclose(masked[3], small[3], rtol=1e-5)
    assert abs(float(full[3]) / float(small[3]) - 1) > 1e-2  # the mask matters
    for a, b in zip(_leaves(masked[:2]), _leaves(small[:2]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A whole run whose folds end each epoch on a partial batch: 3 subjects x 4 clips,
    batch 3 (8 training clips per fold: 3 steps, the last of 2 clips; the all-subjects
    model 12 clips: 4 steps)."""
    config = synthetic.get_config()
    config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
    config.data.synthetic_subjects = 3
    config.data.synthetic_clips = 4
    config.train.epochs = 2
    config.train.batch_size = 3
    config.progress_bar = False
    config.report = False
    config.model.head_classes = 7  # wider than the 5 classes, as the official 3-class head
    workdir = tmp_path_factory.mktemp("run")
    trainer_lib.train_and_evaluate(config, workdir)
    return workdir, config


@pytest.mark.slow
def test_metrics_jsonl_records_each_folds_own_steps(synthetic_run):
    workdir, config = synthetic_run
    lines = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    resolved = json.loads((workdir / "config.json").read_text())
    subjects = resolved["data"]["subjects"]
    n = resolved["data"]["num_clips"]
    per_subject = n // len(subjects)  # the synthetic set: the same count per subject
    b = int(config.train.batch_size)
    seen = set()
    for line in lines:
        clips = n if line["fold"] == "__all__" else n - per_subject
        assert line["train_samples"] == clips
        assert line["train_steps"] == math.ceil(line["train_samples"] / b)
        seen.add((line["fold"], line["epoch"]))
    assert seen == {(s, e) for s in [*subjects, "__all__"] for e in (1, 2)}
    assert {line["train_steps"] for line in lines} == {3, 4}  # partial last batches


@pytest.mark.slow
def test_wider_head_trains_and_predicts_the_data_classes(synthetic_run):
    """head_classes=7 on 5 classes: a 7-way model, predictions among the data's
    classes, the extra outputs named unused_<i> in the saved model."""
    workdir, _ = synthetic_run
    resolved = json.loads((workdir / "config.json").read_text())
    names = resolved["data"]["class_names"]
    assert resolved["model_config"]["num_classes"] == 7 and len(names) == 5
    rows = results_lib.read_predictions_csv((workdir / "predictions.csv").read_text())
    assert rows and all(0 <= r["prediction"] < len(names) for r in rows)
    model, meta = model_dir.load(workdir)
    assert model.config.num_classes == 7
    assert meta["class_names"] == names + ["unused_5", "unused_6"]


@pytest.mark.slow
def test_sharded_over_four_cpu_devices_equals_vmap_on_one():
    """The vmap fold loop, learning rate 0 (bounds above): the four uneven folds spread
    over 4 forced CPU devices (one fold per device: each trained as if alone, fold 3 with
    a padded 4th step) give the losses and gradient norms of the four stacked with vmap
    on one device; the other folds are far outside the bounds; nothing moved."""
    script = textwrap.dedent(
        f"""
        import dataclasses
        import jax, numpy as np
        from jax.sharding import Mesh
        from mmnet_jax.training.fold_trainer import FoldTrainer, make_mesh
        from tests import trainer_utils as tu
        assert jax.device_count() == 4
        data = tu.fake_clips(clips={UNEVEN})
        plan = tu.plan_of(data)
        settings = dataclasses.replace(tu.settings(plan, fold_loop="vmap"), learning_rate=0.0)
        group = [0, 1, 2, 3]
        out = {{}}
        one = Mesh(np.array(jax.devices()[:1]), ("fold",))
        for name, mesh in [("four", make_mesh()), ("one", one)]:
            tr = FoldTrainer(tu.model_config(drop_path=0.2), settings, data, plan, 7, mesh)
            st = tr.init(group)
            init = [np.asarray(x) for x in jax.tree.leaves(st.params)]
            st, loss, gnorm = tr.train_epoch(st, tr.train_masks(group))
            leaf = jax.tree.leaves(st.params)[0]
            for a, b in zip(init, jax.tree.leaves(st.params), strict=True):
                np.testing.assert_array_equal(a, np.asarray(b))  # learning rate 0
            idx, valid = tr.test_indices(group)
            logits = np.asarray(tr.evaluate(st, idx))
            assert logits.shape[:2] == valid.shape and valid.sum() == sum({UNEVEN})
            out[name] = (np.asarray(loss), np.asarray(gnorm), init, len(leaf.sharding.device_set))
        (l4, g4, i4, d4), (l1, g1, i1, d1) = out["four"], out["one"]
        assert (d4, d1) == (4, 1), (d4, d1)
        # The same integer random bits through the same elementwise functions: at most
        # a last-bit difference between vectorised and scalar code.
        for a, b in zip(i4, i1, strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-7, atol=0)
        np.testing.assert_allclose(l4, l1, rtol={LOSS_RTOL}, atol=0)
        np.testing.assert_allclose(g4, g1, rtol={GRAD_NORM_RTOL}, atol=0)
        assert l4[3, 3] == 0 and l1[3, 3] == 0  # fold 3's padded 4th step
        mine = np.r_[0:3]
        for other in (0, 1, 2):  # the bounds can fail: other folds are far outside them
            assert np.abs(l1[other, mine] / l4[3, mine] - 1).max() > 100 * {LOSS_RTOL}
        print("SHARDED_OK")
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert "SHARDED_OK" in proc.stdout, proc.stderr[-4000:]


def test_adam_is_pytorchs_adam_and_no_shuffle_is_clip_order():
    """``optimizer="adam"``: torch.optim.Adam's update (weight decay added to the gradient
    before the moments), checked against its formulas for two steps; ``shuffle=False``:
    each epoch the training clips in clip order (a DataLoader without shuffle)."""
    from mmnet_jax.training.fold_trainer import fold_epoch_plan, make_optimizer  # noqa: PLC0415

    s = TrainSettings.official(
        4, optimizer="adam", learning_rate=1e-2, weight_decay=1e-3, lr_decay=1.0
    )
    tx = make_optimizer(s)
    w = np.asarray([1.0, -2.0, 0.5], np.float64)
    grads = [np.asarray([0.5, 0.1, -0.3]), np.asarray([-0.2, 0.4, 0.0])]
    params, state = {"w": jnp.asarray(w, jnp.float32)}, None
    state = tx.init(params)
    m = v = np.zeros(3)
    for t, g in enumerate(grads, start=1):
        updates, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        params = {"w": params["w"] + updates["w"]}
        g = g + 1e-3 * w
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        w = w - 1e-2 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(np.asarray(params["w"]), w, rtol=1e-6)

    mask = jnp.asarray([True, False, True, True, False, True])
    key = jax.random.key_data(jax.random.key(0, impl="threefry2x32"))
    _, batches, valid, _, steps = fold_epoch_plan(
        key, mask, steps=2, batch=3, wrapped=False, shuffle=False
    )
    assert batches[valid].tolist() == [0, 2, 3, 5] and int(steps) == 2
    _, shuffled, valid, _, _ = fold_epoch_plan(key, mask, steps=2, batch=3, wrapped=False)
    assert sorted(shuffled[valid].tolist()) == [0, 2, 3, 5]
