"""Metrics and results: pure NumPy (no JAX, no files). ``metrics`` defines accuracy,
UF1 and UAR; ``results`` turns a run's progress into the results.json schema."""
