"""Stacked fold training: equivalence with a fold trained alone, sharding over devices."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from mmnet_jax.training.fold_trainer import FoldTrainer, make_mesh
from tests import trainer_utils as tu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("fold_loop", ["map", "vmap"])
def test_stacked_equals_single_fold(fold_loop):
    data = tu.fake_clips()
    plan = tu.plan_of(data)
    # Drop-path on, so per-fold dropout streams are exercised too.
    trainer = FoldTrainer(
        tu.model_config(drop_path=0.2),
        tu.settings(plan, fold_loop=fold_loop),
        data,
        plan,
        7,
        make_mesh(),
    )
    stacked = trainer.init([0, 1, 2])
    alone = trainer.init([1])
    for _ in range(2):
        stacked, loss_s, _ = trainer.train_epoch(stacked, trainer.train_masks([0, 1, 2]))
        alone, loss_a, _ = trainer.train_epoch(alone, trainer.train_masks([1]))
    # lax.map runs the very same per-fold program: equal leaf by leaf.
    # vmap batches the folds' convolutions (another accumulation order): equal to float32
    # rounding. Adam turns a rounding-level sign change of a near-zero gradient (the
    # layer-1 attention conv is badly conditioned) into a full step, so compare the whole
    # parameter vector there.
    np.testing.assert_allclose(np.asarray(loss_s)[1], np.asarray(loss_a)[0], rtol=2e-3)
    s_leaves = [x[1].ravel() for x in _leaves(stacked.params)]
    a_leaves = [x[0].ravel() for x in _leaves(alone.params)]
    if fold_loop == "map":
        for s_, a_ in zip(s_leaves, a_leaves, strict=True):
            np.testing.assert_allclose(s_, a_, rtol=1e-5, atol=1e-7)
    else:
        s_all, a_all = np.concatenate(s_leaves), np.concatenate(a_leaves)
        assert np.linalg.norm(s_all - a_all) / np.linalg.norm(a_all) < 2e-3
    # Different folds really differ (own data, own keys).
    first = _leaves(stacked.params)[0]
    assert not np.allclose(first[0], first[1])
    # Each fold evaluates on its own test subject only.
    idx, valid = trainer.test_indices([0, 1, 2])
    logits = np.asarray(trainer.evaluate(stacked, idx))
    assert logits.shape[:2] == valid.shape and valid.sum() == 12


def test_sharded_over_four_cpu_devices():
    """Folds spread over 4 forced CPU devices give the results of one device."""
    script = textwrap.dedent(
        """
        import jax, numpy as np
        from jax.sharding import Mesh
        from mmnet_jax.training.fold_trainer import FoldTrainer, make_mesh
        from tests import trainer_utils as tu
        assert jax.device_count() == 4
        data = tu.fake_clips()
        plan = tu.plan_of(data)
        out = {}
        one = Mesh(np.array(jax.devices()[:1]), ("fold",))
        for name, mesh in [("four", make_mesh()), ("one", one)]:
            tr = FoldTrainer(tu.model_config(), tu.settings(plan, batch=2), data, plan, 3, mesh)
            group = [0, 1, 2, 3]
            st = tr.init(group)
            st, loss, _ = tr.train_epoch(st, tr.train_masks(group))
            leaf = jax.tree.leaves(st.params)[0]
            out[name] = (np.asarray(loss), np.asarray(leaf), len(leaf.sharding.device_set))
        assert out["four"][2] == 4 and out["one"][2] == 1, (out["four"][2], out["one"][2])
        np.testing.assert_allclose(out["four"][0], out["one"][0], rtol=1e-5)
        np.testing.assert_allclose(out["four"][1], out["one"][1], rtol=1e-4, atol=1e-6)
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
