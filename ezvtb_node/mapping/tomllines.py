"""Parse a TOML file and remember the line each key was written on.

``tomllib`` gives no positions, and a mapping error is only useful when it names the line. The
scan here is deliberately light: it follows ``[table]`` headers and ``key = value`` lines (dotted
keys included) and records where each key path starts. Keys inside one-line inline tables share the
line of the key that owns the table, which is where a user looks anyway.
"""

from __future__ import annotations

import re
from pathlib import Path

from ezvtb_node.textfiles import read_text_file
from ezvtb_node.tomlcompat import tomllib

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY_LINE = re.compile(
    r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_KEY_PART = re.compile(r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'""")
_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'[^']*'""")


class TomlSyntaxError(ValueError):
    """The text is not valid TOML; ``line`` is where the parser stopped (or None)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in _KEY_PART.findall(text))


def scan_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path (table parts + key parts) to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_brackets = 0  # inside a multi-line array, lines are values, not keys
    for number, line in enumerate(text.splitlines(), start=1):
        if open_brackets == 0:
            header = _HEADER.match(line)
            if header:
                table = _split_key(header.group(1))
                lines.setdefault(table, number)
                continue
            key = _KEY_LINE.match(line)
            if key:
                lines.setdefault((*table, *_split_key(key.group(1))), number)
        code = _STRING.sub('""', line).split("#", 1)[0]  # brackets in strings or comments don't count
        open_brackets = max(0, open_brackets + code.count("[") - code.count("]"))
    return lines


def load_toml_with_lines(path: Path) -> tuple[dict, dict[tuple[str, ...], int]]:
    """Read ``path`` as TOML; return the data and the key-path → line index."""
    text = read_text_file(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise TomlSyntaxError(f"not valid TOML: {exc}", int(found.group(1)) if found else None) from exc
    return data, scan_key_lines(text)
