"""``mmnet evaluate``: score a workdir's LOSO fold models on a prepared dataset.

    mmnet convert --model ststnet --weights STSTNet_Weights --out runs/ststnet_release \\
        --class_names negative,positive,surprise
    mmnet evaluate --workdir runs/ststnet_release --dataset flow_images/3class

Each fold model (the one that left subject S out: a training run's, or one converted
from official per-subject weights) predicts its own subject's clips of the dataset; the
predictions are pooled and scored as a training run's are (accuracy, UF1, UAR, per class,
per fold, per source, the bootstrap interval), and ``results.json``,
``predictions.csv``, ``epoch_predictions.npz`` and ``report.md`` are written to
``--out``: by default the workdir itself when it holds no results yet (a converted one),
else ``WORKDIR/evaluate_<dataset>`` (a training run's own results stay). No training, no
epoch selection: each model is scored as it is.

Classes are matched by name (the model's class names, e.g. ``convert --class_names``,
against the dataset's); a model of ``class_<i>`` names is read in the dataset's order.
The dataset's subjects must be the workdir's (a subject without a fold model is named).
For a training run's workdir the data section defaults to the run's own (``--dataset``
and ``--data_dir`` override it).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence

import ml_collections
import numpy as np
from absl import flags
from etils import epath

from mmnet_jax import cli
from mmnet_jax import workdir as workdir_files
from mmnet_jax.data import records as data_lib
from mmnet_jax.evaluation import results
from mmnet_jax.evaluation.clips import ClipTable
from mmnet_jax.inference import predict
from mmnet_jax.models import registry
from mmnet_jax.reporting import report
from mmnet_jax.training import checkpoints, folds
from mmnet_jax.vision import flow as flow_lib

log = logging.getLogger(__name__)

# The data section a converted workdir (no run config) is read with; a training run's
# own section replaces it.
DATA_DEFAULTS = {
    "name": "",
    "builder_config": "",
    "data_dir": "",
    "image_size": 224,
    "prepared_image_size": 224,
    "frames_per_side": 5,
    "flow_size": 28,
    "prepared_flow_size": 0,
    "synthetic_seed": 0,
    "synthetic_subjects": 8,
    "synthetic_clips": 15,
}


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("workdir", None, "a workdir of LOSO fold models; required", flag_values=fv)
    flags.DEFINE_string(
        "dataset", None, "prepared dataset NAME[/CONFIG] (default: the run's own)", flag_values=fv
    )
    flags.DEFINE_string("data_dir", None, "TFDS data_dir of the prepared records", flag_values=fv)
    flags.DEFINE_integer(
        "prepared_flow_size", None, "the --flow size the records were prepared with",
        flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_string(
        "out", None, "where the results go (default: the workdir, or WORKDIR/evaluate_<dataset> "
        "when it holds a run's results)", flag_values=fv,
    )  # fmt: skip


def data_section(resolved: dict, fv: flags.FlagValues) -> ml_collections.ConfigDict:
    """The data section to load: the run's own, else the defaults; flags override."""
    data = dict(DATA_DEFAULTS)
    data.update(resolved.get("run_config", {}).get("data", {}))
    if fv.dataset:
        name, _, config = fv.dataset.partition("/")
        data["name"], data["builder_config"] = name, config
    if fv.data_dir is not None:
        data["data_dir"] = fv.data_dir
    if fv.prepared_flow_size is not None:
        data["prepared_flow_size"] = fv.prepared_flow_size
    if not data["name"]:
        cli.fail(
            f"{fv.workdir} holds no run config naming its dataset: give --dataset NAME[/CONFIG]"
        )
    return ml_collections.ConfigDict(data)


def class_map(model_names: Sequence[str], data_names: Sequence[str]) -> np.ndarray:
    """For each model output, the dataset label it is (-1: a class the dataset lacks).

    Raises:
      ValueError: a dataset class no output predicts.
    """
    model_names, data_names = list(model_names), list(data_names)
    generic = [f"class_{i}" for i in range(len(model_names))]
    if model_names == generic and len(model_names) >= len(data_names):
        return np.asarray([i if i < len(data_names) else -1 for i in range(len(model_names))])
    out = np.asarray([data_names.index(n) if n in data_names else -1 for n in model_names])
    missing = [n for n in data_names if n not in model_names]
    if missing:
        raise ValueError(
            f"the dataset's classes {missing} are not among the model's {model_names} "
            "(convert with --class_names in the model's output order)"
        )
    return out


def default_out(workdir: str | os.PathLike, data_cfg: ml_collections.ConfigDict) -> epath.Path:
    """The workdir itself when it holds no results.json, else ``WORKDIR/evaluate_<name>``."""
    wd = epath.Path(workdir)
    if not (wd / workdir_files.RESULTS).exists():
        return wd
    name = "_".join(filter(None, (data_cfg.name, data_cfg.get("builder_config", ""))))
    return wd / f"evaluate_{name}"


def _model_data(resolved: dict, data_cfg: ml_collections.ConfigDict):
    """The fold models' config and the dataset, made ready for them: the flow at the
    models' size, or the frames resized to it."""
    config = registry.config_from(resolved)
    spec = registry.of_config(config)
    data = data_lib.load(data_cfg)
    if "flow" in spec.inputs:
        return config, data.with_flow(config.image_size)
    data.input_size(spec.inputs)  # frames needed: refuses records of flow alone
    return config, data.resized(config.image_size)


def _check_subjects(data, subjects: list[str], wd: epath.Path) -> list[str]:
    """The dataset's subjects, each of which must have a fold model."""
    have = sorted(set(data.subjects.tolist()))
    lacking = [s for s in have if s not in subjects]
    if lacking:
        raise ValueError(
            f"{data.dataset}: subjects {lacking} have no fold model in {wd} "
            f"(its folds: {', '.join(subjects)})"
        )
    unknown = [s for s in subjects if s not in have]
    if unknown:
        log.info("fold models of subjects not in %s (not scored): %s", data.dataset, unknown)
    return have


def _fold_probabilities(model, data, idx: np.ndarray, to_label: np.ndarray) -> np.ndarray:
    """One fold model's class probabilities (clips ``idx``) over the dataset's labels."""
    if "flow" in registry.of_model(model).inputs:
        x = flow_lib.model_input(data.flow[idx]).astype(np.float32)
        logits = predict.logits_of(model, None, None, flow=x)
    else:
        logits = predict.logits_of(model, data.onset_frames[idx, 0], data.apex_frames[idx, 0])
    probs = results.probabilities(logits[:, to_label >= 0])  # the dataset's classes only
    out = np.zeros((len(idx), len(data.class_names)), np.float32)
    out[:, to_label[to_label >= 0]] = probs
    return out


def _write(dest: epath.Path, wd: epath.Path, summary: dict, progress, plan, clips) -> None:
    """The run's output files in ``dest`` (with the models' config.json when elsewhere,
    which the report reads), and its report."""
    dest.mkdir(parents=True, exist_ok=True)
    if dest != wd:
        (dest / workdir_files.CONFIG).write_text((wd / workdir_files.CONFIG).read_text())
    (dest / workdir_files.RESULTS).write_text(json.dumps(summary, indent=2, sort_keys=True))
    rows = results.prediction_rows(progress, plan, clips, 1)
    (dest / workdir_files.PREDICTIONS).write_text(results.predictions_csv(rows))
    arrays = results.epoch_predictions(progress, plan, clips, 1)
    (dest / workdir_files.EPOCH_PREDICTIONS).write_bytes(results.npz_bytes(arrays))
    report.report_workdir(dest)


def evaluate(
    workdir: str | os.PathLike,
    data_cfg: ml_collections.ConfigDict,
    out: str | os.PathLike | None = None,
) -> dict:
    """Score every fold model of ``workdir`` on its subject's clips of the dataset
    ``data_cfg`` names; writes the run's output files to ``out`` (default:
    :func:`default_out`) and returns results.json's dict (and ``out``).

    Raises:
      ValueError, FileNotFoundError, DatasetError: the workdir, dataset or classes do
        not fit (the message says how).
    """
    wd = epath.Path(workdir)
    cfg_file = wd / workdir_files.CONFIG
    if not cfg_file.exists():
        raise FileNotFoundError(f"{wd} is not a workdir of fold models: {cfg_file} is missing")
    resolved = json.loads(cfg_file.read_text())
    config, data = _model_data(resolved, data_cfg)
    have = _check_subjects(data, list(resolved["data"]["subjects"]), wd)
    names = resolved["data"].get("class_names") or [f"class_{i}" for i in range(config.num_classes)]
    to_label = class_map(names, data.class_names)
    plan = folds.make_plan(data.subjects, only=have)
    progress = results.Progress(groups=[list(range(plan.num_folds))], epochs=1)
    for f, s in enumerate(plan.subjects):
        model, _ = checkpoints.load_fold_model(wd, s)
        probs = _fold_probabilities(model, data, np.flatnonzero(plan.test_mask[f]), to_label)
        progress.record(s, 0, 0.0, 0.0, test_preds=probs.argmax(1), test_probs=probs)
    seed = int(resolved.get("run_config", {}).get("seed", 0))
    clips = ClipTable.of(data)
    summary = results.summarize(
        progress, plan, clips, eval_epoch=1, epochs=1, seed=seed,
        replicas=folds.Replicas.one_seed(plan, seed),
    )  # fmt: skip
    summary["protocol"] = (
        f"leave-one-subject-out over {plan.num_folds} subjects: each fold model of the "
        f"workdir ({resolved.get('source') or 'trained LOSO'}) predicts its own subject's "
        f"clips of {data.dataset}; metrics over the pooled predictions; no training, no "
        "epoch selection"
    )
    dest = epath.Path(out) if out is not None else default_out(wd, data_cfg)
    _write(dest, wd, summary, progress, plan, clips)
    return {**summary, "out": os.fspath(dest)}


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if not fv.workdir:
        cli.fail("--workdir is required: a workdir of LOSO fold models")
    cfg_file = os.path.join(fv.workdir, workdir_files.CONFIG)
    if not os.path.isfile(cfg_file):
        cli.fail(f"--workdir {fv.workdir}: {cfg_file} is missing (not a workdir of fold models)")
    with open(cfg_file) as fh:
        resolved = json.load(fh)
    data_cfg = data_section(resolved, fv)
    try:
        summary = evaluate(fv.workdir, data_cfg, fv.out)
    except (ValueError, FileNotFoundError, data_lib.DatasetError) as e:
        cli.fail(str(e))
    print(
        f"{summary['dataset']}: {summary['num_subjects']} folds, {summary['num_samples']} clips: "
        f"accuracy {summary['accuracy']:.4f}, UF1 {summary['uf1']:.4f}, UAR {summary['uar']:.4f} "
        f"(results.json, predictions.csv, report.md in {summary['out']})"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 done, 2 a user mistake)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
