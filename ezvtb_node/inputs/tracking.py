"""The tracking frame every input produces, and the JSON Lines trace format (docs/contracts.md §3).

A trace line is ``{"t": <seconds>, "source": "vmc"|"ifacialmocap"|..., "channels": {name: value}}``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from ezvtb_node.textfiles import open_text_file as open_text  # traces and captures


@dataclass(frozen=True, slots=True)
class TrackingFrame:
    """One complete set of tracking values.

    ``t`` is the sender's or the trace's clock in seconds (the receiver's own monotonic clock when
    the protocol carries no time); ``received_at`` is ``time.monotonic()`` when the datagram that
    completed this frame arrived, so ``time.monotonic() - received_at`` is the packet-to-here latency.
    ``lost`` is set when the tracker stopped sending (or says it lost the face): the channels are
    then the last known values and the consumer should ease to idle.
    """

    source: str
    channels: Mapping[str, float]
    t: float
    received_at: float
    lost: bool = False

    def marked_lost(self, now: float) -> TrackingFrame:
        return replace(self, received_at=now, lost=True)


def trace_line(frame: TrackingFrame, t: float) -> str:
    """The trace line for ``frame`` stamped with time ``t`` (seconds)."""
    return json.dumps(
        {"t": round(t, 6), "source": frame.source, "channels": dict(frame.channels)},
        separators=(",", ":"),
        allow_nan=False,
    )


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_trace_line(line: str, where: str = "trace") -> TrackingFrame:
    """Parse one trace line; ``where`` (e.g. ``file.jsonl:12``) prefixes any error message."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: expected a JSON object per line, got invalid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
    t = obj.get("t")
    if not _finite_number(t):
        raise ValueError(f'{where}: expected "t" as a finite number of seconds, got {t!r}')
    source = obj.get("source")
    if not isinstance(source, str) or not source:
        raise ValueError(f'{where}: expected "source" as a non-empty string, got {source!r}')
    channels = obj.get("channels")
    if not isinstance(channels, dict):
        raise ValueError(f'{where}: expected "channels" as an object of name: number, got {channels!r}')
    for name, value in channels.items():
        if not _finite_number(value):
            raise ValueError(f"{where}: channel {name!r}: expected a finite number, got {value!r}")
    return TrackingFrame(
        source=source,
        channels={name: float(value) for name, value in channels.items()},
        t=float(t),
        received_at=float(t),
    )


def parse_trace_lines(lines: Iterable[str], name: str = "trace") -> Iterator[TrackingFrame]:
    """Frames from trace lines, skipping blank ones; errors name ``name:line``."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_trace_line(line, f"{name}:{number}")


def read_trace(path: str | Path) -> Iterator[TrackingFrame]:
    """Frames of a trace file, in file order; a malformed line raises ValueError naming file and line."""
    with open_text(path) as file:
        yield from parse_trace_lines(file, str(path))


class TraceWriter:
    """Writes frames as trace lines, ``t`` counted from the first written frame's arrival.

    With ``frame_clock=True``, ``t`` counts from the first frame's own ``t`` instead (a source read
    faster than real time, such as a WAV file, whose frames carry their position in the audio).
    Thread-safe, so several receivers may share one writer. Lost frames are not written: a replay
    recreates the lost state from the gap in time.
    """

    def __init__(self, file: IO[str], frame_clock: bool = False) -> None:
        self._file = file
        self._frame_clock = frame_clock
        self._lock = threading.Lock()
        self._t0: float | None = None
        self.lines_written = 0

    def write(self, frame: TrackingFrame) -> None:
        if frame.lost:
            return
        with self._lock:
            at = frame.t if self._frame_clock else frame.received_at
            if self._t0 is None:
                self._t0 = at
            self._file.write(trace_line(frame, at - self._t0) + "\n")
            self._file.flush()
            self.lines_written += 1
