"""mmnet_jax: MMNet micro-expression recognition in JAX/Flax NNX."""

__version__ = "0.2.0"
