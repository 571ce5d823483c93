"""`ezvtb-node listen` (what is my tracker sending?) and `ezvtb-node record FILE`."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from ezvtb_node.inputs.replay import DatagramCaptureWriter, open_replay
from ezvtb_node.inputs.settings import (
    RECEIVER_KEYS,
    SourceSettings,
    add_source_flags,
    given_settings,
    make_tracking_sources,
)
from ezvtb_node.inputs.source import FrameSource
from ezvtb_node.inputs.tracking import TraceWriter, TrackingFrame, trace_line

# Counters that are not drops, left out of the "drops" column. Unknown addresses are drops: a
# sender on the wrong addresses must not read "drops: none".
_NOT_DROPS = frozenset(
    {"frames", "lost", "datagrams", "messages", "packets", "records", "blocks", "commands", "sender_changes"}
)


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    add_source_flags(parser)  # the very flags of `run` (and node.toml's [input] keys)
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl+C)")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="play a WAV file at its real pace (default: as fast as it decodes, unless trackers run too)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    listen = subparsers.add_parser(
        "listen",
        help="show what a tracker is sending",
        description="Listen for tracking and print it: a live table of channels, rates and drop counters, "
        "or JSON lines in the trace format (--json). Without source options: VMC and iFacialMocap "
        "on their default ports.",
    )
    _add_source_options(listen)
    listen.add_argument("--json", action="store_true", help="print trace lines instead of the table")
    listen.add_argument(
        "--replay", metavar="FILE", help="play a trace or a raw capture (record --raw) instead of listening"
    )
    listen.add_argument("--speed", type=float, default=1.0, help="replay speed multiple (inf: no waiting)")
    listen.set_defaults(handler=listen_command)

    record = subparsers.add_parser(
        "record",
        help="record tracking to a trace file",
        description="Record tracking frames as JSON lines in the trace format (t counted from the first "
        "frame), or with --raw every datagram as received (base64) for replay through the parsers.",
    )
    record.add_argument("file", help="output file (.jsonl)")
    _add_source_options(record)
    record.add_argument("--raw", action="store_true", help="capture raw datagrams instead of frames")
    record.set_defaults(handler=record_command)


def source_settings(args: argparse.Namespace) -> SourceSettings:
    """The settings of the flags given. Unlike `run`, which starts from node.toml's defaults, these
    commands listen only to the inputs named, or, when none is named, to VMC and iFacialMocap on
    their default ports (what is my tracker sending?)."""
    given = given_settings(args)
    if any(key in given for key in (*RECEIVER_KEYS, "audio")):
        return SourceSettings(**{"vmc": "off", **given})
    return SourceSettings(**{"vmc": "on", "ifacialmocap": "on", **given})


def build_sources(args: argparse.Namespace, **hooks) -> list[FrameSource]:
    """The sources the source options ask for (VMC and iFacialMocap by default)."""
    settings = source_settings(args)
    # Beside live trackers a WAV file plays at its real pace; alone, as fast as it decodes.
    realtime = bool(args.realtime or settings.receivers())
    return make_tracking_sources(settings, realtime_audio=realtime, **hooks)


def _audio_file_alone(args: argparse.Namespace) -> bool:
    """A WAV file without live trackers: read faster than real time, so its frames' own ``t`` (the
    position in the audio) is the clock to print and record."""
    settings = source_settings(args)
    if not settings.audio or settings.receivers():
        return False
    from ezvtb_node.inputs.voice.source import is_audio_file

    return is_audio_file(settings.audio)


def _run_until_done(sources: list[FrameSource], duration: float | None, tick: Callable[[], None]) -> None:
    """Start the sources, call ``tick`` twice a second until the duration passes or Ctrl+C, stop them."""
    deadline = math.inf if duration is None else time.monotonic() + duration
    with contextlib.ExitStack() as stack:
        for source in sources:
            stack.enter_context(source)
        try:
            while time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                tick()
                if all(s.wait_done(0) for s in sources):
                    break
        except KeyboardInterrupt:
            pass


def listen_command(args: argparse.Namespace) -> int:
    out = sys.stdout
    lock = threading.Lock()
    started = time.monotonic()
    file_clock = not args.replay and _audio_file_alone(args)
    if args.json:

        def print_frame(frame: TrackingFrame) -> None:
            if not frame.lost:
                t = frame.t if file_clock else frame.received_at - started
                with lock:
                    out.write(trace_line(frame, t) + "\n")
                    out.flush()

        hooks = {"on_frame": print_frame}
    else:
        hooks = {}
    if args.replay:
        lost_after = source_settings(args).lost_after
        replay = open_replay(args.replay, speed=args.speed, lost_after=lost_after, **hooks)
        sources: list[FrameSource] = [replay]
    else:
        sources = build_sources(args, **hooks)
    table = LiveTable(sources, out)
    if not args.json:
        for source in sources:
            where = getattr(source, "address", None)
            print(f"listening: {source.name} on {where}" if where else f"replaying {args.replay}", file=out)
    _run_until_done(sources, args.duration, (lambda: None) if args.json else table.draw)
    return 0


def record_command(args: argparse.Namespace) -> int:
    failed: list[OSError] = []  # the first write error, from a source's thread; it ends the recording

    def guarded(write: Callable) -> Callable:
        def write_or_note(*item) -> None:
            if not failed:
                try:
                    write(*item)
                except OSError as exc:
                    failed.append(exc)

        return write_or_note

    def stop_on_failure() -> None:
        if failed:
            raise RuntimeError(f"cannot write {args.file}: {failed[0].strerror or failed[0]}")

    # Only the file's own errors are "cannot write": a missing audio file or a taken port says itself.
    try:
        file = open(args.file, "w", encoding="utf-8")  # noqa: SIM115 (closed in the finally below)
    except OSError as exc:
        raise RuntimeError(f"cannot write {args.file}: {exc.strerror or exc}") from None
    try:
        if args.raw:
            writer = DatagramCaptureWriter(file)
            sources = build_sources(args, tap=guarded(writer.write))
        else:
            writer = TraceWriter(file, frame_clock=_audio_file_alone(args))
            sources = build_sources(args, on_frame=guarded(writer.write))
        for source in sources:
            print(f"recording {source.name} on {source.address} to {args.file}", file=sys.stderr)
        _run_until_done(sources, args.duration, stop_on_failure)
        try:
            file.flush()  # a full disk may refuse the last lines only now
        except OSError as exc:
            failed.append(exc)
        stop_on_failure()
    finally:
        # After a failed write the buffer still holds lines the disk refused: closing would fail
        # again and hide the one clear message.
        with contextlib.suppress(OSError):
            file.close()
    kind = "datagrams" if args.raw else "frames"
    print(f"wrote {writer.lines_written} {kind} to {args.file}", file=sys.stderr)
    return 0


class LiveTable:
    """A compact text view of each source: state, rates, drops by reason and current channel values."""

    def __init__(self, sources: list[FrameSource], out: IO[str]) -> None:
        self._sources = sources
        self._out = out
        self._previous: dict[int, tuple[float, dict[str, int]]] = {}
        self._clear = "\x1b[H\x1b[2J" if out.isatty() and os.environ.get("TERM") != "dumb" else ""

    def render(self, now: float) -> str:
        lines = []
        for source in self._sources:
            stats = source.stats()
            then, before = self._previous.get(id(source), (now, stats))
            self._previous[id(source)] = (now, stats)
            elapsed = max(now - then, 1e-9)
            keys = [key for key in ("frames", "datagrams") if key in stats]
            rate = {key: (stats[key] - before[key]) / elapsed for key in keys}
            frame = source.latest()
            state = "waiting" if frame is None else "LOST" if frame.lost else "tracking"
            drops = " ".join(f"{k}={v}" for k, v in stats.items() if v and k not in _NOT_DROPS) or "none"
            rates = "  ".join(f"{key}/s {value:6.1f}" for key, value in rate.items())
            sender = getattr(source, "sender", None)
            sender_text = f"  from {sender[0]}:{sender[1]}" if sender else ""
            header = f"[{source.name}] {state}  {rates}  frames {stats['frames']}  drops: {drops}"
            lines.append(header + sender_text)
            if frame is not None:
                cells = [f"{name:>20} {value:8.3f}" for name, value in sorted(frame.channels.items())]
                lines.extend("  ".join(cells[i : i + 3]) for i in range(0, len(cells), 3))
        return "\n".join(lines)

    def draw(self) -> None:
        self._out.write(self._clear + self.render(time.monotonic()) + "\n")
        self._out.flush()
