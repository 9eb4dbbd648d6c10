"""Number-for-number parity with the official PyTorch MMNet, part by part (224 px).

Fixtures: tests/fixtures (copied from the project's parity set; see PARITY_README.md
there for the recipe and the tolerances used below).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from mmnet_jax.models import MMNetConfig, resize_to_grid
from mmnet_jax.models.mmnet.params import (
    mmnet_from_torch,
    mmnet_to_torch,
    official_name_map,
    to_torch_layout,
)
from tests.parity_utils import load_case, nhwc, recipe_state_dict, rel_err

CFG5 = MMNetConfig.official_5class()


@pytest.fixture(scope="module")
def case5():
    manifest, arrays = load_case("5")
    sd64 = recipe_state_dict(manifest, 0)
    return manifest, arrays, sd64, {k: v.astype(np.float32) for k, v in sd64.items()}


@pytest.fixture(scope="module")
def case3():
    manifest, arrays = load_case("3")
    sd64 = recipe_state_dict(manifest, 0)
    return manifest, arrays, sd64, {k: v.astype(np.float32) for k, v in sd64.items()}


def _inputs(arrays, dtype=jnp.float32):
    return jnp.asarray(nhwc(arrays["onset"]), dtype), jnp.asarray(nhwc(arrays["apex"]), dtype)


def _loss_fn(labels):
    def loss_fn(model, onset, apex):
        logits = model(onset, apex)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    return loss_fn


def _grads_by_official_name(grads: nnx.State, config: MMNetConfig) -> dict[str, np.ndarray]:
    flat = dict(nnx.to_flat_state(grads))
    return {
        name: to_torch_layout(np.asarray(flat[path].get_value(), np.float64), kind, config)
        for name, (path, kind) in official_name_map(config).items()
        if path in flat  # gradients cover parameters only, not BatchNorm statistics
    }


# 1. The weight recipe itself, so a NumPy stream change fails here, not downstream.
@pytest.mark.parametrize("fixture_name", ["case5", "case3"])
def test_recipe_sums(fixture_name, request):
    # The fixture sums are over the float32-cast entries, accumulated in float64.
    _, arrays, _, sd = request.getfixturevalue(fixture_name)
    sums = np.array([v.astype(np.float64).sum() for v in sd.values()])
    abs_sums = np.array([np.abs(v.astype(np.float64)).sum() for v in sd.values()])
    np.testing.assert_allclose(sums, arrays["recipe_sums"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(abs_sums, arrays["recipe_abs_sums"], rtol=1e-9)


# 2. PC input (the resized onset frame) and PC output.
@pytest.mark.parametrize(
    "antialias,key", [(False, "eval_pos_input"), (True, "eval_pos_input_antialias")]
)
def test_pc_input(case5, antialias, key):
    _, arrays, _, _ = case5
    onset, _ = _inputs(arrays)
    out = resize_to_grid(onset, 14, antialias)
    assert rel_err(out, nhwc(arrays[key])) < 1e-4


def test_pc_output(case5):
    _, arrays, _, sd = case5
    model = mmnet_from_torch(sd, CFG5)
    model.eval()
    onset, _ = _inputs(arrays)
    assert rel_err(model.pc(onset), nhwc(arrays["eval_pos"])) < 1e-4


# 3. Eval logits, without and with the anti-aliased resize.
@pytest.mark.parametrize("antialias,key", [(False, "eval_logits"), (True, "eval_logits_antialias")])
def test_eval_logits(case5, antialias, key):
    _, arrays, _, sd = case5
    model = mmnet_from_torch(sd, dataclasses.replace(CFG5, pc_resize_antialias=antialias))
    model.eval()
    assert rel_err(model(*_inputs(arrays)), arrays[key]) < 1e-4


def test_eval_logits_3class(case3):
    _, arrays, _, sd = case3
    cfg = dataclasses.replace(MMNetConfig.official_3class(), num_classes=5)
    model = mmnet_from_torch(sd, cfg)
    model.eval()
    assert rel_err(model(*_inputs(arrays)), arrays["eval_logits"]) < 1e-4


# 4-5. Training mode: logits, loss, gradients.
@pytest.fixture(scope="module")
def train_f32(case5):
    _, arrays, _, sd = case5
    model = mmnet_from_torch(sd, CFG5)
    model.train()
    labels = jnp.asarray(arrays["labels"], jnp.int32)
    onset, apex = _inputs(arrays)
    logits = model(onset, apex)
    model = mmnet_from_torch(sd, CFG5)  # fresh running statistics for the gradient
    model.train()
    loss, grads = nnx.jit(nnx.value_and_grad(_loss_fn(labels)))(model, onset, apex)
    return logits, loss, grads


def test_train_logits_and_loss(case5, train_f32):
    _, arrays, _, _ = case5
    logits, loss, _ = train_f32
    assert rel_err(logits, arrays["train_logits"]) < 1e-4
    assert rel_err(loss, arrays["train_loss"]) < 1e-4


def test_gradients_float32(case5, train_f32):
    _, arrays, _, _ = case5
    _, _, grads = train_f32
    gnorm = float(optax.tree.norm(grads))
    assert rel_err(gnorm, arrays["grad_global_norm"]) < 1e-4
    by_name = _grads_by_official_name(grads, CFG5)
    checked = [k.removeprefix("grad64__") for k in arrays if k.startswith("grad64__")]
    assert len(checked) == 6
    for name in checked:
        assert rel_err(by_name[name], arrays[f"grad64__{name}"]) < 1e-2, name


def test_gradients_float64(case5):
    """The sharp test of the backward pass: float64 model against the float64 reference.

    Runs the CPU conv-gradient path (``matmul_grad``), so its custom VJP is held to the
    same 1e-6; the float32 test above runs XLA's own.
    """
    _, arrays, _, sd = case5
    with jax.enable_x64(True):
        cfg = dataclasses.replace(CFG5, dtype="float64", conv_impl="matmul_grad")
        model = mmnet_from_torch(sd, cfg)
        state = nnx.state(model)
        nnx.update(model, jax.tree.map(lambda v: v.astype(jnp.float64), state))
        model.train()
        labels = jnp.asarray(arrays["labels"], jnp.int32)
        loss, grads = nnx.jit(nnx.value_and_grad(_loss_fn(labels)))(
            model, *_inputs(arrays, jnp.float64)
        )
        assert loss.dtype == jnp.float64
        assert rel_err(loss, arrays["train_loss64"]) < 1e-6
        assert rel_err(float(optax.tree.norm(grads)), arrays["grad64_global_norm"]) < 1e-6
        by_name = _grads_by_official_name(grads, cfg)
        for key in (k for k in arrays if k.startswith("grad64__")):
            name = key.removeprefix("grad64__")
            assert rel_err(by_name[name], arrays[key]) < 1e-6, name


# 6. BatchNorm running statistics after one training forward pass (unbiased variance).
def test_running_statistics(case5):
    _, arrays, _, sd = case5
    model = mmnet_from_torch(sd, CFG5)
    model.train()
    model(*_inputs(arrays))
    after = mmnet_to_torch(model)
    keys = [k for k in arrays if k.startswith("running__")]
    assert len(keys) == 5
    for key in keys:
        name = key.removeprefix("running__")
        assert rel_err(after[name], arrays[key]) < 1e-6, name


# 7. One and two Optax AdamW steps against PyTorch's AdamW.
def test_adamw_steps(case5):
    _, arrays, _, sd = case5
    model = mmnet_from_torch(sd, CFG5)
    model.train()
    labels = jnp.asarray(arrays["labels"], jnp.int32)
    grad_fn = nnx.jit(nnx.grad(_loss_fn(labels)))
    tx = optax.adamw(8e-4, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.6)
    params = nnx.state(model, nnx.Param)
    opt_state = tx.init(params)
    for step, prefix in ((1, "adamw__"), (2, "adamw2__")):
        grads = grad_fn(model, *_inputs(arrays))
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        nnx.update(model, params)
        now = mmnet_to_torch(model)
        keys = [k for k in arrays if k.startswith(prefix)]
        assert len(keys) == 6, step
        for key in keys:
            name = key.removeprefix(prefix)
            assert rel_err(now[name], arrays[key]) < 1e-3, (step, name)


# The converter: round trip, and errors that name the key.
def test_round_trip(case5):
    _, _, _, sd = case5
    back = mmnet_to_torch(mmnet_from_torch(sd, CFG5))
    for name, value in back.items():
        np.testing.assert_array_equal(value, sd[name], err_msg=name)


def test_converter_errors(case5):
    _, _, _, sd = case5
    missing = {k: v for k, v in sd.items() if k != "main_branch.layer3.0.conv1.weight"}
    with pytest.raises(ValueError, match="main_branch.layer3.0.conv1.weight"):
        mmnet_from_torch(missing, CFG5)
    bad = dict(sd, **{"vit_pos.blocks.1.mlp.fc1.weight": np.zeros((1024, 512), np.float32)})
    with pytest.raises(ValueError, match=r"vit_pos\.blocks\.1\.mlp\.fc1\.weight"):
        mmnet_from_torch(bad, CFG5)
    with pytest.raises(ValueError, match="vit_pos.blocks.1"):  # depth-2 weights, depth-1 config
        mmnet_from_torch(sd, dataclasses.replace(CFG5, pc_depth=1))
