"""Every file a training run writes in its workdir, named once.

=========================  ============================================================
``CONFIG``                 config.json: the run config and what it resolved to
``CHECKPOINTS``            checkpoints/: Orbax checkpoints (fold states and progress)
``METRICS``                metrics.jsonl: one line per model and epoch
``TENSORBOARD``            tensorboard/: the same scalars as TensorBoard event files
``RESULTS``                results.json: honest metrics (the schema: docs/outputs.md)
``PREDICTIONS``            predictions.csv: each test clip's prediction at its epoch
``EPOCH_PREDICTIONS``      epoch_predictions.npz: every epoch's predictions and
                           probabilities
``RUN_INFO``               run_info.json: time, compile times, devices, command, commit
``FINAL_MODEL``            final_model/: the all-subjects model (a model directory)
``REPORT``                 report.md (and its figures, ``*.png``)
=========================  ============================================================
"""

CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
RESULTS = "results.json"
PREDICTIONS = "predictions.csv"
EPOCH_PREDICTIONS = "epoch_predictions.npz"
RUN_INFO = "run_info.json"
FINAL_MODEL = "final_model"
REPORT = "report.md"
