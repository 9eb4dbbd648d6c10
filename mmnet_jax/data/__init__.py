"""Records -> device arrays: reading prepared TFDS records (``records``), on-device
augmentation (``augment``) and the ``prepare`` command that builds the records."""
