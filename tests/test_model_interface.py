"""A second model through the same code as MMNet: registered here, with other inputs (the
apex frame alone) and no BatchNorm, it trains LOSO with the real trainer, predicts with
``mmnet predict`` and exports with ``mmnet export``."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from mmnet_jax.inference import export, model_dir, predict
from mmnet_jax.models import registry
from mmnet_jax.training import trainer
from mmnet_jax.vision import frames
from tests import trainer_utils as tu


@dataclasses.dataclass(frozen=True)
class ApexLinearConfig:
    num_classes: int
    image_size: int
    pool: int = 4  # the apex frame averaged over pool x pool cells


class ApexLinear(nnx.Module):
    """Logits from the apex frame's mean colour in a coarse grid: one linear layer."""

    def __init__(self, config: ApexLinearConfig, rngs: nnx.Rngs):
        self.config = config
        self.head = nnx.Linear(config.pool * config.pool * 3, config.num_classes, rngs=rngs)

    def __call__(self, apex: jnp.ndarray) -> jnp.ndarray:
        b, s, p = apex.shape[0], apex.shape[1], self.config.pool
        cells = apex.reshape(b, p, s // p, p, s // p, 3).mean(axis=(2, 4))
        return self.head(cells.reshape(b, -1))


SPEC = registry.register(
    registry.ModelSpec(
        name="apex_linear",
        config_class=ApexLinearConfig,
        build=lambda config, rngs: ApexLinear(config, rngs),
        inputs=("apex",),
    )
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("apex_linear")
    overrides = {
        "data.image_size": 32,
        "data.synthetic_subjects": 3,
        "data.synthetic_clips": 4,
        "train.epochs": 3,
        "train.batch_size": 4,
        "progress_bar": False,
        "final_model": True,
    }
    config = tu.synthetic_config(root / "tfds", overrides)
    config.model = ml_collections.ConfigDict({"name": "apex_linear", "pool": 8})
    workdir = root / "run"
    return workdir, trainer.train_and_evaluate(config, workdir)


def test_it_trains_loso_through_the_trainer(run):
    workdir, res = run
    resolved = json.loads((workdir / "config.json").read_text())
    assert resolved["model"] == "apex_linear" and resolved["model_config"]["pool"] == 8
    assert res["num_subjects"] == 3 and res["epochs"] == 3 and 0 <= res["uf1"] <= 1
    assert len(res["per_fold"]) == 3
    model, meta = model_dir.load(workdir)  # the all-subjects model
    assert isinstance(model, ApexLinear) and meta["model"] == "apex_linear"
    fold, _ = model_dir.load(workdir, fold=resolved["data"]["subjects"][0])
    assert isinstance(fold, ApexLinear) and fold.config == model.config
    # No BatchNorm: its state is its parameters alone.
    assert jax.tree.leaves(nnx.state(model, nnx.BatchStat)) == []
    assert jax.tree.leaves(nnx.state(model, nnx.Param))


def test_predict_and_export_feed_it_the_apex_frame_only(run, tmp_path, capsys):
    workdir, _ = run
    model, _ = model_dir.load(workdir)
    rng = np.random.default_rng(0)
    onset, apex = (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2))
    for name, image in (("onset", onset), ("apex", apex)):
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    want = np.asarray(model(frames.normalize(apex[None])))[0]

    argv = [
        "--workdir",
        workdir,
        "--onset",
        tmp_path / "onset.png",
        "--apex",
        tmp_path / "apex.png",
    ]
    assert predict.main([str(a) for a in argv]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    probs = np.exp(want - want.max()) / np.exp(want - want.max()).sum()
    np.testing.assert_allclose(rec["probabilities"], probs, rtol=1e-5, atol=1e-6)

    out = tmp_path / "apex_linear.export.zip"
    assert export.main(["--workdir", str(workdir), "--out", str(out), "--platforms", "cpu"]) == 0
    loaded = export.load(out)
    assert loaded.input_names == ("apex",) and loaded.metadata["model"] == "apex_linear"
    np.testing.assert_allclose(np.asarray(loaded(apex[None]))[0], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"takes 1 inputs \(apex\), got 2"):
        loaded(onset[None], apex[None])


def test_an_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'nope'; known: .*apex_linear.*mmnet"):
        registry.get("nope")
    with pytest.raises(ValueError, match="inputs"):
        registry.ModelSpec("bad", ApexLinearConfig, lambda c, r: None, inputs=("depth",))
