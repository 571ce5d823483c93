"""The VMC test sender, run as a real process against a real VmcReceiver over UDP."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ezvtb_node.channels import ARKIT_BLENDSHAPES
from ezvtb_node.inputs import TrackingFrame, VmcReceiver

SENDER = Path(__file__).resolve().parents[2] / "examples" / "vmc_sender.py"
# How long to wait for what must happen; only a failing test waits that long.
PATIENCE_S = 60.0


def _receive(*sender_args: str) -> tuple[list[TrackingFrame], int]:
    """Run the sender against a receiver; (the live frames received, the frames the sender sent).

    Returns once the receiver has decoded every datagram the sender reports having sent: no time
    allowed for the socket queue to drain, however slowly a loaded machine runs the receiver.
    """
    frames: list[TrackingFrame] = []
    lock = threading.Lock()

    def keep(frame: TrackingFrame) -> None:
        with lock:
            frames.append(frame)

    with VmcReceiver("127.0.0.1", 0, on_frame=keep, lost_after=60.0) as receiver:
        port = receiver.address[1]
        result = subprocess.run(
            [sys.executable, str(SENDER), "--port", str(port), *sender_args],
            capture_output=True,
            text=True,
            timeout=PATIENCE_S,
        )
        assert result.returncode == 0, result.stderr
        sent = re.search(r"sent (\d+) frames \((\d+) datagrams\)", result.stderr)  # its summary
        assert sent, result.stderr
        sent_frames, sent_datagrams = int(sent[1]), int(sent[2])
        deadline = time.monotonic() + PATIENCE_S
        while receiver.stats()["datagrams"] < sent_datagrams:
            assert time.monotonic() < deadline, (
                f"{receiver.stats()['datagrams']} of {sent_datagrams} datagrams"
            )
            time.sleep(0.01)
        assert receiver.stats()["bad_osc"] == 0
    with lock:
        return [frame for frame in frames if not frame.lost], sent_frames


def test_vrm_presets_and_a_slow_head_turn():
    frames, sent = _receive("--duration", "1.2", "--turn-period", "1.0", "--turn", "30")
    assert sent == 72 and len(frames) == sent  # 60 Hz for 1.2 s, one datagram (and frame) each
    for name in ("A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R", "Joy"):
        assert f"vrm.{name}" in frames[-1].channels
    # /VMC/Ext/T: frame times are the sender's clock, on its fixed schedule (never early; late on a
    # busy machine), and each frame carries the animation at its own time.
    times = [frame.t for frame in frames]
    assert times == sorted(times)
    assert all(t >= i / 60 - 1e-6 for i, t in enumerate(times))
    for frame in frames:
        yaw = 30 * math.sin(2 * math.pi * frame.t / 1.0)
        assert frame.channels["head.yaw"] == pytest.approx(yaw, abs=1e-3)
        assert -30.5 < frame.channels["head.yaw"] < 30.5
        mouth = 0.5 + 0.5 * math.sin(2 * math.pi * frame.t * 4)  # talking
        assert max(frame.channels[f"vrm.{v}"] for v in "AIUEO") == pytest.approx(mouth, abs=1e-5)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("20,0,0", (20.0, 0.0, 0.0)),
        ("0,-10,0", (0.0, -10.0, 0.0)),
        ("0,0,15", (0.0, 0.0, 15.0)),
        ("20,-10,5", (20.0, -10.0, 5.0)),
    ],
)
def test_head_angles_arrive_with_the_documented_signs(head, expected):
    frames, _ = _receive("--duration", "0.2", "--head", head)
    assert frames
    got = tuple(frames[-1].channels[f"head.{axis}"] for axis in ("yaw", "pitch", "roll"))
    assert got == pytest.approx(expected, abs=1e-3)


def test_wink_left_holds_the_left_eye_closed():
    frames, sent = _receive("--duration", "0.3", "--wink-left")
    assert len(frames) == sent == 18
    for frame in frames:
        assert frame.channels["vrm.Blink_L"] == 1.0
        assert frame.channels["vrm.Blink_R"] == 0.0
        assert frame.channels["vrm.Blink"] == 0.0
        assert frame.channels["head.yaw"] == pytest.approx(0.0, abs=1e-6)


def test_perfect_sync_sends_all_arkit_clips():
    frames, _ = _receive("--duration", "0.3", "--perfect-sync", "--wink-left")
    assert frames
    channels = frames[-1].channels
    assert set(ARKIT_BLENDSHAPES) <= set(channels)
    assert not any(name.startswith("vrm.") for name in channels)
    assert channels["eyeBlinkLeft"] == 1.0
    assert channels["eyeBlinkRight"] == 0.0


def test_bad_arguments_are_refused_with_a_message():
    result = subprocess.run(
        [sys.executable, str(SENDER), "--head", "left"], capture_output=True, text=True, timeout=PATIENCE_S
    )
    assert result.returncode != 0
    assert "YAW,PITCH,ROLL" in result.stderr
