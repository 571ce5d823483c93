"""The `ezvtb-node` command line: a thin layer over the Python API.

Each area of the package contributes its own sub-commands through a
``register(subparsers)`` function in its ``commands`` module, so this file only
wires them together.
"""

from __future__ import annotations

import _thread
import argparse
import importlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from ezvtb_node import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "ezvtb_node.core.commands",
    "ezvtb_node.core.cacher.commands",
    "ezvtb_node.doctor.commands",
    "ezvtb_node.inputs.commands",
    "ezvtb_node.inputs.voice.commands",
    "ezvtb_node.mapping.commands",
    "ezvtb_node.outputs.commands",
    "ezvtb_node.app.commands",
)

PIPE_CLOSED = 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)


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


class StdoutGuard:
    """sys.stdout while a command runs: when its reader goes away (``| head -1``), the command ends.

    A write or flush that meets a closed pipe, on any thread, points the stdout descriptor at
    os.devnull (the Python docs' advice in the signal module's "Note on SIGPIPE": the flush at exit
    must not fail again) and interrupts the main thread once, so the command stops as on Ctrl+C and
    closes what it opened. SIGPIPE itself stays ignored: the node's sockets must not kill it.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._main_running = True
        self.reader_gone = threading.Event()

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._on_reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._on_reader_gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _on_reader_gone(self) -> None:
        with self._lock:
            if self.reader_gone.is_set():
                return
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass  # not a real descriptor (a test's capture): nothing will flush it at exit
            if self._main_running:
                _thread.interrupt_main()
            self.reader_gone.set()

    def main_finished(self) -> None:
        """No interrupt may be sent after this (one sent before arrives at the main thread's next call)."""
        with self._lock:
            self._main_running = False


class UserError(Exception):
    """An error caused by input or environment that the user can fix; printed without a traceback."""


def _one_line(exc: Exception) -> str:
    """The error for the user: the path and the OS's words for a failed file operation, else the message."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


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
    # pythonw and OBS-launched scripts have no stdout (None): print() skips it, so nothing to guard.
    guard = StdoutGuard(sys.stdout if sys.stdout is not None else open(os.devnull, "w"))  # noqa: SIM115
    real_stdout, sys.stdout = sys.stdout, guard  # type: ignore[assignment]  # writes through to the stream
    try:
        try:
            code = int(args.handler(args) or 0)
        finally:
            guard.main_finished()
        return PIPE_CLOSED if guard.reader_gone.is_set() else code
    except (UserError, ValueError, OSError, RuntimeError) as exc:
        print(f"ezvtb-node {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return PIPE_CLOSED if guard.reader_gone.is_set() else 130
    finally:
        sys.stdout = real_stdout


if __name__ == "__main__":
    sys.exit(main())
