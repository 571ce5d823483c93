"""Where the node keeps files: built engines and caches.

Both can be overridden with environment variables so tests and users can point elsewhere.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_REPO_ROOT = Path(__file__).resolve().parent.parent


def engines_dir() -> Path:
    """Folder for built/imported model files: $EZVTB_ENGINES_DIR, else `engines/` of a source
    checkout, else the user cache folder."""
    if env := os.environ.get("EZVTB_ENGINES_DIR"):
        return Path(env)
    if (_REPO_ROOT / "pyproject.toml").is_file() and (_REPO_ROOT / "engines").is_dir():
        return _REPO_ROOT / "engines"
    return user_cache_dir() / "engines"


def user_cache_dir() -> Path:
    """Per-user cache folder ($EZVTB_CACHE_DIR overrides), following each OS's convention."""
    if env := os.environ.get("EZVTB_CACHE_DIR"):
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ezvtb-node"


# Windows refuses to rename, replace or delete a file another process has open: WinError 5 (access
# denied) or 32 (sharing violation) while an antivirus scan, the search indexer, OneDrive or an
# image viewer reads a file that was just written. They let go within a second or two.
_HELD_WINERRORS = (5, 32)
_RETRY_WAITS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5)


class FileHeldError(RuntimeError):
    """A file another program kept open through every retry; the message says which and what to do."""


def retry_while_held(action: Callable[[], T], path: str | Path) -> T:
    """``action()`` (a rename, replace or delete of ``path``), tried again for about 3 s while
    Windows says another program holds the file; then FileHeldError in one line. Any other
    error, and any error elsewhere than Windows, is raised at once."""
    waits = iter(_RETRY_WAITS_S)
    while True:
        try:
            return action()
        except OSError as exc:
            if getattr(exc, "winerror", None) not in _HELD_WINERRORS:
                raise
            wait = next(waits, None)
            if wait is None:
                raise FileHeldError(
                    f"{path}: another program keeps it open (WinError {exc.winerror}: an antivirus scan, "
                    "OneDrive or a viewer); close that program or wait a moment, then run again"
                ) from exc
            time.sleep(wait)
