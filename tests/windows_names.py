"""A pytest plugin that removes the POSIX-only names of `os` and `signal` before the suite is
collected, as a Windows Python lacks them (os docs, "Availability: Unix"; signal docs: Windows has
only SIGABRT, SIGFPE, SIGILL, SIGINT, SIGSEGV, SIGTERM and SIGBREAK), so that a module reaching for
one at import time (a skipif condition, a constant) fails here as it would on Windows.

    python -m pytest --collect-only -p tests.windows_names tests
"""

from __future__ import annotations

import os
import signal

WINDOWS_SIGNALS = {"SIGABRT", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM", "SIGBREAK"}
POSIX_ONLY_OS_NAMES = ("geteuid", "getuid", "getpgid", "killpg", "setsid", "fork")


def _posix_only_signals() -> list[str]:
    return [
        name
        for name in dir(signal)
        if name.startswith("SIG") and not name.startswith("SIG_") and name not in WINDOWS_SIGNALS
    ]


for _name in POSIX_ONLY_OS_NAMES:
    if hasattr(os, _name):
        delattr(os, _name)
for _name in _posix_only_signals():
    delattr(signal, _name)
