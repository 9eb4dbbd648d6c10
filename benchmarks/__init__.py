"""Speed benchmarks of mmnet_jax: ``python benchmarks/run.py [--quick]`` (see README.md)."""
