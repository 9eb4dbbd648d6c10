"""One command-line style for every mmnet_jax command.

Every command (``mmnet <command>``, ``train.py``, the benchmarks) parses absl flags
spelled with underscores (``--data_dir``; a dashed spelling of a defined flag is accepted
too), prints its module docstring (which carries an example) and its flags for
``--help``, and exits with one of the statuses of ``EXIT_TABLE`` (no two meanings share
a code): a user mistake (bad path, bad value, unknown flag) is one line ``error: ...``
on stderr that names the path, field or flag, and no traceback.

Each command defines its flags on a :class:`absl.flags.FlagValues` of its own (never the
global ``FLAGS``), so several commands can run in one process (tests do).
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import flags

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # the training loss became NaN or infinite
EXIT_USER_ERROR = 2
EXIT_PEER_LOST = 3  # another process of a several-host run was lost or failed
EXIT_BAD_CLIP = 4  # prepare --strict stopped at a bad clip
EXIT_MISMATCH = 5  # recompute: a figure of results.json disagrees with the npz
EXIT_INTERRUPTED = 130
EXIT_TABLE = """exit status:
  0    done
  1    the run failed: a training loss became NaN or infinite (the fold, epoch, step named)
  2    a user mistake: one error: line naming the path, field or flag
  3    another process of a several-host run was lost or failed (named)
  4    prepare --strict stopped at a bad clip (named)
  5    recompute: a figure of results.json disagrees with epoch_predictions.npz
  130  interrupted (Ctrl-C)"""

HELP_FLAGS = ("--help", "-h", "--helpfull", "-?", "--helpshort")


class UserError(Exception):
    """A problem with what the user gave: printed as ``error: <message>``, exit status 2."""


def fail(message: str) -> NoReturn:
    """Stop the command with a user error (see :class:`UserError`)."""
    raise UserError(message)


def note(message: str) -> None:
    """A note for the user (a conversion, a fallback): one line on stderr."""
    print(f"note: {message}", file=sys.stderr)


def one_line(e: BaseException) -> str:
    """An exception's message on one line (whitespace runs, newlines included, become one
    space), or its type's name when it has none."""
    return " ".join(str(e).split()) or type(e).__name__


def error_line(message: object) -> str:
    """The one line printed for a user error: the first line of the message, prefixed."""
    text = str(message).strip() or type(message).__name__
    return f"error: {text}"


def _undash(argv: Sequence[str], fv: flags.FlagValues) -> list[str]:
    """``--data-dir=x`` -> ``--data_dir=x`` where ``data_dir`` is a defined flag, and
    ``--no_face_crop`` -> ``--noface_crop`` for a boolean ``face_crop``."""
    out = []
    for arg in argv:
        if arg.startswith("--") and arg != "--":
            name, eq, value = arg[2:].partition("=")
            fixed = name.replace("-", "_")
            if fixed not in fv and fixed.startswith("no_") and fixed[3:] in fv:
                fixed = "no" + fixed[3:]
            bare = fixed[2:] if fixed.startswith("no") else fixed
            if fixed in fv or bare in fv:
                arg = f"--{fixed}{eq}{value}"
        out.append(arg)
    return out


def help_text(doc: str, fv: flags.FlagValues) -> str:
    """What ``--help`` prints: the command's docstring, then its flags."""
    # absl heads each module's flags with the module's file path: drop those lines.
    lines = fv.get_help(include_special_flags=False).splitlines()
    listing = "\n".join(line for line in lines if line.startswith(" ")).strip("\n")
    return f"{textwrap.dedent(doc).strip()}\n\nflags:\n{listing}\n"


def parse(doc: str, fv: flags.FlagValues, argv: Sequence[str]) -> list[str] | None:
    """Parse ``argv`` (without the program name) into ``fv``.

    Returns the positional arguments, or None when help was printed.

    Raises:
      UserError: an unknown flag, a bad value or a missing required flag.
    """
    argv = list(argv)
    if any(a in HELP_FLAGS for a in argv):
        sys.stdout.write(help_text(doc, fv))
        return None
    try:
        return fv(["prog", *_undash(argv, fv)])[1:]
    except flags.Error as e:
        raise UserError(f"{e} (see --help)") from None


def run(
    doc: str,
    define: Callable[[flags.FlagValues], None],
    body: Callable[[flags.FlagValues, list[str]], int | None],
    argv: Sequence[str] | None = None,
) -> int:
    """Define a command's flags, parse ``argv`` and run ``body(flag_values, positional)``.

    Returns the exit status (see the module docstring); a :class:`UserError` raised by
    ``body`` becomes one ``error:`` line and status 2.
    """
    argv = sys.argv[1:] if argv is None else argv
    fv = flags.FlagValues()
    define(fv)
    try:
        positional = parse(doc, fv, argv)
        if positional is None:
            return EXIT_OK
        status = body(fv, positional)
    except UserError as e:
        print(error_line(e), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if status is None else int(status)


def no_positional(positional: Sequence[str]) -> None:
    """Refuse stray positional arguments (usually a flag missing its ``--``)."""
    if positional:
        fail(f"unexpected arguments: {' '.join(positional)} (flags start with --; see --help)")
