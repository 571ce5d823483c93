import hashlib
import itertools
import json
import logging
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from cacher_helpers import HERE, frame_for, pose_for

from ezvtb_node.core.cacher import CacheError, FrameCacher, sqlite_store

FRAME_BYTES = 512 * 512 * 4
GB = 1024**3


def _db_cacher(path, quality=100, ram_gb=0.0, db_frames=None):
    size = {} if db_frames is None else {"db_size_gb": db_frames * FRAME_BYTES / GB}
    cacher = FrameCacher(on_database=True, quality=quality, ram_size_gb=ram_gb, db_path=path, **size)
    cacher.set_context("image", "engine")
    return cacher


def _child(*args, timeout=60):
    out = subprocess.run(
        [sys.executable, str(HERE / "cacher_child.py"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout)


def _rows(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM frames").fetchone()[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_schema_wal_and_identity(tmp_path):
    db = tmp_path / "frames.db"
    _db_cacher(db).close()
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(frames)")}
        assert {"key", "colour", "alpha", "size", "checksum", "last_used"} <= columns
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] != 0


def test_a_new_process_hits_on_its_first_lookup(tmp_path):
    db = tmp_path / "frames.db"
    with _db_cacher(db) as cacher:
        for i in range(5):
            cacher.put(pose_for(i), frame_for(pose_for(i)))
    result = _child("lookup", db, 0, 5)
    assert result["hits"] == 5 and result["wrong"] == 0
    assert result["stats"]["db_hits"] == 5 and result["stats"]["misses"] == 0


@pytest.fixture
def ticking_clock(monkeypatch):
    """The store's wall clock (``last_used``) advances one second per reading: its eviction order
    is then decided by the order of events alone, not by the clock's resolution or steps."""
    readings = itertools.count(1_700_000_000)
    clock = types.SimpleNamespace(time=lambda: float(next(readings)), strftime=time.strftime)
    monkeypatch.setattr(sqlite_store, "time", clock)


@pytest.mark.parametrize("ram_gb", [0.0, 0.1], ids=["hits-from-file", "hits-from-ram"])
def test_database_is_capped_and_evicts_least_recently_used(tmp_path, ram_gb, ticking_clock):
    db = tmp_path / "frames.db"
    with _db_cacher(db, ram_gb=ram_gb, db_frames=5) as cacher:
        for i in range(5):
            cacher.put(pose_for(i), frame_for(pose_for(i)))
        cacher.flush()
        assert cacher.get(pose_for(0)) is not None  # pose 0 becomes the most recently used
        cacher.flush()
        cacher.put(pose_for(5), frame_for(pose_for(5)))
        cacher.flush()
        stats = cacher.stats()
        assert stats["db_bytes"] <= 5 * FRAME_BYTES and stats["db_evictions"] == 2
    with _db_cacher(db) as reopened:
        present = [reopened.get(pose_for(i)) is not None for i in range(6)]
    assert present == [True, False, False, True, True, True]


def test_a_damaged_row_is_a_miss_and_gets_deleted(tmp_path, caplog):
    db = tmp_path / "frames.db"
    with _db_cacher(db, quality=85) as cacher:
        cacher.put(pose_for(1), frame_for(pose_for(1)))
        cacher.put(pose_for(2), frame_for(pose_for(2)))
    with sqlite3.connect(db) as conn:  # flip bytes inside one stored JPEG, as bit rot would
        key, colour = conn.execute("SELECT key, colour FROM frames LIMIT 1").fetchone()
        damaged = colour[:1000] + bytes(b ^ 0xFF for b in colour[1000:1010]) + colour[1010:]
        conn.execute("UPDATE frames SET colour = ? WHERE key = ?", (damaged, key))
    with caplog.at_level(logging.WARNING), _db_cacher(db, quality=85) as cacher:
        results = [cacher.get(pose_for(i)) for i in (1, 2)]
        cacher.flush()
        assert sum(r is None for r in results) == 1
        assert cacher.stats()["checksum_failures"] == 1
    assert _rows(db) == 1
    assert any("checksum" in r.message for r in caplog.records)


def test_sigkill_during_writes_never_damages_the_file_or_a_frame(tmp_path):
    db = tmp_path / "frames.db"
    child = subprocess.Popen([sys.executable, str(HERE / "cacher_child.py"), "write_forever", str(db)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                if db.exists() and _rows(db) >= 24:
                    break
            except sqlite3.OperationalError:
                pass  # schema not created yet
        else:
            pytest.fail("child stored no frames")
        child.kill()  # SIGKILL (TerminateProcess on Windows) in the middle of its next transaction
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = _rows(db)
    result = _child("lookup", db, 0, stored + 32)
    assert result["wrong"] == 0
    assert result["hits"] == stored >= 24


class _Lines:
    """Lines of a child's stdout, read on a thread so the test can wait for one with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def next(self, timeout: float = 60) -> str:
        return self.lines.get(timeout=timeout)


def test_two_processes_share_one_file(tmp_path):
    db = tmp_path / "frames.db"
    _db_cacher(db).close()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "cacher_child.py"), "share", str(db), str(a), str(b), "20"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(tmp_path / f"stderr-{a}").open("w"),
            text=True,
        )
        for a, b in ((0, 1000), (1000, 0))
    ]
    try:
        outs = [_Lines(p) for p in procs]
        for barrier in ("opened", "stored"):  # release both only once both have arrived
            for out in outs:
                line = out.next()
                assert line.strip() == f"at {barrier}", (line, _stderr(tmp_path))
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
        results = [json.loads(out.next()) for out in outs]
        for proc in procs:
            assert proc.wait(60) == 0, _stderr(tmp_path)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert "locked" not in _stderr(tmp_path)
    for result in results:
        assert result["wrong"] == 0
        assert result["stats"]["write_errors"] == 0 and result["stats"]["read_errors"] == 0
        assert result["seen_after_both_stored"] == 20  # each sees every frame the other one wrote
    assert _rows(db) == 40


def _stderr(folder: Path) -> str:
    return "".join(p.read_text() for p in sorted(folder.glob("stderr-*")))


def test_a_file_that_is_not_a_database_is_left_alone_with_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my precious notes\n" * 100)
    before = _digest(path)
    with pytest.raises(CacheError, match="not an SQLite database"):
        FrameCacher(True, 85, 0.1, path)
    assert _digest(path) == before


def test_another_programs_database_is_left_alone_with_a_clear_error(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()
    before = _digest(path)
    with pytest.raises(CacheError, match="another program"):
        FrameCacher(True, 85, 0.1, path)
    assert _digest(path) == before


def test_a_damaged_cache_file_is_moved_aside_and_recreated(tmp_path, caplog):
    db = tmp_path / "frames.db"
    with _db_cacher(db) as cacher:
        cacher.put(pose_for(0), frame_for(pose_for(0)))
    raw = bytearray(db.read_bytes())
    raw[16:100] = b"\xa5" * 84  # keep the SQLite magic, wreck the rest of the header
    db.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING), _db_cacher(db) as cacher:
        assert cacher.get(pose_for(0)) is None
        cacher.put(pose_for(1), frame_for(pose_for(1)))
        cacher.flush()
        assert cacher.get(pose_for(1)) is not None
    aside = [
        p for p in tmp_path.iterdir() if p.name.startswith("frames.db.damaged-") and "-wal" not in p.name
    ]
    assert len(aside) == 1 and aside[0].read_bytes()[:100] == bytes(raw[:100])
    assert any("moved it aside" in r.message for r in caplog.records)


def test_unwritable_locations_fail_at_construction(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(CacheError, match="is a folder"):
        FrameCacher(True, 85, 0.1, folder)
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    with pytest.raises(CacheError, match="cannot create the folder"):
        FrameCacher(True, 85, 0.1, a_file / "frames.db")


@pytest.mark.skipif(sys.platform == "win32", reason="Windows ignores a folder's read-only attribute")
@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write into read-only folders"
)
def test_read_only_folder_fails_at_construction(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CacheError, match="not writable"):
            FrameCacher(True, 85, 0.1, folder / "frames.db")
    finally:
        folder.chmod(0o700)


def test_disk_full_turns_database_writes_off_and_frames_keep_flowing(tmp_path, caplog):
    db = tmp_path / "frames.db"
    with caplog.at_level(logging.WARNING), _db_cacher(db, ram_gb=0.1) as cacher:
        cacher.put(pose_for(0), frame_for(pose_for(0)))
        cacher.flush()
        # A real SQLITE_FULL: forbid the file to grow by more than a few pages.
        pages = cacher.db._writer.execute("PRAGMA page_count").fetchone()[0]
        cacher.db._writer.execute(f"PRAGMA max_page_count={pages + 4}")
        for i in range(1, 4):
            cacher.put(pose_for(i), frame_for(pose_for(i)))
        cacher.flush()
        stats = cacher.stats()
        assert stats["db_writes_disabled"] is True
        assert stats["db_entries"] == 1
        # reads of the database and of RAM go on
        for i in range(4):
            assert np.array_equal(cacher.get(pose_for(i)), frame_for(pose_for(i)))
        cacher.put(pose_for(9), frame_for(pose_for(9)))  # later puts still reach RAM
        cacher.flush()
        assert cacher.get(pose_for(9)) is not None
    warnings = [r for r in caplog.records if "disk full" in r.message]
    assert len(warnings) == 1
