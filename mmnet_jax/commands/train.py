"""Train MMNet leave-one-subject-out on a dataset config; write metrics, results, a report.

Example (the synthetic demo, a few minutes on a laptop CPU)::

    mmnet train --config configs/synthetic.py --workdir runs/synthetic
    python train.py --config configs/synthetic.py --workdir runs/synthetic   # the same

A config file takes arguments after a colon (``configs/casme2.py:classes=3,runlocal``;
``runlocal`` shrinks any config to a few-minute run), and every config field can be
overridden: ``--config.train.epochs=10``. Rerunning the same command resumes the run.
What the workdir holds: docs/outputs.md.

Several hosts (``--config.distributed=True``): the same command on every host; see the
docs/hosts.md.

Exit status: 0 done; 2 a user mistake (one ``error:`` line); 1 the loss became NaN or
infinite (one ``error:`` line naming the fold, epoch and step); 3 another process of a
several-host run was lost or failed (one ``error:`` line naming it); 130 interrupted
(``mmnet --help`` has the whole table).
"""

import difflib
import importlib.util
import logging
import os
import re
import sys
import traceback

from absl import flags
from ml_collections import config_flags

from mmnet_jax import cli

EXIT_NONFINITE = cli.EXIT_RUN_FAILED
# Loggers that speak at INFO about things a user need not read.
_QUIET = (
    "absl",  # Orbax and TFDS log every file operation through absl
    "jax._src.xla_bridge",  # "Unable to initialize backend 'tpu'" on every machine without one
)


def _define(fv: flags.FlagValues) -> None:
    config_flags.DEFINE_config_file(
        "config", None, "Run config file (configs/*.py[:args]).", flag_values=fv
    )
    flags.DEFINE_string("workdir", None, "Where checkpoints and results go.", flag_values=fv)
    flags.mark_flags_as_required(["config", "workdir"], flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    config, workdir = fv["config"].value, fv.workdir
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname).1s%(asctime)s %(filename)s:%(lineno)d] %(message)s",
        datefmt="%m%d %H:%M:%S",
        force=True,
    )
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)

    import jax  # noqa: PLC0415 - after the cheap checks: importing JAX takes seconds

    from mmnet_jax.data import records as data_lib  # noqa: PLC0415
    from mmnet_jax.reporting import report  # noqa: PLC0415
    from mmnet_jax.training import distributed, trainer  # noqa: PLC0415

    cache = config.get("compilation_cache_dir", "")
    if cache and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        # Reruns (seeds, ablations, resumptions) skip recompiling identical programs.
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(cache))
    user_errors = (
        trainer.RunConfigError,
        trainer.FoldGroupTooLarge,  # its message names --config.folds.group_size to try
        data_lib.DatasetError,
        distributed.PeerMismatch,
        distributed.DistributedSetupError,
    )
    # One of several processes ends through distributed.abort (it tells the peers, whose
    # watchdogs then stop them too, and skips a shutdown barrier no peer would reach).
    try:
        results = trainer.train_and_evaluate(config, workdir)
    except user_errors as e:
        if distributed.active():
            distributed.abort(cli.error_line(cli.one_line(e)), cli.EXIT_USER_ERROR)
        cli.fail(cli.one_line(e))
    except trainer.NonFiniteLossError as e:
        if distributed.active():
            distributed.abort(cli.error_line(cli.one_line(e)), EXIT_NONFINITE)
        print(cli.error_line(cli.one_line(e)), file=sys.stderr)
        return EXIT_NONFINITE
    except KeyboardInterrupt:
        if distributed.active():
            distributed.abort("interrupted", cli.EXIT_INTERRUPTED)
        raise
    except Exception as e:
        if distributed.active():
            line = cli.error_line(f"{type(e).__name__}: {cli.one_line(e)}")
            distributed.abort(line, 1, detail=traceback.format_exc())
        raise
    if jax.process_index() == 0 and config.get("report", True):
        report.report_workdir(workdir)  # from the files the run wrote
    if jax.process_index() != 0:
        print(
            f"process {jax.process_index()} of {jax.process_count()}: done; process 0 "
            f"wrote the results in {workdir}"
        )
        return cli.EXIT_OK
    print(
        f"LOSO at epoch {results['eval_epoch']}: accuracy {results['accuracy']:.4f}, "
        f"UF1 {results['uf1']:.4f}, UAR {results['uar']:.4f}  "
        f"[{results['optimistic']['label']}: UF1 {results['optimistic']['uf1']:.4f}]"
    )
    print(f"results: {workdir}/results.json, report: {workdir}/report.md")
    return cli.EXIT_OK


def _config_spec(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.removeprefix("--config=")
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _check_config(argv: list[str]) -> None:
    """The config file and the ``--config.a.b=v`` fields, checked before absl parses them
    (ml_collections answers a missing file or an unknown field with tracebacks).

    Raises:
      cli.UserError: the file is missing, its ``get_config`` fails, or a field is unknown.
    """
    spec = _config_spec(argv)
    if spec is None:
        return  # absl names the missing required flag
    path, colon, arg = spec.partition(":")
    if not os.path.isfile(path):
        cli.fail(f"--config {path}: no such config file (see configs/)")
    try:
        module_spec = importlib.util.spec_from_file_location("_train_config", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        config = module.get_config(arg) if colon else module.get_config()
    except Exception as e:  # noqa: BLE001 - any failure of the user's config is reported
        cli.fail(f"--config {spec}: {cli.one_line(e)}")
    for a in argv:
        m = re.match(r"--config\.([^=]+)", a)
        if not m:
            continue
        node, done = config, []
        for part in re.sub(r"\[[^]]*\]", "", m.group(1)).split("."):
            keys = list(node.keys()) if hasattr(node, "keys") else []
            if part not in keys:
                where = ".".join(done) or "the config"
                close = difflib.get_close_matches(part, keys, n=1)
                hint = f" (did you mean {'.'.join([*done, close[0]])}?)" if close else ""
                cli.fail(f"--config.{m.group(1)}: {where} has no field {part!r}{hint}")
            node, done = node[part], [*done, part]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not any(a in cli.HELP_FLAGS for a in argv):
        try:
            _check_config(argv)
        except cli.UserError as e:
            print(cli.error_line(e), file=sys.stderr)
            return cli.EXIT_USER_ERROR
    return cli.run(__doc__, _define, _body, argv)
