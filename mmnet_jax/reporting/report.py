"""``write_report``: ``report.md`` and its PNGs for a LOSO run, in its workdir.

The ``train`` command calls it at the end of a run (``report_workdir``: from the files
the run wrote); to rewrite the report of a finished run::

    mmnet report --workdir WORKDIR

What the report holds: docs/outputs.md ("report.md"); the metrics: docs/training.md.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from absl import flags
from etils import epath

from mmnet_jax import cli
from mmnet_jax import workdir as workdir_files
from mmnet_jax.reporting import figures, markdown


def write_report(
    workdir: str | os.PathLike,
    results: dict[str, Any],
    resolved_config: dict[str, Any],
    run_info: dict[str, Any],
) -> epath.Path:
    """Write ``report.md`` and its figures in ``workdir``; returns the report's path.

    Args:
      workdir: the run's directory, local or remote (``gs://...``): an
        ``etils.epath.Path``, ``pathlib.Path`` or ``str``. Every file goes through epath.
      results: the dict of ``results.json``.
      resolved_config: the dict of ``config.json``.
      run_info: the dict of ``run_info.json`` (``command``, ``commit`` and ``date`` are
        shown when present).
    """
    wd = epath.Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    pictures = figures.write_figures(wd, results)
    final = _final_model(wd, resolved_config)
    text = markdown.markdown(results, resolved_config, run_info, pictures, final)
    path = wd / workdir_files.REPORT
    path.write_text(text)
    return path


def report_workdir(workdir: str | os.PathLike, read=None) -> epath.Path:
    """``write_report`` from the files a finished run wrote in ``workdir`` (results.json,
    config.json, run_info.json when present); ``read`` reads one JSON file (default:
    ``json.loads`` of its text)."""
    read = read or (lambda path: json.loads(path.read_text()))
    wd = epath.Path(workdir)
    info_file = wd / workdir_files.RUN_INFO
    info = read(info_file) if info_file.exists() else {}
    return write_report(wd, read(wd / workdir_files.RESULTS), read(wd / workdir_files.CONFIG), info)


def _final_model(wd: epath.Path, resolved: dict) -> dict | None:
    """Where the all-subjects model is and what its ``model.json`` says, when the config
    asks for one (``final_model``) or the workdir holds one; else None."""
    path = wd / workdir_files.FINAL_MODEL
    asked = bool(resolved.get("run_config", {}).get("final_model"))
    exists = path.exists()
    if not (asked or exists):
        return None
    meta = {}
    try:
        meta = json.loads((path / "model.json").read_text())
    except (OSError, ValueError):
        pass
    return {"path": os.fspath(path), "exists": exists, "meta": meta}


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string(
        "workdir", None, "a finished run's workdir (local or gs://...)", flag_values=fv
    )


def _read_json(path: epath.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        cli.fail(f"{path} is missing: is the workdir a finished run?")
    except (OSError, ValueError) as e:
        cli.fail(f"{path} cannot be read: {e}")


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    workdir = fv.workdir
    if positional and workdir is None:  # the documented form: mmnet report WORKDIR
        workdir, positional = positional[0], positional[1:]
    cli.no_positional(positional)
    if not workdir:
        cli.fail("give the run's workdir: --workdir WORKDIR (see --help)")
    wd = epath.Path(workdir)
    if not wd.is_dir():
        cli.fail(f"workdir {workdir} is not a folder")
    print(report_workdir(wd, read=_read_json))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``mmnet report --workdir WORKDIR`` (or ``... report WORKDIR``)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
