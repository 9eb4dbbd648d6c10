"""``mmnet <command>``: the one front door (also ``python -m mmnet_jax <command>``).

    mmnet --help                 # the commands, one line each
    mmnet predict --help         # one command's example and flags

Each command is a module with ``main(argv) -> int``; this table names them, and this
package is the only part of mmnet_jax that may import every other (the data-flow layout
and its import rules: docs/layout.md, tests/test_layout.py).
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence

from mmnet_jax import cli

# name -> (module with main(argv), one line for `mmnet --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("mmnet_jax.data.prepare", "build a dataset's TFDS records from its release folder"),
    "train": ("mmnet_jax.commands.train", "train every LOSO fold of a config (as python train.py)"),
    "predict": ("mmnet_jax.inference.predict", "classify onset/apex pairs, clips or videos"),
    "export": ("mmnet_jax.inference.export", "write a trained model as one jax.export file"),
    "explain": ("mmnet_jax.inference.explain", "draw a trained MMNet's attention maps"),
    "convert": ("mmnet_jax.inference.convert", "official PyTorch weights -> a model directory"),
    "flow": ("mmnet_jax.inference.flow", "onset-to-apex optical flow and strain (TV-L1)"),
    "evaluate": (
        "mmnet_jax.commands.evaluate",
        "score a workdir's LOSO fold models on a prepared dataset",
    ),
    "spot": ("mmnet_jax.inference.spot", "spot micro- and macro-expressions in a long video"),
    "report": ("mmnet_jax.reporting.report", "(re)write a finished run's report.md"),
    "compare": ("mmnet_jax.reporting.compare", "one table of several runs, paired intervals"),
    "evaluate-spotting": ("mmnet_jax.reporting.evaluate_spotting", "spotting and STRS scores"),
    "recompute": (
        "mmnet_jax.reporting.recompute",
        "recompute a run's figures from its npz, check results.json",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: mmnet <command> [flags]   (or: python -m mmnet_jax <command> [flags])",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {line}" for name, (_, line) in COMMANDS.items()]
    lines += [
        "",
        "mmnet <command> --help shows the command's example and flags.",
        "",
        cli.EXIT_TABLE,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``argv[0]``'s command with the rest; returns its exit status. Called without
    ``argv`` (the console script), ``train`` first restarts the process once with huge
    pages (``hugepages.reexec``); called with ``argv`` (in-process), never."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in (*cli.HELP_FLAGS, "help"):
        print(usage())
        return cli.EXIT_OK if argv else cli.EXIT_USER_ERROR
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(
            cli.error_line(f"unknown command {name!r}{hint}; known: {', '.join(COMMANDS)}"),
            file=sys.stderr,
        )
        return cli.EXIT_USER_ERROR
    if name == "train" and from_command_line:
        from mmnet_jax.training import hugepages  # noqa: PLC0415

        hugepages.reexec()  # once, before JAX allocates anything (see hugepages.py)
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)
