"""The fold group size chosen from the compiled epoch's memory and the device memory;
the run's asynchronous checkpoints."""

import jax
import jax.numpy as jnp
import pytest

from mmnet_jax.training import checkpoints as run_checkpoints
from mmnet_jax.training import folds, trainer

GIB = 2**30


def _linear(fixed_gib, per_fold_gib, num_devices, calls):
    """A measure of an epoch needing ``fixed + per_fold * folds per device`` GiB."""

    def measure(size):
        calls.append(size)
        return int((fixed_gib + per_fold_gib * size / num_devices) * GIB)

    return measure


@pytest.mark.parametrize(
    "count,devices,fixed,per_fold,limit,size",
    [
        (26, 1, 2.0, 1.0, 80, 26),  # all fit: 28 GiB of 80 * 0.9
        (26, 1, 2.0, 1.0, 17, 13),  # 15 GiB of 17 * 0.9 = 15.3: 2 groups of 13
        (26, 1, 2.0, 1.0, 10.5, 7),  # 9 GiB of 9.45: 4 groups of 7 (not 8, 8, 8, 2)
        (26, 4, 2.0, 1.0, 6, 12),  # 3 per device: 5 GiB of 5.4
        (26, 4, 2.0, 1.0, 4, 4),  # 1 per device
        (3, 1, 0.1, 0.3, 0.5, 1),
    ],
)
def test_largest_fitting_size(count, devices, fixed, per_fold, limit, size):
    calls = []
    got, need = trainer.choose_group_size(
        count, devices, _linear(fixed, per_fold, devices, calls), int(limit * GIB)
    )
    assert got == size
    assert got in folds.group_sizes(count, devices)
    assert need == int((fixed + per_fold * size / devices) * GIB)
    assert need <= trainer.MEMORY_SAFETY * limit * GIB
    # The next larger size would not fit.
    larger = [s for s in folds.group_sizes(count, devices) if s > size]
    if larger:
        assert fixed + per_fold * larger[-1] / devices > trainer.MEMORY_SAFETY * limit
    # The whole set first, then at most the small probe and the chosen size.
    assert calls[0] == folds.group_sizes(count, devices)[0] and len(calls) <= 3
    assert len(set(calls)) == len(calls)


def test_an_estimate_that_was_short_tries_the_next_size():
    """Memory above the line (a jump past 7 folds): the size chosen from the estimate is
    measured, found too large, and the next smaller one is taken."""
    calls = []

    def measure(size):
        calls.append(size)
        return int((1 + size + (10 if size > 7 else 0)) * GIB)

    size, need = trainer.choose_group_size(26, 1, measure, int(20 * GIB))
    assert size == 7 and need == 8 * GIB
    assert calls == [26, 2, 9, 7]


def test_nothing_fits_and_no_analysis():
    with pytest.raises(trainer.FoldGroupTooLarge, match="even 2 fold"):
        trainer.choose_group_size(5, 2, _linear(3.0, 1.0, 2, []), int(3 * GIB))
    # A backend without memory analysis: every fold in one group, as before.
    assert trainer.choose_group_size(5, 2, lambda s: None, GIB) == (6, None)


def test_device_memory(monkeypatch):
    assert trainer._device_memory_bytes(1.5) == int(1.5 * GIB)
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    full = trainer._device_memory_bytes()
    assert full > 0
    if not jax.local_devices()[0].memory_stats():  # CPU: the host's memory, and the fraction
        monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.5")
        assert abs(trainer._device_memory_bytes() - full // 2) <= 1


def test_a_real_compile_grows_linearly_with_the_folds():
    """On the CPU backend, a fold-stacked program's memory analysis grows with the folds
    over a fixed, replicated part: the choice from two probes fits the measured size."""
    data = jnp.zeros((256, 1024), jnp.float32)  # 1 MiB replicated "dataset"

    def measure(size):
        w = jax.ShapeDtypeStruct((size, 1024, 256), jnp.float32)  # 1 MiB per fold

        def epoch(w, data):
            return jax.vmap(lambda wi: wi - 0.1 * data.T @ (data @ wi))(w)

        compiled = jax.jit(epoch, donate_argnums=(0,)).lower(w, data).compile()
        return trainer.epoch_bytes(compiled)

    sizes = {s: measure(s) for s in (1, 2, 4)}
    if sizes[1] is None:
        pytest.skip("this backend reports no memory analysis")
    assert sizes[1] < sizes[2] < sizes[4]
    limit = int(sizes[4] / trainer.MEMORY_SAFETY) + 1  # 4 fit, 8 do not
    size, need = trainer.choose_group_size(8, 1, measure, limit)
    assert size == 4 and need == sizes[4]


def test_saved_groups_of_a_workdir(tmp_path):
    from mmnet_jax.evaluation import results  # noqa: PLC0415

    assert run_checkpoints.saved_groups(tmp_path) is None
    ckpts = run_checkpoints.RunCheckpoints(tmp_path, keep=2)
    state = {"w": jnp.arange(4.0)}
    groups = [[0, 1, 2, 0], [-1, -1, -1, -1]]
    ckpts.save(3, state, results.Progress(groups=groups, epochs=3))
    assert ckpts.latest_step() == 3  # waits for the asynchronous save
    ckpts.close()
    assert run_checkpoints.saved_groups(tmp_path) == groups


def test_async_save_survives_donating_the_saved_state(tmp_path):
    """The epoch donates the state right after a save returns: the checkpoint written in
    the background still holds the values saved (Orbax copies to host before save
    returns)."""
    from mmnet_jax.evaluation import results  # noqa: PLC0415

    ckpts = run_checkpoints.RunCheckpoints(tmp_path, keep=2)
    state = jax.jit(lambda: {"w": jnp.arange(2**20, dtype=jnp.float32)})()
    expected = jax.device_get(state)
    step = jax.jit(lambda s: jax.tree.map(lambda x: x * 0 - 1, s), donate_argnums=(0,))
    ckpts.save(1, state, results.Progress(groups=[[0]], epochs=1))
    after = jax.block_until_ready(step(state))
    restored = ckpts.restore_state(1, after)
    assert (jax.device_get(restored["w"]) == expected["w"]).all()
    assert (jax.device_get(after["w"]) == -1).all()
    ckpts.close()
