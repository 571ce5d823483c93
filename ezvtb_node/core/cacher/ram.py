"""In-memory LRU of encoded frames, bounded by the bytes it stores."""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict

from ezvtb_node.core.cacher.codec import EncodedFrame


class RamStore:
    """Thread-safe LRU: the render thread reads, the cacher's writer thread inserts.

    Only the encoded payload counts toward ``max_bytes`` (key and object overhead is about 200 bytes
    per entry, under 1 % at JPEG sizes). A frame bigger than the whole budget is not stored.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"RAM cache size must be >= 0 bytes, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[bytes, EncodedFrame] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: bytes) -> EncodedFrame | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: bytes, entry: EncodedFrame) -> None:
        if entry.size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size
                self.evictions += 1

    def discard(self, key: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: builtins.bytes) -> bool:  # builtins: ``bytes`` is a method here
        return key in self._entries
