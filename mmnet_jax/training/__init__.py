"""Training: the fold plan (``folds``), the fold trainer, the run (``trainer``), checkpoints,
several hosts (``distributed``), the recipe; ``trainer.train_and_evaluate(config, workdir)``."""
