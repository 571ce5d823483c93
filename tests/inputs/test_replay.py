"""Recording and replaying: trace files (frames) and raw datagram captures (through the parsers)."""

from __future__ import annotations

import io
import json
import math
import socket
import time

import pytest

from ezvtb_node.inputs import (
    DatagramCaptureWriter,
    DatagramReplay,
    IFacialMocapReceiver,
    TraceReplay,
    TraceWriter,
    VmcReceiver,
    read_trace,
)
from tests.virtual_time import VirtualTime

from .conftest import PATIENCE_S, wait_until
from .osc_wire import APPLY, IMMEDIATE, blend, bundle, message


def _record_live_vmc(tmp_path, sink, count=12, interval=0.03):
    """Send ``count`` VMC frames (plus one bad datagram) to a live receiver that records both ways."""
    trace_path, capture_path = tmp_path / "trace.jsonl", tmp_path / "capture.jsonl"
    with open(trace_path, "w") as trace_file, open(capture_path, "w") as capture_file:
        trace, capture = TraceWriter(trace_file), DatagramCaptureWriter(capture_file)
        receiver = VmcReceiver(port=0, on_frame=sink, tap=capture.write, lost_after=5)
        receiver.add_callback(trace.write)
        with receiver, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(count):
                udp.sendto(
                    bundle(IMMEDIATE, blend("JawOpen", i / count), blend("Joy", 1 - i / count)),
                    receiver.address,
                )
                if i == 3:
                    udp.sendto(message("/VMC/Ext/Blend/Val", "JawOpen", float("nan")), receiver.address)
                udp.sendto(APPLY, receiver.address)
                time.sleep(interval)
            assert wait_until(lambda: receiver.stats()["frames"] == count)
            live_stats = receiver.stats()
    return trace_path, capture_path, [f for f in sink.drain() if not f.lost], live_stats


def _replay(make):
    """Play the replay ``make(clock)`` builds to its end, on virtual time; returns (replay, the live
    frames, the seconds it took). The end of a replay is published as lost, like a tracker that
    stops sending. Virtual time: the replay's own pacing code runs, but the frames' times depend on
    no scheduler, so the schedule can be checked exactly."""
    vt = VirtualTime(start=1000.0)
    source = make(vt.clock)
    source._stopping = vt.event()  # the seam: a replay sleeps only through its stop event
    frames = []
    source.add_callback(frames.append)
    started = vt.now
    with source:
        assert source.wait_done(timeout=PATIENCE_S)
    elapsed = vt.now - started
    assert frames[-1].lost
    return source, [f for f in frames if not f.lost], elapsed


def test_trace_round_trip_and_replay_speeds(tmp_path, sink):
    trace_path, _, live, _ = _record_live_vmc(tmp_path, sink)
    recorded = list(read_trace(trace_path))
    assert [f.channels for f in recorded] == [f.channels for f in live]
    assert recorded[0].t == 0.0
    recorded_span = recorded[-1].t
    assert recorded_span == pytest.approx(live[-1].received_at - live[0].received_at, abs=1e-5)

    _, fast, fast_elapsed = _replay(
        lambda clock: TraceReplay(trace_path, speed=math.inf, lost_after=0.2, clock=clock)
    )
    assert [f.channels for f in fast] == [f.channels for f in live]
    assert [f.t for f in fast] == [f.t for f in recorded] and fast[0].source == "vmc"
    _, normal, normal_elapsed = _replay(lambda clock: TraceReplay(trace_path, lost_after=0.2, clock=clock))
    _, quadruple, _ = _replay(lambda clock: TraceReplay(trace_path, speed=4.0, lost_after=0.2, clock=clock))
    assert [f.channels for f in normal] == [f.channels for f in quadruple] == [f.channels for f in live]
    # Frames go out on the recorded schedule: each one at its recorded time (divided by the speed).
    offsets = [f.t - recorded[0].t for f in recorded]
    assert [f.received_at - normal[0].received_at for f in normal] == pytest.approx(offsets, abs=1e-9)
    quarter = [offset / 4 for offset in offsets]
    assert [f.received_at - quadruple[0].received_at for f in quadruple] == pytest.approx(quarter, abs=1e-9)
    assert normal_elapsed == pytest.approx(recorded_span + 0.2)  # ends lost_after past the last frame
    assert fast_elapsed == 0.0  # as fast as possible: no waiting at all


def test_a_pause_in_the_trace_replays_as_lost(tmp_path):
    lines = [{"t": 0.0, "source": "ifacialmocap", "channels": {"jawOpen": 0.5}},
             {"t": 0.1, "source": "ifacialmocap", "channels": {"jawOpen": 0.6}},
             {"t": 1.5, "source": "ifacialmocap", "channels": {"jawOpen": 0.7}}]  # fmt: skip
    path = tmp_path / "pause.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    frames = []
    replay = TraceReplay(path, speed=math.inf, lost_after=0.5, on_frame=frames.append)
    with replay:
        assert replay.wait_done(timeout=PATIENCE_S)
    assert [(f.channels["jawOpen"], f.lost) for f in frames] == [
        (0.5, False), (0.6, False), (0.6, True), (0.7, False), (0.7, True),
    ]  # fmt: skip


def test_raw_capture_replays_through_the_real_parser(tmp_path, sink):
    _, capture_path, live, live_stats = _record_live_vmc(tmp_path, sink)
    captured = [json.loads(line) for line in capture_path.read_text().splitlines()]
    assert len(captured) == live_stats["datagrams"] == 25 and {c["source"] for c in captured} == {"vmc"}
    replay, frames, _ = _replay(
        lambda clock: DatagramReplay(capture_path, speed=math.inf, lost_after=0.2, clock=clock)
    )
    assert [f.channels for f in frames] == [f.channels for f in live]
    stats = replay.stats()
    assert (
        stats["non_finite"] == live_stats["non_finite"] == 1 and stats["messages"] == live_stats["messages"]
    )


def test_ifacialmocap_capture_replays(tmp_path, sink):
    capture_path = tmp_path / "ifm.jsonl"
    with open(capture_path, "w") as file, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        writer = DatagramCaptureWriter(file)
        with IFacialMocapReceiver(port=0, on_frame=sink, tap=writer.write) as receiver:
            for value in (10, 20, 30):
                udp.sendto(f"jawOpen-{value}|".encode(), receiver.address)
            assert wait_until(lambda: receiver.stats()["frames"] == 3)
    _, frames, _ = _replay(
        lambda clock: DatagramReplay(capture_path, speed=math.inf, lost_after=0.2, clock=clock)
    )
    assert [f.channels["jawOpen"] for f in frames] == [0.1, 0.2, 0.3]
    assert frames[0].source == "ifacialmocap"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "trace.jsonl:2: expected a JSON object per line, got invalid JSON"),
        ("[1, 2]", "trace.jsonl:2: expected a JSON object per line, got list"),
        (
            '{"source": "vmc", "channels": {}}',
            'trace.jsonl:2: expected "t" as a finite number of seconds, got None',
        ),
        ('{"t": 1, "channels": {}}', 'expected "source" as a non-empty string, got None'),
        ('{"t": 1, "source": "vmc", "channels": [1]}', 'expected "channels" as an object of name: number'),
        (
            '{"t": 1, "source": "vmc", "channels": {"jawOpen": "x"}}',
            "channel 'jawOpen': expected a finite number",
        ),
        ('{"t": 1, "source": "vmc", "channels": {"jawOpen": NaN}}', "expected a finite number, got nan"),
    ],
)
def test_bad_trace_lines_name_file_line_and_expectation(tmp_path, line, message):
    path = tmp_path / "trace.jsonl"
    path.write_text('{"t": 0, "source": "vmc", "channels": {"jawOpen": 0.5}}\n' + line + "\n")
    with pytest.raises(ValueError) as error:
        list(read_trace(path))
    assert message in str(error.value)


def test_replay_skips_and_counts_bad_lines(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"t": 0, "source": "vmc", "channels": {"a": 1}}\n\ngarbage\n'
        '{"t": 0.01, "source": "vmc", "channels": {"a": 2}}\n'
    )
    replay, frames, _ = _replay(lambda clock: TraceReplay(path, speed=math.inf, clock=clock))
    assert [f.channels["a"] for f in frames] == [1.0, 2.0]
    assert replay.stats()["bad_lines"] == 1 and replay.stats()["records"] == 2


def test_replay_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="replay speed must be a positive multiple"):
        TraceReplay(tmp_path / "x.jsonl", speed=0)
    with pytest.raises(FileNotFoundError, match="replay file not found"):
        TraceReplay(tmp_path / "missing.jsonl").start()


def test_trace_writer_skips_lost_frames_and_counts_from_the_first_frame():
    from ezvtb_node.inputs import TrackingFrame

    out = io.StringIO()
    writer = TraceWriter(out)
    writer.write(TrackingFrame("vmc", {"jawOpen": 0.5}, t=99.0, received_at=10.0))
    writer.write(TrackingFrame("vmc", {"jawOpen": 0.5}, t=99.0, received_at=10.5, lost=True))
    writer.write(TrackingFrame("vmc", {"jawOpen": 0.25}, t=99.1, received_at=10.75))
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"t": 0.0, "source": "vmc", "channels": {"jawOpen": 0.5}},
        {"t": 0.75, "source": "vmc", "channels": {"jawOpen": 0.25}},
    ]


def test_gzipped_traces_replay_like_plain_ones(tmp_path):
    import gzip

    lines = [
        '{"t": 0.0, "source": "vmc", "channels": {"jawOpen": 0.25}}',
        '{"t": 0.01, "source": "vmc", "channels": {"jawOpen": 0.75}}',
    ]
    path = tmp_path / "trace.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    assert [f.channels["jawOpen"] for f in read_trace(path)] == [0.25, 0.75]
