"""Replaying recorded tracking: trace files (frames) and raw datagram captures (through the real parsers).

Both are FrameSources like the live receivers: same callbacks, ``latest()``, ``stats()`` and lost
state (a gap longer than ``lost_after`` in the recording, and the end of it, publish a lost frame).
``speed`` is a multiple of the recorded pace; ``math.inf`` replays as fast as possible.

A capture file is JSON Lines too, one datagram per line:
``{"t": <seconds>, "source": "vmc"|"ifacialmocap"|"facemotion3d", "datagram": "<base64>"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ezvtb_node.inputs.ifacialmocap import IFacialMocapDecoder
from ezvtb_node.inputs.source import DEFAULT_LOST_AFTER_S, FrameCallback, FrameSource
from ezvtb_node.inputs.tracking import TrackingFrame, open_text, parse_trace_line
from ezvtb_node.inputs.udp import Decoder
from ezvtb_node.inputs.vmc import VmcDecoder
from ezvtb_node.sources import FACEMOTION3D, IFACIALMOCAP, VMC

DECODERS: dict[str, Callable[[], Decoder]] = {
    VMC: VmcDecoder,
    IFACIALMOCAP: lambda: IFacialMocapDecoder(IFACIALMOCAP),
    FACEMOTION3D: lambda: IFacialMocapDecoder(FACEMOTION3D),
}


class _PacedReplay(FrameSource):
    """Plays timed records of a JSON Lines file at ``speed`` × the recorded pace on its own thread."""

    COUNTERS = (*FrameSource.COUNTERS, "records", "bad_lines")

    def __init__(
        self,
        path: str | Path,
        *,
        speed: float = 1.0,
        loop: bool = False,
        lost_after: float = DEFAULT_LOST_AFTER_S,
        on_frame: FrameCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: the monotonic clock that paces the replay and stamps ``received_at`` (tests
        pass a virtual one; waits still go through the stop event, so ``stop()`` interrupts them)."""
        super().__init__(lost_after=lost_after, on_frame=on_frame)
        if not speed > 0:
            raise ValueError(f"replay speed must be a positive multiple (or inf), got {speed!r}")
        self.path = Path(path)
        self.speed = speed
        self.loop = loop
        self._clock = clock
        self._done = threading.Event()

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until the whole file was played (never, with loop=True); True when done."""
        return self._done.wait(timeout)

    def _open(self) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(f"replay file not found: {self.path}")
        self._done.clear()

    def _wake(self) -> None:
        pass  # _run waits on the _stopping event itself

    def _run(self) -> None:
        while True:
            self._play_once()
            if not self.loop or self._stopping.is_set():
                break
        self._done.set()

    def _play_once(self) -> None:
        started = self._clock()
        first_t = previous_t = None
        for t, record in self._records():
            if first_t is None:
                first_t = previous_t = t
            if t - previous_t > self.lost_after:
                self._wait_until(started, first_t, previous_t + self.lost_after)
                self._mark_lost()
            if not self._wait_until(started, first_t, t):
                return
            self._counters.add("records")
            self._emit(record, t)
            previous_t = t
        if previous_t is not None and self._wait_until(started, first_t, previous_t + self.lost_after):
            self._mark_lost()

    def _mark_lost(self) -> None:
        """The recording paused for longer than ``lost_after``: publish the lost state, and forget
        the sender, as live would."""
        if self._last_live_at is not None:
            self._check_lost(self._last_live_at + self.lost_after)
        self._forget_senders()

    def _forget_senders(self) -> None:
        """Hook: a capture replay resets its decoders (see DatagramReplay)."""

    def _wait_until(self, started: float, first_t: float, t: float) -> bool:
        """Sleep until recorded time ``t`` is due; False when stopped meanwhile."""
        if math.isinf(self.speed):
            return not self._stopping.is_set()
        delay = started + (t - first_t) / self.speed - self._clock()
        return not self._stopping.wait(delay) if delay > 0 else not self._stopping.is_set()

    def _records(self) -> Iterator[tuple[float, object]]:
        with open_text(self.path) as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                where = f"{self.path}:{number}"
                try:
                    yield self._parse(line, where)
                except ValueError as exc:
                    self._counters.add("bad_lines")
                    self._warn.warning("bad_lines", f"skipped {exc}")

    def _parse(self, line: str, where: str) -> tuple[float, object]:
        raise NotImplementedError

    def _emit(self, record: object, t: float) -> None:
        raise NotImplementedError


class TraceReplay(_PacedReplay):
    """Publishes the frames of a trace file (docs/contracts.md §3); ``t`` is the trace time."""

    name = "trace-replay"

    def _parse(self, line: str, where: str) -> tuple[float, TrackingFrame]:
        frame = parse_trace_line(line, where)
        return frame.t, frame

    def _emit(self, record: TrackingFrame, t: float) -> None:
        now = self._clock()
        self._publish(TrackingFrame(record.source, record.channels, record.t, now))


class DatagramReplay(_PacedReplay):
    """Feeds the datagrams of a capture file through fresh protocol decoders, as if they arrived now."""

    name = "datagram-replay"

    def __init__(self, path: str | Path, **options) -> None:
        super().__init__(path, **options)
        self._decoders: dict[str, Decoder] = {}

    def stats(self) -> dict[str, int]:
        merged = super().stats()
        for decoder in list(self._decoders.values()):
            for reason, count in decoder.counters.snapshot().items():
                merged[reason] = merged.get(reason, 0) + count
        return merged

    def _forget_senders(self) -> None:
        # As a live receiver does after lost_after of silence: whoever sends next starts afresh.
        for decoder in self._decoders.values():
            decoder.reset()

    def _parse(self, line: str, where: str) -> tuple[float, tuple[str, bytes]]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: expected a JSON object per line ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
        t, source, payload = obj.get("t"), obj.get("source"), obj.get("datagram")
        if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
            raise ValueError(f'{where}: expected "t" as a finite number of seconds, got {t!r}')
        if source not in DECODERS:
            raise ValueError(f'{where}: expected "source" to be one of {sorted(DECODERS)}, got {source!r}')
        try:
            data = base64.b64decode(payload, validate=True)
        except (TypeError, ValueError, binascii.Error):
            got = str(payload)[:40]
            raise ValueError(f'{where}: expected "datagram" as base64 text, got {got!r}') from None
        return float(t), (source, data)

    def _emit(self, record: tuple[str, bytes], t: float) -> None:
        source, data = record
        decoder = self._decoders.get(source)
        if decoder is None:
            decoder = self._decoders[source] = DECODERS[source]()
        for frame in decoder.feed(data, self._clock()):
            self._publish(frame)


def open_replay(path: str | Path, **options) -> _PacedReplay:
    """A TraceReplay or DatagramReplay for ``path``, chosen by its first record (``datagram`` key or not).

    ``options`` as for either replay (speed, loop, lost_after, on_frame).
    """
    try:
        with open_text(path) as file:
            first = next((line for line in file if line.strip()), "")
    except FileNotFoundError:
        raise FileNotFoundError(f"replay file not found: {path}") from None
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        record = None  # the replay itself reports the bad line
    is_capture = isinstance(record, dict) and "datagram" in record
    return (DatagramReplay if is_capture else TraceReplay)(path, **options)


class DatagramCaptureWriter:
    """Writes raw datagrams as capture lines; pass ``writer.write`` as a receiver's ``tap``.

    Thread-safe; ``t`` counts from the first datagram.
    """

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self._lock = threading.Lock()
        self._t0: float | None = None
        self.lines_written = 0

    def write(self, source: str, data: bytes, received_at: float) -> None:
        with self._lock:
            if self._t0 is None:
                self._t0 = received_at
            line = {
                "t": round(received_at - self._t0, 6),
                "source": source,
                "datagram": base64.b64encode(data).decode("ascii"),
            }
            self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._file.flush()
            self.lines_written += 1
