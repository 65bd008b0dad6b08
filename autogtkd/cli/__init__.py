"""The ``autogtkd`` command line: a thin layer over the Python API.

Each sub-command lives in ``autogtkd/cli/_<name>.py`` and defines ``register(subparsers)``, which adds
its parser and sets ``func`` (a callable ``(args) -> int``). :func:`main` turns every
:class:`~autogtkd.exceptions.AutoGTKDError` into one line on stderr and its exit code (2: invalid
input, 1: a valid run failed); tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from autogtkd import __version__
from autogtkd.exceptions import AutoGTKDError

__all__ = ["build_parser", "main"]

# Sub-command modules, in the order --help lists them.
COMMANDS: tuple[str, ...] = ("_spaces", "_latency", "_export", "_train", "_search", "_pareto", "_distill", "_evaluate")

DESCRIPTION = """\
Hardware-aware neural architecture search with a generic, KD-aware teacher (GTN).

FLOPs in autogtkd are multiply-accumulates (MACs), as in fvcore, Once-for-All and NAS papers:
"300MFLOPs" and "300MMACs" mean the same budget. Accuracy is a fraction in files, a percentage in
tables. Latency is the median in milliseconds at batch 1 unless stated.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line error (argparse's own usage dump is kept short)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = _Parser(prog="autogtkd", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"autogtkd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"autogtkd.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 a run failed, 2 invalid input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except AutoGTKDError as exc:
        if args.debug:
            raise
        print(f"autogtkd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("autogtkd: interrupted; completed work is saved", file=sys.stderr)
        return 130
    except OSError as exc:
        if args.debug:
            raise
        print(f"autogtkd: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
