"""``python -m mmnet_jax <command>``: the same as ``mmnet <command>``."""

import sys

from mmnet_jax.commands import main

if __name__ == "__main__":
    sys.exit(main())
