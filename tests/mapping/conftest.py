from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "mappings"


@pytest.fixture
def write_mapping(tmp_path):
    """Write TOML text to a file and return its path."""

    def write(text: str, name: str = "m.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
