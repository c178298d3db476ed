"""Headless commands over the same core as the GUI: ``sam-annotator COMMAND ...`` (``python main.py COMMAND``).

Each command lives in its own module that defines ``register(subparsers) -> None``: it adds its parser and sets
``func`` (``Callable[[argparse.Namespace], int]``) with ``set_defaults``. The modules are listed, with their help
lines, in ``commands.py``; only the module of the command being run is imported (startup without torch for the
commands that do not need it). Errors a user can act on are printed as one line on stderr with exit status 2; a
traceback is never shown for them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from annotator.cli.commands import COMMANDS, command_names

__all__ = [
    "CliError",
    "build_parser",
    "command_names",
    "main",
    "non_negative_int",
    "positive_int",
    "unit_interval",
]


class CliError(Exception):
    """An error the user can act on; printed without a traceback."""


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1] (thresholds on IoU, scores and overlaps)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
        return value

    return parse


positive_int = _int_at_least(1)
non_negative_int = _int_at_least(0)


def build_parser(command: str | None = None, prog: str = "main.py") -> argparse.ArgumentParser:
    """The parser with ``command``'s module registered (``None``: every command's); the other commands get
    a placeholder with their help line, so ``--help`` lists them all without importing them."""
    parser = argparse.ArgumentParser(prog=prog, description="SAM annotator: headless commands.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(entry.module).register(subparsers)
        else:
            subparsers.add_parser(name, help=entry.help, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "main.py") -> int:
    """Run one command; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else "", prog)
    args = parser.parse_args(argv)
    from sam_model.errors import SamModelError

    try:
        return int(args.func(args) or 0)
    except (CliError, SamModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
