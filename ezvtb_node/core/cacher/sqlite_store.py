"""SQLite store of encoded frames: one file, WAL, size cap with least-recently-used eviction.

Reads come from the render thread on their own connection; every write (insert, delete, last-use
update, eviction) comes from the single writer thread of :class:`FrameCacher`. WAL lets readers run
while a writer commits, and lets two node processes share one file: writers wait on each other
through SQLite's busy timeout, off the render thread.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlite_utils

from ezvtb_node.core.cacher.codec import EncodedFrame

log = logging.getLogger(__name__)

APPLICATION_ID = 0x657A7662  # "ezvb" in the SQLite header: marks the file as ours
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BUSY_TIMEOUT_S = 10.0  # writers (off the render thread) and the CLI wait this long for a lock
_READER_BUSY_TIMEOUT_MS = 20  # the render thread would rather miss than wait
_EVICT_TO = 0.9  # evict down to 90 % of the cap so eviction does not run on every insert


class CacheError(RuntimeError):
    """The cache database cannot be used at the given path (the message says why and what to do)."""


def _check_location(path: Path) -> None:
    if path.is_dir():
        raise CacheError(
            f"cache database path {path} is a folder; expected a file path such as {path}/frames.db"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(
            f"cannot create the folder for the cache database {path}: {exc.strerror or exc}"
        ) from exc
    target = path if path.exists() else path.parent
    if not os.access(target, os.R_OK | os.W_OK):
        raise CacheError(f"cache database {path} is not writable ({target} denies read/write access)")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise CacheError(
                f"{path} exists and is not an SQLite database (it starts with {head[:8]!r}); "
                "refusing to touch it. "
                "Choose another cacher_db_path or remove the file."
            )


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in the file's current journal mode: inspecting a file must not change it."""
    return sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)


def _use_wal(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a killed process loses nothing it committed; only a power cut may drop the
    # last transactions, never corrupt the file.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> bool:
    """True when the file is ours; False when it is empty; CacheError when another program owns it."""
    if conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
        return True
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if tables:
        raise CacheError(
            f"{path} is an SQLite database of another program (tables: {', '.join(sorted(tables))}); "
            "refusing to touch it. Choose another cacher_db_path."
        )
    return False


def _move_aside(path: Path, reason: str) -> Path:
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{aside}{suffix}"))
    log.warning(
        "frame cache %s could not be opened (%s): moved it aside to %s and started a new one",
        path,
        reason,
        aside,
    )
    return aside


class SqliteStore:
    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"database cache size must be > 0 bytes, got {max_bytes}")
        self.path = Path(path).expanduser()
        self.max_bytes = int(max_bytes)
        self.evictions = 0
        _check_location(self.path)
        try:
            self._writer = self._open_schema()
        except sqlite3.OperationalError as exc:  # locked past the timeout, I/O, permissions: never move it
            raise CacheError(f"cannot open cache database {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # SQLite header but damaged ("not a database", "malformed")
            _move_aside(self.path, str(exc))
            self._writer = self._open_schema()
        self._reader = _use_wal(_connect(self.path))
        self._reader.execute(f"PRAGMA busy_timeout={_READER_BUSY_TIMEOUT_MS}")
        self._reader_lock = threading.Lock()
        self._written_since_check = self.max_bytes  # forces one exact size check on the first write

    def _open_schema(self) -> sqlite3.Connection:
        try:
            conn = _connect(self.path)
        except sqlite3.OperationalError as exc:
            raise CacheError(f"cannot open cache database {self.path}: {exc}") from exc
        try:
            _refuse_foreign(conn, self.path)
            _use_wal(conn)
            conn.execute("BEGIN IMMEDIATE")  # two processes creating the schema at once: one waits
            if not _refuse_foreign(conn, self.path):
                self._create_schema(sqlite_utils.Database(conn))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        return conn

    @staticmethod
    def _create_schema(db: sqlite_utils.Database) -> None:
        db.table("frames").create(
            {
                "key": bytes,  # BLAKE2b of context + quantized pose (keys.frame_key)
                "context": bytes,  # keys.context_digest: image, engine, quality, quantization
                "codec": str,  # "jpeg" (colour JPEG + zlib alpha) or "raw"
                "width": int,
                "height": int,
                "colour": bytes,
                "alpha": bytes,
                "size": int,  # len(colour) + len(alpha): what the size cap counts
                "checksum": bytes,  # EncodedFrame.checksum(); a mismatch is a miss and the row goes
                "created": float,
                "last_used": float,  # unix time of the last hit (or the insert): eviction order
            },
            pk="key",
            not_null={
                "context",
                "codec",
                "width",
                "height",
                "colour",
                "alpha",
                "size",
                "checksum",
                "last_used",
            },
        )
        db.table("frames").create_index(["last_used"], index_name="frames_by_last_use")
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ---- render thread ------------------------------------------------------------------------

    def read(self, key: bytes) -> tuple[EncodedFrame, bytes] | None:
        """The stored frame and its stored checksum, or None. Raises sqlite3.Error on I/O trouble."""
        with self._reader_lock:
            row = self._reader.execute(
                "SELECT codec, width, height, colour, alpha, checksum FROM frames WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        codec, width, height, colour, alpha, checksum = row
        return EncodedFrame(codec, width, height, bytes(colour), bytes(alpha)), bytes(checksum)

    def totals(self) -> tuple[int, int]:
        """(entries, stored bytes) of the whole file, all contexts and processes."""
        with self._reader_lock:
            count, total = self._reader.execute("SELECT count(*), total(size) FROM frames").fetchone()
        return int(count), int(total)

    # ---- writer thread ------------------------------------------------------------------------

    def write(
        self,
        inserts: Sequence[tuple[bytes, bytes, EncodedFrame]],
        deletes: Iterable[bytes] = (),
        touches: Iterable[bytes] = (),
    ) -> None:
        """One transaction: insert (key, context, frame) rows, delete keys, refresh last use."""
        now = time.time()
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO frames (key, context, codec, width, height, colour, alpha, size,"
                " checksum, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (key, ctx, f.codec, f.width, f.height, f.colour, f.alpha, f.size, f.checksum(), now, now)
                    for key, ctx, f in inserts
                ],
            )
            conn.executemany("DELETE FROM frames WHERE key = ?", [(k,) for k in deletes])
            conn.executemany("UPDATE frames SET last_used = ? WHERE key = ?", [(now, k) for k in touches])
            self._written_since_check += sum(f.size for _, _, f in inserts)
            if self._written_since_check >= self.max_bytes * (1 - _EVICT_TO):
                self._evict_locked()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _evict_locked(self) -> None:
        """Delete least recently used rows until the file's frames fit 90 % of the cap."""
        self._written_since_check = 0
        total = self._writer.execute("SELECT total(size) FROM frames").fetchone()[0]
        excess = total - self.max_bytes * _EVICT_TO
        if total <= self.max_bytes or excess <= 0:
            return
        victims: list[tuple[bytes]] = []
        for key, size in self._writer.execute("SELECT key, size FROM frames ORDER BY last_used"):
            victims.append((key,))
            excess -= size
            if excess <= 0:
                break
        self._writer.executemany("DELETE FROM frames WHERE key = ?", victims)
        self.evictions += len(victims)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def open_existing(path: str | os.PathLike[str]) -> sqlite_utils.Database:
    """Open a cache file for the CLI's info/clear without creating anything; clear errors otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no frame cache at {path}")
    _check_location(path)
    conn = _connect(path)
    try:
        if not _refuse_foreign(conn, path):
            raise CacheError(f"{path} is an empty SQLite file, not an ezvtb-node frame cache")
    except BaseException:
        conn.close()
        raise
    return sqlite_utils.Database(_use_wal(conn))
