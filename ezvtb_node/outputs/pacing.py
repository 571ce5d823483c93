"""Steady output rate: frame batches in, one frame per tick out.

The core returns a batch of n frames per render (n-1 interpolated frames, then the real one) at
whatever rate rendering manages. The pacer spreads each batch evenly over the time until the next
batch is expected, and emits exactly one frame per tick of a fixed-rate clock (default 60 fps):

* ticks are absolute deadlines ``t0 + k / fps`` on ``time.monotonic``, so sleep errors never add up;
* when nothing new is due, the newest frame is emitted again (receivers see a steady stream);
* a newer batch replaces what is left of the older one (newest wins, never a queue of stale frames);
* after a stall (a slow emit, a suspended process) the missed ticks are skipped, not replayed in a
  burst.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ezvtb_node.percentiles import percentile_ms

log = logging.getLogger(__name__)

# Bounds for the estimated time between batches: the first batch assumes one tick per frame, and a
# pause in rendering longer than this must not stretch the next batch over a long time.
_MAX_BATCH_INTERVAL_S = 0.25
# Weight of a new observation in the running estimate of the batch interval.
_INTERVAL_SMOOTHING = 0.2
_LATENESS_WINDOW = 20_000


class Pacer:
    """Emit frames at a fixed rate on its own thread; feed it with :meth:`submit`.

    ``emit`` is called on the pacer thread with a frame the pacer owns and never modifies, so it
    can be handed straight to several sinks' ``send``.
    """

    def __init__(
        self,
        emit: Callable[[np.ndarray], None],
        fps: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_marker: Callable[[Any, float], None] | None = None,
    ) -> None:
        if not (isinstance(fps, int | float) and math.isfinite(fps) and 1 <= fps <= 1000):
            raise ValueError(f"output rate must be between 1 and 1000 frames per second, got {fps!r}")
        self._emit = emit
        self._period = 1.0 / fps
        self._clock = clock
        self._lock = threading.Lock()
        # Notified when the last frame of a batch has been emitted (see wait_shown).
        self._shown = threading.Condition(self._lock)
        self._shown_batch = 0  # number of the newest batch whose last frame was emitted
        self._times: list[float] = []  # when each pending frame becomes due, ascending
        self._frames: list[np.ndarray] = []
        # A marker travels with the last frame of its batch and is reported when that frame is
        # first emitted: the node uses it to measure tracking packet -> frame handed to the sinks.
        self._markers: list[Any] = []
        self._on_marker = on_marker
        self._current: np.ndarray | None = None
        self._last_batch_at: float | None = None
        self._batch_interval: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lateness: deque[float] = deque(maxlen=_LATENESS_WINDOW)
        self._counts = {
            "batches": 0,
            "emit_errors": 0,
            "ticks": 0,
            "new": 0,
            "repeated": 0,
            "skipped_ticks": 0,
            "superseded": 0,
        }

    @property
    def fps(self) -> float:
        return 1.0 / self._period

    # -- input --------------------------------------------------------------------------------------

    def submit(self, frames: Sequence[np.ndarray], now: float | None = None, marker: Any = None) -> None:
        """Take a batch (interpolated frames first, the real frame last); copies it, returns at once.

        ``marker`` (any value) is passed to ``on_marker`` with the time the batch's last frame is
        first emitted.
        """
        if len(frames) == 0:
            raise ValueError("a frame batch must hold at least one frame, got an empty batch")
        copies = [np.array(frame, copy=True) for frame in frames]
        now = self._clock() if now is None else now
        with self._lock:
            interval = self._update_interval(now, len(copies))
            step = interval / len(copies)
            self._counts["superseded"] += len(self._frames)
            self._times = [now + i * step for i in range(len(copies))]
            self._frames = copies
            self._markers = [None] * (len(copies) - 1) + [marker]
            self._counts["batches"] += 1

    def _update_interval(self, now: float, n: int) -> float:
        if self._last_batch_at is None:
            estimate = n * self._period
        else:
            gap = min(max(now - self._last_batch_at, self._period), _MAX_BATCH_INTERVAL_S)
            previous = self._batch_interval if self._batch_interval is not None else gap
            estimate = previous + _INTERVAL_SMOOTHING * (gap - previous)
        self._last_batch_at, self._batch_interval = now, estimate
        return estimate

    # -- selection (pure, driven by the thread or by tests) -----------------------------------------

    def frame_for(self, deadline: float) -> np.ndarray | None:
        """The frame to show at ``deadline``: the newest one due by then, or the previous one again."""
        frame, _, _ = self._select(deadline)
        return frame

    def _select(self, deadline: float) -> tuple[np.ndarray | None, Any, int | None]:
        """(frame, marker, batch): ``batch`` is the batch's number when ``frame`` is its last one."""
        marker = finished = None
        with self._lock:
            due = bisect.bisect_right(self._times, deadline)
            if due:
                self._current = self._frames[due - 1]
                marker = next((m for m in reversed(self._markers[:due]) if m is not None), None)
                self._counts["superseded"] += due - 1
                del self._times[:due], self._frames[:due], self._markers[:due]
                self._counts["new"] += 1
                if not self._times:
                    finished = self._counts["batches"]
            elif self._current is not None:
                self._counts["repeated"] += 1
            self._counts["ticks"] += 1
            return self._current, marker, finished

    def wait_shown(self, timeout: float) -> bool:
        """Wait until the last frame of the newest batch submitted so far has been emitted.

        True once it has (at once when nothing was submitted); False after ``timeout`` seconds or
        when the pacer thread is not running. For an orderly end: a node whose input has ended
        lets its last rendered frames reach the outputs before it stops.
        """
        with self._shown:
            target = self._counts["batches"]
            self._shown.wait_for(lambda: self._shown_batch >= target or self._thread is None, timeout)
            return self._shown_batch >= target

    # -- thread -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("pacer is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ezvtb-pacer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        with self._shown:
            thread, self._thread = self._thread, None
            self._shown.notify_all()  # nothing more will be shown: release wait_shown
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def __enter__(self) -> Pacer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        period = self._period
        origin = self._clock()
        tick = 1
        while not self._stop.is_set():
            deadline = origin + tick * period
            remaining = deadline - self._clock()
            if remaining > 0 and self._stop.wait(remaining):
                break
            self._lateness.append(self._clock() - deadline)
            frame, marker, finished = self._select(deadline)
            if frame is not None:
                self._emit_safely(frame)
                if marker is not None and self._on_marker is not None:
                    self._on_marker(marker, self._clock())
            if finished is not None:
                with self._shown:
                    self._shown_batch = max(self._shown_batch, finished)
                    self._shown.notify_all()
            tick += 1
            # No catch-up burst: deadlines already in the past are skipped, not served back to back.
            behind = math.floor((self._clock() - origin) / period) + 1 - tick
            if behind > 0:
                tick += behind
                with self._lock:
                    self._counts["skipped_ticks"] += behind

    def _emit_safely(self, frame: np.ndarray) -> None:
        # A failing receiver must not stop the clock for the others: count, log once, go on.
        try:
            self._emit(frame)
        except Exception as exc:
            with self._lock:
                self._counts["emit_errors"] += 1
                first = self._counts["emit_errors"] == 1
            if first:
                log.error("pacer: emitting a frame failed: %s (further failures are only counted)", exc)

    # -- statistics ---------------------------------------------------------------------------------

    def lateness_samples(self) -> list[float]:
        """Recent wake-up lateness against each tick's deadline, in seconds (for benchmarks)."""
        return list(self._lateness)

    def stats(self) -> dict[str, Any]:
        """Counters (ticks, new, repeated, skipped_ticks, superseded, batches, emit_errors), lateness ms."""
        with self._lock:
            stats: dict[str, Any] = {"fps": self.fps, **self._counts}
        late = list(self._lateness)
        stats["lateness_ms_p50"] = percentile_ms(late, 50)
        stats["lateness_ms_p99"] = percentile_ms(late, 99)
        return stats
