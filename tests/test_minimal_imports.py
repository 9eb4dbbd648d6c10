"""The model, the fold trainer, export (its loader included) and the benchmarks import
with jax, flax, optax and numpy alone: TFDS only where records are read or built,
ml_collections only where config files are parsed, TensorFlow nowhere."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCKED = ("tensorflow_datasets", "ml_collections", "tensorflow")
MODULES = (
    "mmnet_jax.models",
    "mmnet_jax.training.fold_trainer",
    "mmnet_jax.training.recipe",
    "mmnet_jax.inference.export",
    "mmnet_jax.data.records",
    "benchmarks.bench",
    "benchmarks.run",
    "benchmarks.accelerator_check",
)
MARKER = "MINIMAL-IMPORTS-OK"

# One subprocess: a finder at the front of sys.meta_path refuses the blocked packages
# (and names the module that asked for one), then every module imports and a tiny
# MMNet runs a forward pass.
SCRIPT = textwrap.dedent(
    f"""
    import importlib, sys, traceback

    BLOCKED = {BLOCKED!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                who = [f.filename for f in traceback.extract_stack() if {str(REPO)!r} in f.filename]
                raise ImportError(f"blocked import of {{name}} from {{' -> '.join(who)}}")
            return None

    sys.meta_path.insert(0, Blocker())
    for name in BLOCKED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"the blocker let {{name}} through")

    for module in {MODULES!r}:
        importlib.import_module(module)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED + ("orbax",))
    assert not leaked, leaked

    import jax
    import numpy as np
    from flax import nnx

    from mmnet_jax.inference import export
    from mmnet_jax.data.records import ClipArrays
    from mmnet_jax.models import MMNet, MMNetConfig
    from mmnet_jax.training import fold_trainer

    assert callable(export.load) and ClipArrays
    from benchmarks import bench
    assert bench.train_settings(8, 3).learning_rate == 8e-4
    assert fold_trainer.TrainSettings.official(3).epochs == 74

    config = MMNetConfig(
        num_classes=3, image_size=32, stem_width=8, widths=(8, 8, 16, 16),
        pc_embed_dim=16, pc_num_heads=2, pc_depth=1,
    )
    # Weights filled from NumPy (running the initialisers would compile each: slow).
    model = nnx.eval_shape(lambda: MMNet(config, rngs=nnx.Rngs(0)))
    rng = np.random.default_rng(0)
    fill = lambda x: jax.numpy.asarray(rng.uniform(0.5, 1.5, x.shape).astype(x.dtype))
    nnx.update(model, jax.tree.map(fill, nnx.state(model)))
    model.eval()
    frames = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    logits = np.asarray(nnx.jit(lambda m, a, b: m(a, b))(model, frames, frames))
    assert logits.shape == (2, 3) and np.isfinite(logits).all(), logits
    print({MARKER!r})
    """
)


def test_imports_without_tfds_ml_collections_tensorflow():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert MARKER in proc.stdout, (proc.stdout, proc.stderr[-4000:])
