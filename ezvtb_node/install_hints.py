"""The install commands that fix hints print, written for the user's OS and set-up.

A hint must work when pasted. cmd.exe keeps single quotes as part of the word (so
``pip install 'ezvtb-node[spout]'`` asks for a package whose name starts with a quote); a bare ``pip``
may belong to another Python than the one running the node; and ezvtb-node is not on PyPI, so its
extras install from the checkout. Hence: ``python -m pip`` of the interpreter running now, double
quotes (cmd.exe, PowerShell and POSIX shells all take them), and ``-e CHECKOUT[extra]``.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def is_source_checkout(root: Path = CHECKOUT) -> bool:
    return (root / "pyproject.toml").is_file() and (root / "run.py").is_file()


def _quoted(word: str) -> str:
    return f'"{word}"' if any(c in word for c in " []<>=,;&|'()") else word


def python_command(system: str = sys.platform, executable: str | None = None) -> str:
    """The running interpreter as the user types it: relative (``.venv\\Scripts\\python``) when it is
    the checkout's venv and the shell is in the checkout, else its full path."""
    executable = sys.executable if executable is None else executable
    inside = bool(executable) and Path(executable).resolve().is_relative_to((CHECKOUT / ".venv").resolve())
    if inside and Path(os.getcwd()).resolve() == CHECKOUT:
        return ".venv\\Scripts\\python" if system == "win32" else ".venv/bin/python"
    return _quoted(executable or ("py" if system == "win32" else "python3"))


def pip_install(*words: str, system: str = sys.platform) -> str:
    """``PYTHON -m pip install WORDS`` with each requirement quoted where a shell would split it."""
    return f"{python_command(system)} -m pip install {' '.join(_quoted(w) for w in words)}"


def install_extra(extra: str, system: str = sys.platform) -> str:
    """The command that adds one of ezvtb-node's extras: from the checkout when there is one, else
    the extra's own requirements as the installed package declares them."""
    if is_source_checkout():
        here = Path(os.getcwd()).resolve() == CHECKOUT
        return pip_install("-e", f"{'.' if here else CHECKOUT}[{extra}]", system=system)
    marker = f'extra == "{extra}"'
    requirements = [r.split(";")[0].strip() for r in metadata.requires("ezvtb-node") or [] if marker in r]
    return pip_install(*requirements, system=system)


# What lets a phone's UDP through Windows Firewall on a Public network (doctor and the node say it).
FIREWALL_FIX = (
    "make this network Private (Settings > Network & internet > your network > Network profile type), "
    "or allow Python on Public networks (Windows Security > Firewall > Allow an app through firewall)"
)
