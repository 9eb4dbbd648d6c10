"""Train MMNet leave-one-subject-out: ``python train.py --config CONFIG --workdir DIR``.

Every config field can be overridden, e.g. ``--config.train.epochs=10``. See configs/.
"""

import logging
import os

from mmnet_jax import hugepages

if __name__ == "__main__":
    hugepages.reexec()  # once, before JAX allocates anything (see mmnet_jax/hugepages.py)

import jax  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from mmnet_jax.training import trainer  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Run config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints and results go.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.getLogger().setLevel(logging.INFO)
    # Orbax and TFDS log every file operation at INFO through absl; keep warnings.
    logging.getLogger("absl").setLevel(logging.WARNING)
    cache = _CONFIG.value.get("compilation_cache_dir", "")
    if cache and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        # Reruns (seeds, ablations, resumptions) skip recompiling identical programs.
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(cache))
    results = trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    print(
        f"LOSO at epoch {results['eval_epoch']}: accuracy {results['accuracy']:.4f}, "
        f"UF1 {results['uf1']:.4f}, UAR {results['uar']:.4f}  "
        f"[{results['optimistic']['label']}: UF1 {results['optimistic']['uf1']:.4f}]"
    )
    print(f"results: {_WORKDIR.value}/results.json, report: {_WORKDIR.value}/report.md")


if __name__ == "__main__":
    app.run(main)
