"""Train every LOSO fold of a config: ``python train.py --config CONFIG --workdir DIR``.

The same as ``mmnet train ...`` (:mod:`mmnet_jax.commands.train` says more; ``--help``
shows it).
"""

import sys

from mmnet_jax.training import hugepages

if __name__ == "__main__":
    hugepages.reexec()  # once, before JAX allocates anything (see hugepages.py)

from mmnet_jax.commands import train  # noqa: E402

if __name__ == "__main__":
    sys.exit(train.main())
