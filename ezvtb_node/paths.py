"""Where the node keeps files: built engines and caches.

Both can be overridden with environment variables so tests and users can point elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
