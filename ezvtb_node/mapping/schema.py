"""Reading a mapping file's tables with precise, user-facing errors.

Every error names the file, the line and the dotted key, says what was expected and what came, and
suggests the closest known name when a name is misspelt.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class MappingError(ValueError):
    """A mapping file is invalid. ``str()`` reads ``FILE:LINE: KEY: message``."""

    def __init__(self, path: Path | str, line: int | None, key: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.key = key
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def suggestion(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(value: Any) -> str:
    """How a TOML value came, for 'expected X, got Y' messages."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({kind})"


class TableReader:
    """Typed access to the parsed TOML, raising :class:`MappingError` with line numbers."""

    def __init__(self, path: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.path = path
        self._lines = lines

    def line_of(self, key: tuple[str, ...]) -> int | None:
        for end in range(len(key), 0, -1):
            if key[:end] in self._lines:
                return self._lines[key[:end]]
        return None

    def error(self, key: tuple[str, ...], message: str) -> MappingError:
        return MappingError(self.path, self.line_of(key), ".".join(key), message)

    def table(self, value: Any, key: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {describe(value)}")
        return value

    def known_keys(self, table: dict[str, Any], key: tuple[str, ...], allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for name in table:
            if name not in allowed:
                raise self.error(
                    (*key, name),
                    f"unknown key '{name}'{suggestion(name, allowed)}; known: {', '.join(allowed)}",
                )

    def number(
        self,
        value: Any,
        key: tuple[str, ...],
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {describe(value)}")
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise self.error(key, f"expected a finite number, got {value}")
        if minimum is not None and (number <= minimum if exclusive_minimum else number < minimum):
            relation = ">" if exclusive_minimum else ">="
            raise self.error(key, f"expected a number {relation} {minimum:g}, got {value}")
        if maximum is not None and number > maximum:
            raise self.error(key, f"expected a number <= {maximum:g}, got {value}")
        return number

    def boolean(self, value: Any, key: tuple[str, ...]) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {describe(value)}")
        return value

    def string(self, value: Any, key: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string (a name in quotes), got {describe(value)}")
        return value

    def pair(self, value: Any, key: tuple[str, ...]) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.error(key, f"expected an array of two numbers [low, high], got {describe(value)}")
        return (self.number(value[0], key), self.number(value[1], key))

    def numbers(self, value: Any, key: tuple[str, ...]) -> list[float]:
        if not isinstance(value, list) or not value:
            raise self.error(key, f"expected a non-empty array of numbers, got {describe(value)}")
        return [self.number(item, key) for item in value]

    def strings(self, value: Any, key: tuple[str, ...]) -> list[str]:
        if not isinstance(value, list) or not value:
            raise self.error(key, f"expected a non-empty array of names, got {describe(value)}")
        return [self.string(item, key) for item in value]
