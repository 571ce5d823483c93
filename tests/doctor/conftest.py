from __future__ import annotations

import hashlib
import json

import pytest

from ezvtb_node.app.config import NodeConfig
from ezvtb_node.core.models.layout import EXPORT_FORMAT, MANIFEST, STAGE_FILES
from ezvtb_node.core.models.store import engine_set_dir


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Engines and caches in temp folders: the doctor must never see (or touch) the user's files."""
    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(tmp_path / "engines"))
    monkeypatch.setenv("EZVTB_CACHE_DIR", str(tmp_path / "cache"))


def quiet_config(**overrides) -> NodeConfig:
    """A configuration that listens nowhere unless a test says so."""
    values = {"vmc": "off", "ifacialmocap": "off", "control": "off", "output": ["null"]}
    values.update(overrides)
    return NodeConfig.from_keys(**values)


def by_name(checks, name: str):
    matches = [check for check in checks if check.name == name]
    assert len(matches) == 1, f"expected one check named {name!r}, got {[c.name for c in checks]}"
    return matches[0]


def write_engine_set(
    variant: str, precision: str, export_format: int = EXPORT_FORMAT, extra: dict | None = None
) -> dict:
    """A set whose manifest matches its files, the way `engines build` leaves one (``extra``:
    more manifest keys, e.g. the ``source`` of an imported set)."""
    folder = engine_set_dir(variant, precision)
    folder.mkdir(parents=True)
    files = {}
    for stage, name in STAGE_FILES.items():
        data = f"{stage} graph bytes".encode()
        (folder / name).write_bytes(data)
        files[stage] = hashlib.sha256(data).hexdigest()
    manifest = {
        "export_format": export_format,
        "variant": variant,
        "precision": precision,
        "files": files,
        "built_at": "2026-11-24T00:00:00Z",
        **(extra or {}),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return manifest
