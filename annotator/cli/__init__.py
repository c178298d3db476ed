"""Headless commands over the same core as the GUI: ``python main.py COMMAND ...``.

Each command lives in its own module that defines ``register(subparsers) -> None``: it adds its parser and sets
``func`` (``Callable[[argparse.Namespace], int]``) with ``set_defaults``. Errors a user can act on are printed as
one line on stderr with exit status 2; a traceback is never shown for them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# One module per command (or group of sub-commands).
COMMAND_MODULES: tuple[str, ...] = (
    "annotator.cli.export_cmd",
    "annotator.cli.import_cmd",
    "annotator.cli.bench_cmd",
    "annotator.cli.auto_cmd",
    "annotator.cli.models_cmd",
    "annotator.cli.encode_cmd",
    "annotator.cli.propagate_cmd",
)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="SAM annotator: headless commands.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def command_names() -> set[str]:
    """Names of the sub-commands this build offers."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    from sam_model.errors import SamModelError

    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except (CliError, SamModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
