"""Test-session setup: one persistent XLA compilation cache for the whole session.

Several tests compile the same programs (a run and its resumption in subprocesses,
builders and loaders); the cache makes each compile once. Subprocesses inherit it
through the environment.
"""

import os
import tempfile

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="mmnet_jax_xla_"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
