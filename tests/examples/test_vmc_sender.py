"""The VMC test sender, run as a real process against a real VmcReceiver over UDP."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ezvtb_node.channels import ARKIT_BLENDSHAPES
from ezvtb_node.inputs import TrackingFrame, VmcReceiver

SENDER = Path(__file__).resolve().parents[2] / "examples" / "vmc_sender.py"


def _receive(*sender_args: str) -> list[TrackingFrame]:
    frames: list[TrackingFrame] = []
    lock = threading.Lock()

    def keep(frame: TrackingFrame) -> None:
        with lock:
            frames.append(frame)

    with VmcReceiver("127.0.0.1", 0, on_frame=keep, lost_after=5.0) as receiver:
        port = receiver.address[1]
        result = subprocess.run(
            [sys.executable, str(SENDER), "--port", str(port), *sender_args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        time.sleep(0.2)  # the last datagrams may still be in the socket queue
        assert receiver.stats()["bad_osc"] == 0
    with lock:
        return [frame for frame in frames if not frame.lost]


def test_vrm_presets_and_a_slow_head_turn():
    frames = _receive("--duration", "1.2", "--turn-period", "1.0", "--turn", "30")
    # 60 Hz for 1.2 s; the machine is shared, so allow for a slow start.
    assert 50 <= len(frames) <= 80
    for name in ("A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R", "Joy"):
        assert f"vrm.{name}" in frames[-1].channels
    yaws = [frame.channels["head.yaw"] for frame in frames]
    assert min(yaws) < -25 and max(yaws) > 25
    assert all(-30.5 < yaw < 30.5 for yaw in yaws)
    # /VMC/Ext/T: frame times are the sender's clock, rising at about the rate.
    times = [frame.t for frame in frames]
    assert times == sorted(times)
    assert 0.0 <= times[0] < 0.2 and 1.0 < times[-1] < 1.3
    mouth = [max(frame.channels[f"vrm.{v}"] for v in "AIUEO") for frame in frames]
    assert max(mouth) > 0.9  # talking


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
    frames = _receive("--duration", "0.2", "--head", head)
    assert frames
    got = tuple(frames[-1].channels[f"head.{axis}"] for axis in ("yaw", "pitch", "roll"))
    assert got == pytest.approx(expected, abs=1e-3)


def test_wink_left_holds_the_left_eye_closed():
    frames = _receive("--duration", "0.3", "--wink-left")
    assert len(frames) >= 10
    for frame in frames:
        assert frame.channels["vrm.Blink_L"] == 1.0
        assert frame.channels["vrm.Blink_R"] == 0.0
        assert frame.channels["vrm.Blink"] == 0.0
        assert frame.channels["head.yaw"] == pytest.approx(0.0, abs=1e-6)


def test_perfect_sync_sends_all_arkit_clips():
    frames = _receive("--duration", "0.3", "--perfect-sync", "--wink-left")
    assert frames
    channels = frames[-1].channels
    assert set(ARKIT_BLENDSHAPES) <= set(channels)
    assert not any(name.startswith("vrm.") for name in channels)
    assert channels["eyeBlinkLeft"] == 1.0
    assert channels["eyeBlinkRight"] == 0.0


def test_bad_arguments_are_refused_with_a_message():
    result = subprocess.run(
        [sys.executable, str(SENDER), "--head", "left"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "YAW,PITCH,ROLL" in result.stderr
