"""The node's numbers: rolling rates and percentiles for /metrics, and the live status line.

``NodeMetrics`` is written through its methods by the source threads (``input_arrived``), the
render thread (``tracking``, ``frame_rendered``, ``render_failed``) and the pacer thread
(``latency``), and read by any thread (``snapshot``, the read-only properties); a lock guards the
rolling windows and counters.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ezvtb_node.percentiles import percentile_ms
from ezvtb_node.progress import console_width, has_console


class NodeMetrics:
    """Rolling numbers for the status line and /metrics."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._inputs: deque[float] = deque(maxlen=4096)
        self._renders: deque[float] = deque(maxlen=4096)
        self._render_s: deque[float] = deque(maxlen=600)
        self._latency_s: deque[float] = deque(maxlen=2000)
        self._rendered = 0
        self._render_errors = 0
        self._tracking_state = "waiting"
        self._tracking_source: str | None = None

    @property
    def rendered(self) -> int:
        """THA3 frames rendered so far."""
        return self._rendered

    @property
    def tracking_state(self) -> str:
        """What the last rendered frame was drawn from: "waiting" (nothing yet), "live" or "lost"."""
        return self._tracking_state

    def tracking(self, state: str, source: str | None) -> None:
        """The tracking state and source of the frame being rendered."""
        with self._lock:
            self._tracking_state, self._tracking_source = state, source

    def input_arrived(self, at: float) -> None:
        with self._lock:
            self._inputs.append(at)

    def frame_rendered(self, seconds: float, at: float) -> None:
        with self._lock:
            self._renders.append(at)
            self._render_s.append(seconds)
            self._rendered += 1

    def render_failed(self) -> int:
        """Count a frame that could not be rendered; returns how many failed so far."""
        with self._lock:
            self._render_errors += 1
            return self._render_errors

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency_s.append(seconds)

    @staticmethod
    def _rate(stamps: deque[float], now: float, window: float = 2.0) -> float:
        recent = [s for s in stamps if now - s <= window]
        return len(recent) / window

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            render_s = list(self._render_s)
            latency = list(self._latency_s)
            return {
                "uptime_s": round(now - self.started, 3),
                "tracking": {
                    "state": self._tracking_state,
                    "source": self._tracking_source,
                    "input_fps": self._rate(self._inputs, now),
                },
                "render": {
                    "frames": self._rendered,
                    "errors": self._render_errors,
                    "fps": self._rate(self._renders, now),
                    "ms_p50": percentile_ms(render_s, 50),
                    "ms_p99": percentile_ms(render_s, 99),
                },
                "latency_ms": {
                    "what": "tracking packet arrival -> its frame handed to the sinks",
                    "p50": percentile_ms(latency, 50),
                    "p99": percentile_ms(latency, 99),
                    "samples": len(latency),
                },
            }


def status_line(snapshot: dict[str, Any], frames_per_inference: int) -> str:
    """One line: input rate, render time, output fps, cache hits, latency, tracking state."""
    hit = snapshot.get("cache", {}).get("hit_rate")
    out_fps = snapshot["render"]["fps"] * frames_per_inference
    lat = snapshot["latency_ms"]
    return (
        f"in {snapshot['tracking']['input_fps']:5.1f}/s | render {_fmt(snapshot['render']['ms_p50'])} ms"
        f" | out {out_fps:5.1f} new fps | cache {'-' if hit is None else f'{hit:4.0%}'}"
        f" | latency p50 {_fmt(lat['p50'])} p99 {_fmt(lat['p99'])} ms"
        f" | tracking {snapshot['tracking']['state']}"
    )


class StatusPrinter:
    """Prints ``line()`` on stderr: redrawn every second on a console, every 10 s in a log, never
    when there is no stderr (pythonw, a script OBS starts)."""

    def __init__(self, line: Callable[[], str], stop: threading.Event) -> None:
        self._line = line
        self._stop = stop
        self._interactive = has_console(sys.stderr)
        self._thread = threading.Thread(target=self._run, name="ezvtb-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        if self._interactive and sys.stderr is not None:
            sys.stderr.write("\n")

    def _run(self) -> None:
        period = 1.0 if self._interactive else 10.0
        while not self._stop.wait(period):
            self.show(self._line())

    def show(self, line: str) -> None:
        if sys.stderr is None:
            return
        if self._interactive:
            sys.stderr.write("\r" + line[: console_width() - 1].ljust(40))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
