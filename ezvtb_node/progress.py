"""Progress bars for long jobs (engine builds, cache warming): tqdm on stderr, silent when stderr is
not a console (CI logs, pipes, no console at all) or when the caller turns them off."""

from __future__ import annotations

import os
import sys
from typing import IO

from tqdm import tqdm


def has_console(stream: IO[str] | None) -> bool:
    """Whether ``stream`` is a console a bar or a redrawn line can use.

    pythonw and scripts that OBS starts have ``sys.stderr`` None. On Windows ``2>NUL`` gives a
    stream whose isatty() is true (NUL is a character device, and isatty asks only that) while
    os.get_terminal_size raises on it; a stream without a file descriptor that says it is a
    terminal (an IDE console, a test's stand-in) is taken at its word."""
    if stream is None or not stream.isatty():
        return False
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return True
    try:
        os.get_terminal_size(descriptor)
    except OSError:
        return False
    return True


def console_width(default: int = 120) -> int:
    """Columns of the console on stderr, or ``default`` when it has none to tell."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return default


def progress_bar(title: str, total: int | None, enabled: bool = True, unit: str = "step") -> tqdm:
    """A bar of ``total`` steps on stderr, drawn only on a console (see has_console)."""
    shown = enabled and has_console(sys.stderr)
    return tqdm(total=total, desc=title, unit=unit, disable=not shown, leave=True)
