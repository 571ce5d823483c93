"""The `ezvtb-node` command line: a thin layer over the Python API.

Each area of the package contributes its own sub-commands through a
``register(subparsers)`` function in its ``commands`` module, so this file only
wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence

from ezvtb_node import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "ezvtb_node.core.commands",
    "ezvtb_node.core.cacher.commands",
    "ezvtb_node.doctor.commands",
    "ezvtb_node.inputs.commands",
    "ezvtb_node.inputs.voice_commands",
    "ezvtb_node.mapping.commands",
    "ezvtb_node.outputs.commands",
    "ezvtb_node.app.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ezvtb-node",
        description="Real-time anime avatar node: face tracking in, THA3 frames out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


class UserError(Exception):
    """An error caused by input or environment that the user can fix; printed without a traceback."""


def _escape_what_the_output_cannot_encode() -> None:
    """On Windows a redirected stdout (``> file``, ``| clip``) gets the ANSI code page (cp1252,
    cp932) with strict errors (sys.stdout docs; UTF-8 mode is the default only from Python 3.15):
    a ✓ or a kana ended the command with UnicodeEncodeError and an empty file. Such characters are
    written as backslash escapes instead, as Python's stderr always does."""
    for stream in (sys.stdout, sys.stderr):
        strict = getattr(stream, "errors", None) == "strict"  # None under pythonw (no console)
        if strict and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _escape_what_the_output_cannot_encode()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # On the command line a warning is a message for the user, not a pointer into our source.
    warnings.formatwarning = lambda message, category, *_, **__: f"WARNING {category.__name__}: {message}\n"
    try:
        return int(args.handler(args) or 0)
    except (UserError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"ezvtb-node {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
