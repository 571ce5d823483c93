"""`ezvtb-node listen` and `record`, run as real processes against real UDP traffic."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ezvtb_node.inputs import DatagramReplay, open_replay, read_trace
from ezvtb_node.inputs.tracking import parse_trace_line

from .conftest import PATIENCE_S
from .osc_wire import APPLY, IMMEDIATE, blend, bundle


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli_until(args: list[str], port: int, datagrams: list[bytes], enough: Callable[[list[str]], bool]):
    """Run ``ezvtb-node ARGS`` while sending ``datagrams`` every 30 ms until ``enough(stdout lines
    so far)`` holds, then press Ctrl+C; returns (rc, stdout lines, stderr).

    The command runs until Ctrl+C (no ``--duration``), so how much it receives depends on when
    ``enough`` is satisfied, not on how fast a loaded machine starts it or runs its threads.
    (Windows has no SIGINT for a child: there the command runs for a generous fixed time.)
    """
    stop_by_signal = sys.platform != "win32"
    command = [
        sys.executable,
        "-m",
        "ezvtb_node.cli",
        *args,
        *([] if stop_by_signal else ["--duration", "10"]),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts the tests in the background ignores SIGINT, and children inherit
        # that: the command would never see our Ctrl+C. Give it the default handling back.
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if stop_by_signal else None,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + PATIENCE_S
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            while process.poll() is None and not (stop_by_signal and enough(list(lines))):
                assert time.monotonic() < deadline, f"not enough after {PATIENCE_S:g} s: {lines[-5:]}"
                for datagram in datagrams:
                    sender.sendto(datagram, ("127.0.0.1", port))
                time.sleep(0.03)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(PATIENCE_S)
    return process.returncode, lines, process.stderr.read()


def lines_in(path) -> Callable[[list[str]], int]:
    """How many complete lines ``path`` holds (the recorders flush each line)."""
    return lambda _stdout: path.read_text().count("\n") if path.exists() else 0


def frame_datagrams(value: float) -> list[bytes]:
    """One whole frame per datagram: the command starts listening at some moment of our sending, and
    a frame split over datagrams could be caught half (its Apply without its values)."""
    return [bundle(IMMEDIATE, blend("JawOpen", value), blend("Blink_L", 1.0), APPLY)]


def test_listen_json_prints_trace_lines():
    port = free_udp_port()
    rc, lines, stderr = run_cli_until(
        ["listen", "--json", "--vmc", f"127.0.0.1:{port}"],
        port,
        frame_datagrams(0.5),
        lambda out: len(out) >= 10,
    )
    assert rc == 0, stderr
    frames = [parse_trace_line(line) for line in lines]
    assert len(frames) >= 10
    assert all(f.source == "vmc" and f.channels == {"jawOpen": 0.5, "vrm.Blink_L": 1.0} for f in frames)
    times = [f.t for f in frames]
    assert times == sorted(times) and times[0] >= 0
    assert set(json.loads(lines[0])) == {"t", "source", "channels"}


def test_listen_table_shows_state_rates_drops_and_values():
    port = free_udp_port()

    def frames_per_s(line: str) -> float:
        return float(line.split("frames/s")[1].split()[0])

    def tracking_shown(out: list[str]) -> bool:  # a redraw while frames and junk were flowing
        return any(
            line.startswith("[vmc] tracking") and frames_per_s(line) > 0 and "bad_osc=" in line
            for line in out
        )

    rc, lines, stderr = run_cli_until(
        ["listen", "--vmc", f"127.0.0.1:{port}"], port, [*frame_datagrams(0.25), b"junk"], tracking_shown
    )
    assert rc == 0, stderr
    output = "".join(lines)
    assert f"listening: vmc on ('127.0.0.1', {port})" in output
    header = next(line for line in lines if line.startswith("[vmc] tracking") and frames_per_s(line) > 0)
    assert "bad_osc=" in header
    # At most the rate we send (a frame per 30 ms), give or take a burst after a stall.
    assert 0 < frames_per_s(header) < 100
    assert "jawOpen    0.250" in output and "vrm.Blink_L    1.000" in output


def test_record_writes_a_trace_and_raw_captures_replay(tmp_path):
    port = free_udp_port()
    trace = tmp_path / "session.jsonl"
    rc, _, stderr = run_cli_until(
        ["record", str(trace), "--vmc", f"127.0.0.1:{port}"],
        port,
        frame_datagrams(0.75),
        lambda out: lines_in(trace)(out) >= 10,
    )
    assert rc == 0, stderr
    frames = list(read_trace(trace))
    assert f"wrote {len(frames)} frames to {trace}" in stderr and len(frames) >= 10
    assert frames[0].t == 0.0 and all(f.channels == {"jawOpen": 0.75, "vrm.Blink_L": 1.0} for f in frames)

    capture = tmp_path / "session.raw.jsonl"
    rc, _, stderr = run_cli_until(
        ["record", str(capture), "--raw", "--vmc", f"127.0.0.1:{port}"],
        port,
        frame_datagrams(0.5),
        lambda out: lines_in(capture)(out) >= 10,
    )
    assert rc == 0, stderr
    replayed = []
    replay = open_replay(capture, speed=math.inf, on_frame=replayed.append)
    assert isinstance(replay, DatagramReplay)
    with replay:
        assert replay.wait_done(PATIENCE_S)
    live = [f for f in replayed if not f.lost]
    assert len(live) >= 10 and all(f.channels["jawOpen"] == 0.5 for f in live)
    # listen plays a capture through the parsers as well
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ezvtb_node.cli",
            "listen",
            "--json",
            "--replay",
            str(capture),
            "--speed",
            "inf",
        ],
        capture_output=True,
        text=True,
        timeout=PATIENCE_S * 2,
    )
    assert out.returncode == 0, out.stderr
    assert [parse_trace_line(line).channels for line in out.stdout.splitlines()] == [f.channels for f in live]


def test_listen_replays_a_trace_as_json(tmp_path):
    trace = tmp_path / "in.jsonl"
    trace.write_text(
        "".join(
            json.dumps({"t": i / 60, "source": "ifacialmocap", "channels": {"jawOpen": i / 10}}) + "\n"
            for i in range(10)
        )
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ezvtb_node.cli",
            "listen",
            "--json",
            "--replay",
            str(trace),
            "--speed",
            "inf",
        ],
        capture_output=True,
        text=True,
        timeout=PATIENCE_S * 2,
    )
    assert out.returncode == 0, out.stderr
    assert [parse_trace_line(line).channels["jawOpen"] for line in out.stdout.splitlines()] == [
        i / 10 for i in range(10)
    ]


def test_port_in_use_is_a_clear_cli_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "ezvtb_node.cli",
                "listen",
                "--vmc",
                f"127.0.0.1:{port}",
                "--duration",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=PATIENCE_S * 2,
        )
    assert out.returncode == 1
    assert f"ezvtb-node listen: error: UDP port {port} on 127.0.0.1 is already in use" in out.stderr
    assert "VSeeFace" in out.stderr and "Traceback" not in out.stderr
