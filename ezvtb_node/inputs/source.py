"""What every tracking source shares: one thread, a newest-frame slot, callbacks, counters, lost state.

A source publishes TrackingFrame objects from its own thread. Consumers either register a callback
(``on_frame``; called on the source thread, keep it short) or poll ``latest()`` (newest frame wins,
never a queue). When no frame arrives for ``lost_after`` seconds the source publishes a copy of the
last frame with ``lost=True`` once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from ezvtb_node.inputs.tracking import TrackingFrame

FrameCallback = Callable[[TrackingFrame], None]
DEFAULT_LOST_AFTER_S = 0.5


class RateLimitedLog:
    """Logs at most one warning per reason every ``interval`` seconds, with the count since the last."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, reason: str, message: str) -> None:
        now = time.monotonic()
        last = self._last.get(reason)
        if last is not None and now - last < self._interval:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        if suppressed:
            message += f" ({suppressed} more since the last report)"
        self._logger.warning(message)


class Counters:
    """Named event counters with a fixed set of names, so copying them from another thread is safe."""

    def __init__(self, names: Iterable[str]) -> None:
        self._values = dict.fromkeys(names, 0)

    def add(self, name: str, amount: int = 1) -> None:
        self._values[name] += amount  # an unknown name is a programming error: KeyError

    def __getitem__(self, name: str) -> int:
        return self._values[name]

    def snapshot(self) -> dict[str, int]:
        return dict(self._values)


class FrameSource:
    """Base of receivers and replays; subclasses implement ``_open()``, ``_run()`` and ``_close()``."""

    name = "source"
    COUNTERS: tuple[str, ...] = ("frames", "lost", "callback_errors", "internal_errors")
    # The phone this source asks for data (iFacialMocap's active mode), or None.
    phone: tuple[str, int] | None = None

    def __init__(self, *, lost_after: float = DEFAULT_LOST_AFTER_S, on_frame: FrameCallback | None = None):
        if not lost_after > 0:
            raise ValueError(f"lost_after must be a positive number of seconds, got {lost_after!r}")
        self.lost_after = lost_after
        self._callbacks: list[FrameCallback] = [on_frame] if on_frame else []
        self._latest: TrackingFrame | None = None
        self._last_live_at: float | None = None
        self._counters = Counters(self.COUNTERS)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None  # why the thread ended early, if it did
        self._log = logging.getLogger(f"ezvtb_node.inputs.{self.name}")
        self._warn = RateLimitedLog(self._log)

    # --- consumer side ---------------------------------------------------------------------------
    def add_callback(self, callback: FrameCallback) -> None:
        """Call ``callback(frame)`` on the source thread for every published frame (before start())."""
        self._callbacks.append(callback)

    def latest(self) -> TrackingFrame | None:
        """The newest published frame, or None before the first one."""
        return self._latest

    def stats(self) -> dict[str, int]:
        """Event counters: frames published, lost events and drops by reason."""
        return self._counters.snapshot()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until the source has played to its end; True when it has. A live receiver never
        ends (False at once): only files (replays, WAV voice takes) override this."""
        return False

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} source already started")
        self._stopping.clear()
        self._open()
        self._thread = threading.Thread(target=self._guarded_run, name=f"ezvtb-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and release the port or file; returns within ``timeout`` seconds."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake()
        self._thread.join(timeout)
        self._thread = None
        self._close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- source side -----------------------------------------------------------------------------
    def _open(self) -> None:
        """Acquire resources; errors here surface from start()."""

    def _run(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release resources acquired by _open()."""

    def _wake(self) -> None:
        """Make a blocked _run() notice that _stopping is set."""

    def _guarded_run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            # Per-datagram errors are caught closer to the data; reaching here means the loop itself
            # broke (e.g. the OS refused select): say so loudly instead of retrying in a tight loop.
            self.error = exc
            self._counters.add("internal_errors")
            self._log.exception("%s source stopped on an unexpected error", self.name)

    def _publish(self, frame: TrackingFrame) -> None:
        self._latest = frame
        if not frame.lost:
            self._last_live_at = frame.received_at
        self._counters.add("lost" if frame.lost else "frames")
        for callback in self._callbacks:
            try:
                callback(frame)
            except Exception:
                self._counters.add("callback_errors")
                self._log.exception("frame callback failed")

    def _check_lost(self, now: float) -> None:
        """Publish the lost state once when nothing live arrived for ``lost_after`` seconds."""
        last = self._latest
        live_at = self._last_live_at
        # Written as a sum, not a difference: replays pass exactly live_at + lost_after, and
        # (a + b) - a >= b does not always hold in floating point.
        if last is not None and not last.lost and live_at is not None and now >= live_at + self.lost_after:
            self._publish(last.marked_lost(now))
