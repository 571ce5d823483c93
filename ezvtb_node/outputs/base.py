"""The frame-sink interface shared by every output.

A sink receives uint8 BGRA frames (H, W, 4), straight alpha, through ``send``. ``send`` never
blocks the caller: it drops the frame into a one-place slot (the newest frame wins) and the sink's
own worker thread writes it. A slow or stuck sink therefore only loses frames, which are counted,
and never stalls the render thread.

Every subclass hook (``_start``, ``_write``, ``_stop``) runs on that one worker thread, so a
backend that cares about thread affinity (Spout and its OpenGL context) gets it for free.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ezvtb_node.percentiles import percentile_ms

log = logging.getLogger(__name__)

# How many recent write durations the statistics keep (enough for a stable median and p99).
_COST_WINDOW = 512


def check_frame(frame: Any, width: int, height: int) -> np.ndarray:
    """Return ``frame`` if it is a uint8 (height, width, 4) array, else raise a clear ValueError."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.shape != (height, width, 4):
        raise ValueError(
            f"frame must be uint8 BGRA of shape ({height}, {width}, 4), "
            f"got {frame.dtype} of shape {tuple(frame.shape)}"
        )
    return frame


class LatestSlot:
    """A one-place mailbox: ``put`` replaces what is there, ``take`` waits for something new."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; return True when it replaced an item nobody had taken yet."""
        with self._cond:
            replaced = self._has_item
            self._item, self._has_item = item, True
            self._cond.notify()
            return replaced

    def take(self) -> Any:
        """Wait for the next item; return None once closed and empty (a pending item is still given)."""
        with self._cond:
            while not self._has_item and not self._closed:
                self._cond.wait()
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class FrameSink(ABC):
    """Base class of all outputs: ``open(width, height)``, ``send(frame)``, ``close()``, ``stats()``.

    ``send`` keeps a reference to the frame rather than copying it: the caller must not modify a
    frame after sending it. The :class:`~ezvtb_node.outputs.pacing.Pacer` hands out frames it owns
    and never modifies, so sinks fed by a pacer are safe.
    """

    #: Short name used in logs and statistics ("spout", "browser", ...).
    kind: str = "sink"

    def __init__(self) -> None:
        self._slot = LatestSlot()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._lock = threading.Lock()
        self._width = self._height = 0
        self._received = self._written = self._dropped = self._errors = 0
        self._last_error: str | None = None
        self._write_costs: deque[float] = deque(maxlen=_COST_WINDOW)

    # -- public interface ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def open(self, width: int, height: int, timeout: float = 10.0) -> None:
        """Start the worker thread and wait until the backend is ready (its errors are raised here)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.kind} output is already open")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise ValueError(f"frame size must be two positive integers, got {width!r} x {height!r}")
        self._width, self._height = width, height
        self._thread = threading.Thread(target=self._run, name=f"ezvtb-{self.kind}-sink", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            self._slot.close()
            raise RuntimeError(f"{self.kind} output did not start within {timeout:g} s")
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error

    def send(self, frame: np.ndarray) -> None:
        """Hand a frame to the sink without waiting; an unwritten older frame is dropped and counted."""
        if self._thread is None:
            raise RuntimeError(f"{self.kind} output is not open; call open(width, height) first")
        check_frame(frame, self._width, self._height)
        replaced = self._slot.put((frame, time.perf_counter()))
        with self._lock:
            self._received += 1
            if replaced:
                self._dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write the pending frame, stop the worker and release the backend. Safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._slot.close()
        thread.join(timeout)
        if thread.is_alive():
            log.warning(
                "%s output is stuck in a write; left its thread behind after %g s", self.kind, timeout
            )

    def stats(self) -> dict[str, Any]:
        """Counters and write cost, JSON-ready: received, written, dropped, errors, write_ms p50/p99."""
        with self._lock:
            costs = list(self._write_costs)
            stats: dict[str, Any] = {
                "kind": self.kind,
                "received": self._received,
                "written": self._written,
                "dropped": self._dropped,
                "errors": self._errors,
                "last_error": self._last_error,
            }
        stats["write_ms_p50"] = percentile_ms(costs, 50)
        stats["write_ms_p99"] = percentile_ms(costs, 99)
        stats.update(self._extra_stats())
        return stats

    # -- an optional capability: a web page beside the frames (the browser source) ----------------

    @property
    def url(self) -> str | None:
        """Where a viewer opens this output, for an output that serves a page; None for the others."""
        return None

    def add_json_route(self, path: str, handler: Callable[[], Any]) -> None:  # noqa: B027 - optional
        """Serve ``handler()`` as JSON at ``path`` where this output serves a page; others ignore it."""

    def add_status(self, name: str, provider: Callable[[], Any]) -> None:  # noqa: B027 - optional
        """Show ``provider()`` under ``name`` in the page's status where there is a page; others ignore it."""

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- hooks for subclasses, all called on the worker thread ------------------------------------

    @abstractmethod
    def _start(self, width: int, height: int) -> None:
        """Acquire the backend (window, socket, file ...). Exceptions surface from ``open``."""

    @abstractmethod
    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        """Deliver one frame; ``sent_at`` is the ``time.perf_counter()`` of the ``send`` call."""

    def _stop(self) -> None:  # noqa: B027 - optional hook, most sinks hold nothing to release
        """Release the backend; after a successful ``_start`` this runs on every exit path."""

    def _extra_stats(self) -> dict[str, Any]:
        return {}

    # -- worker -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._start(self._width, self._height)
        except BaseException as exc:
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            while (item := self._slot.take()) is not None:
                frame, sent_at = item
                began = time.perf_counter()
                try:
                    self._write(frame, sent_at)
                except Exception as exc:
                    self._record_error(exc)
                else:
                    with self._lock:
                        self._written += 1
                        self._write_costs.append(time.perf_counter() - began)
        finally:
            try:
                self._stop()
            except Exception as exc:
                self._record_error(exc)

    def _record_error(self, exc: Exception) -> None:
        with self._lock:
            self._errors += 1
            first = self._last_error is None
            self._last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.error("%s output failed: %s (further errors are only counted)", self.kind, exc)
