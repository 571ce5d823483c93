"""`py run.py test` on Windows must run the suite: the POSIX-only names of `os` and `signal` are
absent there, and one of them read at import time (a skipif condition) stopped the whole collection.
tests/windows_names.py removes them here before collection, as a Windows Python lacks them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collect(*plugin_args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *plugin_args,
            "tests",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def collected(output: str) -> int:
    found = re.search(r"(\d+) tests? collected", output)
    assert found, output[-3000:]
    return int(found.group(1))


def test_the_plugin_removes_the_names_a_windows_python_lacks():
    probe = (
        "import tests.windows_names, os, signal;"
        "print(sorted(n for n in ('geteuid', 'fork', 'killpg') if hasattr(os, n)),"
        " sorted(n for n in ('SIGKILL', 'SIGUSR1', 'SIGHUP', 'SIGINT', 'SIGTERM') if hasattr(signal, n)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["[]", "['SIGINT',", "'SIGTERM']"]


def test_the_whole_suite_collects_without_the_posix_only_names():
    like_windows, as_here = collect("-p", "tests.windows_names"), collect()
    windows_output, here_output = (
        like_windows.communicate(timeout=900)[0],
        as_here.communicate(timeout=900)[0],
    )
    assert like_windows.returncode == 0, windows_output[-3000:]
    assert collected(windows_output) == collected(here_output)
