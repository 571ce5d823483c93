"""FrameCacher: finished frames by pose, in RAM and optionally in an SQLite file.

The render thread calls :meth:`FrameCacher.get` before rendering and :meth:`FrameCacher.put` after.
``get`` costs a key digest, a dictionary or SQLite primary-key lookup and a decode. ``put`` only
copies the frame into a bounded queue: a writer thread encodes it and stores it, so a frame never
waits for JPEG, zlib or disk. A full queue drops the write and counts it.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ezvtb_node.core.cacher.codec import EncodedFrame, FrameCodec, check_frame
from ezvtb_node.core.cacher.keys import Quantization, context_digest, frame_key, snap_pose
from ezvtb_node.core.cacher.ram import RamStore
from ezvtb_node.core.cacher.sqlite_store import SqliteStore
from ezvtb_node.paths import user_cache_dir

log = logging.getLogger(__name__)

GB = 1024**3
DEFAULT_DB_SIZE_GB = 4.0  # about 120 000 frames at quality 85, ~4 000 at quality 100
DEFAULT_QUEUE_FRAMES = 32  # at most 32 MiB of raw frames waiting for the writer
_BATCH = 16  # frames per SQLite transaction
_WRITER_NICENESS = 10  # on a 2-core machine the writer must not take CPU from the renderer


def default_db_path() -> Path:
    return user_cache_dir() / "frames.sqlite3"


@dataclass
class _Put:
    key: bytes
    context: bytes
    frame: np.ndarray


@dataclass
class _Delete:
    key: bytes


@dataclass
class _Flush:
    done: threading.Event


_STOP = object()


class FrameCacher:
    """Cache of rendered frames keyed by quantized pose and context (image, engine, quality).

    ``quality`` 1–99 stores JPEG colour + exact alpha; 100 stores frames raw and byte-exact.
    ``ram_size_gb`` bounds the in-memory LRU (stored bytes); with ``on_database`` an SQLite file at
    ``db_path`` (default: the user cache folder) capped at ``db_size_gb`` sits behind it and
    survives restarts. Raises :class:`~ezvtb_node.core.cacher.sqlite_store.CacheError` when the file
    cannot be used.
    """

    def __init__(
        self,
        on_database: bool,
        quality: int,
        ram_size_gb: float,
        db_path: str | os.PathLike[str] | None = None,
        db_size_gb: float = DEFAULT_DB_SIZE_GB,
        quantization: Quantization | None = None,
        queue_frames: int = DEFAULT_QUEUE_FRAMES,
    ) -> None:
        if not ram_size_gb >= 0:
            raise ValueError(f"cacher_ram_size must be >= 0 GB, got {ram_size_gb!r}")
        if queue_frames < 1:
            raise ValueError(f"queue_frames must be >= 1, got {queue_frames}")
        self.codec = FrameCodec(quality)
        self.quantization = quantization or Quantization()
        self._steps = self.quantization.steps()
        self.ram = RamStore(int(ram_size_gb * GB))
        self.db: SqliteStore | None = None
        if on_database:
            if not db_size_gb > 0:
                raise ValueError(f"cacher database size must be > 0 GB, got {db_size_gb!r}")
            self.db = SqliteStore(db_path if db_path is not None else default_db_path(), int(db_size_gb * GB))
        self._context: bytes | None = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_frames)
        self._touched: set[bytes] = set()
        self._touched_lock = threading.Lock()
        self._db_writes_disabled = False
        self._closed = False
        self._counts = dict.fromkeys(
            (
                "ram_hits",
                "db_hits",
                "misses",
                "dropped_writes",
                "write_errors",
                "checksum_failures",
                "read_errors",
            ),
            0,
        )
        self._writer = threading.Thread(target=self._write_loop, name="frame-cacher-writer", daemon=True)
        self._writer.start()

    # ---- render thread ------------------------------------------------------------------------

    def set_context(self, image_digest: str, engine_id: str) -> None:
        """Declare what besides the pose decides the picture (see keys.image_digest); quality and
        quantization are added here."""
        self._context = context_digest(image_digest, engine_id, self.codec.quality, self.quantization)

    def snap(self, pose: np.ndarray) -> np.ndarray:
        """The bucket centre of ``pose``: render this on a miss so a bucket always shows one frame."""
        return snap_pose(pose, self._steps)

    def key(self, pose: np.ndarray) -> bytes:
        return frame_key(self._context_digest(), pose, self._steps)

    def _context_digest(self) -> bytes:
        if self._context is None:
            raise RuntimeError(
                "FrameCacher.set_context(image_digest, engine_id) must be called before get/put"
            )
        return self._context

    def get(self, pose: np.ndarray) -> np.ndarray | None:
        """The cached (512, 512, 4) uint8 BGRA frame for ``pose`` (a new array), or None."""
        key = self.key(pose)
        entry = self.ram.get(key)
        if entry is not None:
            self._counts["ram_hits"] += 1
        elif self.db is not None and (entry := self._read_db(self.db, key)) is not None:
            self._counts["db_hits"] += 1
            self.ram.put(key, entry)
        else:
            self._counts["misses"] += 1
            return None
        if self.db is not None:  # the file's eviction order must see hits served from RAM too
            with self._touched_lock:
                self._touched.add(key)
        return self.codec.decode(entry)

    def _read_db(self, db: SqliteStore, key: bytes) -> EncodedFrame | None:
        try:
            found = db.read(key)
        except sqlite3.Error as exc:
            self._counts["read_errors"] += 1
            log.debug("frame cache read failed (counted as a miss): %s", exc)
            return None
        if found is None:
            return None
        entry, stored_checksum = found
        if entry.checksum() != stored_checksum:
            self._counts["checksum_failures"] += 1
            log.warning("frame cache: a stored frame failed its checksum; deleting it")
            self._enqueue(_Delete(key), count_drop=False)
            return None
        return entry

    def put(self, pose: np.ndarray, frame: np.ndarray, *, block: bool = False) -> None:
        """Store ``frame`` for ``pose``. Copies the frame and returns at once; with a full queue the
        write is dropped and counted (``block=True`` waits instead: for cache warming)."""
        check_frame(frame)
        self._enqueue(_Put(self.key(pose), self._context_digest(), frame.copy()), block=block)

    def _enqueue(self, item: object, *, block: bool = False, count_drop: bool = True) -> None:
        if self._closed:
            raise RuntimeError("FrameCacher is closed")
        try:
            self._queue.put(item, block=block)
        except queue.Full:
            if count_drop:
                self._counts["dropped_writes"] += 1

    def flush(self) -> None:
        """Wait until everything put so far is stored (and committed to the database)."""
        done = threading.Event()
        self._enqueue(_Flush(done), block=True)
        done.wait()

    def stats(self) -> dict[str, object]:
        c = self._counts
        hits = c["ram_hits"] + c["db_hits"]
        lookups = hits + c["misses"]
        stats: dict[str, object] = {
            "hits": hits,
            **c,
            "hit_rate": hits / lookups if lookups else 0.0,
            "entries": len(self.ram),
            "bytes": self.ram.bytes,
            "evictions": self.ram.evictions + (self.db.evictions if self.db else 0),
            "ram_evictions": self.ram.evictions,
            "queued_writes": self._queue.qsize(),
            "codec": self.codec.name,
            "db_path": str(self.db.path) if self.db else None,
            "db_writes_disabled": self._db_writes_disabled,
        }
        if self.db is not None:
            try:
                stats["db_entries"], stats["db_bytes"] = self.db.totals()
            except sqlite3.Error as exc:
                log.debug("frame cache totals unavailable: %s", exc)
            stats["db_evictions"] = self.db.evictions
        return stats

    def close(self) -> None:
        """Store what is queued, stop the writer and close the database. Safe to call twice."""
        if self._closed:
            return
        self._queue.put(_STOP)
        self._closed = True
        self._writer.join()
        if self.db is not None:
            self.db.close()

    def __enter__(self) -> FrameCacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writer thread ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        _lower_this_thread_priority()
        stopping = False
        while not stopping:
            try:
                batch = [self._queue.get(timeout=0.5)]
            except queue.Empty:
                batch = []
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = _STOP in batch
            try:
                self._store_batch(batch)
            except Exception:  # the writer must outlive any one bad batch
                self._counts["write_errors"] += 1
                log.exception("frame cache: storing a batch failed")
            finally:
                for item in batch:
                    if isinstance(item, _Flush):
                        item.done.set()

    def _store_batch(self, batch: list[object]) -> None:
        inserts: list[tuple[bytes, bytes, EncodedFrame]] = []
        deletes: list[bytes] = []
        for item in batch:
            if isinstance(item, _Put):
                entry = self.codec.encode(item.frame)
                self.ram.put(item.key, entry)
                inserts.append((item.key, item.context, entry))
            elif isinstance(item, _Delete):
                self.ram.discard(item.key)
                deletes.append(item.key)
        self._write_db(inserts, deletes)

    def _write_db(self, inserts: list[tuple[bytes, bytes, EncodedFrame]], deletes: list[bytes]) -> None:
        with self._touched_lock:
            touches, self._touched = self._touched, set()
        if self.db is None or self._db_writes_disabled or not (inserts or deletes or touches):
            return
        try:
            self.db.write(inserts, deletes, touches)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc):
                self._db_writes_disabled = True
                log.warning(
                    "frame cache %s: disk full (%s); database writes are off for this run, "
                    "cached frames are still served",
                    self.db.path,
                    exc,
                )
            else:
                self._counts["write_errors"] += 1
                log.warning("frame cache %s: a write failed and was skipped: %s", self.db.path, exc)


def _lower_this_thread_priority() -> None:
    """Run the writer at a lower CPU priority so it only uses time the render thread leaves.

    Linux applies setpriority to a single thread when given its thread id; elsewhere the call
    would address a process, so it is skipped there.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _WRITER_NICENESS)
        except OSError as exc:
            log.debug("frame cache writer keeps normal priority: %s", exc)
