"""``tomllib`` on every Python the node supports: the standard library's from 3.11, and before it
``tomli``, the same parser from PyPI (pyproject.toml installs it only there).

Mapping files, node.toml and the packaging tests read TOML through this one import.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

__all__ = ["tomllib"]
