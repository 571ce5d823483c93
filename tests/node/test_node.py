"""The node's wiring and lifecycle on tiny graphs (fast): replay in, null/files out."""

import json
import os
import signal
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from ezvtb_node.app.config import NodeConfig
from ezvtb_node.app.node import Node, NodeError, silent_phone_warning
from ezvtb_node.inputs import IFacialMocapReceiver


def write_trace(path, frames: int, rate: float = 60.0, jaw=lambda i: 0.5):
    with open(path, "w") as out:
        for i in range(frames):
            line = {
                "t": i / rate,
                "source": "ifacialmocap",
                "channels": {"jawOpen": jaw(i), "eyeBlinkLeft": 0.0},
            }
            out.write(json.dumps(line) + "\n")
    return path


def config(tmp_path, **overrides) -> NodeConfig:
    values = {
        "vmc": "off",
        "output": ["null"],
        "control": "off",
        "status": False,
        "cacher_db_path": str(tmp_path / "cache.sqlite3"),
        **overrides,
    }
    return NodeConfig.from_keys(**values)


# How long to wait for what must happen; only a failing test waits that long.
PATIENCE_S = 60.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_replay_runs_to_the_end_and_the_node_stops_itself(tmp_path, tiny_core_factory):
    trace = write_trace(tmp_path / "t.jsonl", 30)
    node = Node(config(tmp_path, replay=str(trace), replay_speed=0), core_factory=tiny_core_factory)
    assert node.run() == 0
    snapshot = node.snapshot()
    assert snapshot["render"]["frames"] >= 1
    assert snapshot["output"]["sinks"][0]["received"] >= 1
    assert snapshot["render"]["errors"] == 0


def test_max_frames_stops_rendering(tmp_path, tiny_core_factory):
    trace = write_trace(tmp_path / "t.jsonl", 600)
    node = Node(config(tmp_path, replay=str(trace), max_frames=5, fps=240), core_factory=tiny_core_factory)
    assert node.run() == 0
    assert node.metrics.rendered == 5


class GatedCore:
    """A core whose ``inference`` waits at ``gate`` (and counts calls): lets a test hold the render
    thread while inputs pile up, instead of hoping the renderer is slower than a replay."""

    def __init__(self, core, gate: threading.Event) -> None:
        self._core, self._gate = core, gate
        self.calls = 0

    def inference(self, pose):
        assert self._gate.wait(PATIENCE_S), "the test never opened the gate"
        self.calls += 1
        return self._core.inference(pose)

    def __getattr__(self, name):
        return getattr(self._core, name)


def wait_for(condition, what: str) -> None:
    """Poll ``condition`` until it holds; PATIENCE_S only bounds a failure."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {PATIENCE_S:g} s"
        time.sleep(0.01)


def test_render_thread_takes_the_newest_frame_and_never_queues(tmp_path, tiny_core_factory):
    # The renderer is held in its first render while 2,000 frames are replayed as fast as possible.
    gate = threading.Event()
    cores = []

    def gated_factory(options):
        cores.append(GatedCore(tiny_core_factory(options), gate))
        return cores[-1]

    trace = write_trace(tmp_path / "t.jsonl", 2000, jaw=lambda i: (i % 100) / 100)
    node = Node(config(tmp_path, replay=str(trace), replay_speed=0, fps=60), core_factory=gated_factory)
    node.start()
    try:
        assert node.sources[0].wait_done(PATIENCE_S)  # all 2,000 published while the renderer waits
        gate.set()
        assert node.wait(PATIENCE_S), "the node did not stop at the end of the replay"
    finally:
        gate.set()
        node.stop()
    # Once released it renders the newest state and ends: no backlog of 2,000. The held render is
    # the newest frame when the replay had already ended by the render thread's first look (the
    # threads' start order decides), else one more render takes the newest frame; at most one idle
    # refresh comes in between.
    assert 1 <= cores[0].calls <= 3
    assert node.metrics.tracking_state == "lost"  # the replay's end, published after its last frame


def test_lost_tracking_is_reported_and_frames_keep_flowing(tmp_path, tiny_core_factory):
    port = free_udp_port()
    node = Node(
        config(tmp_path, ifacialmocap=f"127.0.0.1:{port}", lost_after=0.1), core_factory=tiny_core_factory
    )
    node.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:

            def live_after_a_packet() -> bool:
                phone.sendto(b"jawOpen&50|", ("127.0.0.1", port))
                return node.metrics.tracking_state == "live"

            wait_for(live_after_a_packet, "a live frame rendered")
        # The packets stop: after lost_after the source reports lost, and rendering goes on.
        wait_for(lambda: node.metrics.tracking_state == "lost", "the lost state rendered")
        rendered = node.metrics.rendered
        wait_for(lambda: node.metrics.rendered >= rendered + 3, "frames after the loss")
    finally:
        node.stop()


def test_a_failing_output_names_itself(tmp_path, tiny_core_factory):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    node = Node(config(tmp_path, output=[f"files:{blocker}"]), core_factory=tiny_core_factory)
    with pytest.raises(NodeError, match=r"^output files:.*a-file"):
        node.start()


def test_bad_output_spec_names_itself(tmp_path, tiny_core_factory):
    node = Node(config(tmp_path, output=["hologram"]), core_factory=tiny_core_factory)
    with pytest.raises(NodeError, match="output hologram"):
        node.start()


def test_control_port_in_use_is_a_clear_error(tmp_path, tiny_core_factory):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        node = Node(config(tmp_path, control=f"127.0.0.1:{port}"), core_factory=tiny_core_factory)
        with pytest.raises(NodeError, match=f"control: 127.0.0.1:{port} is in use.*--control"):
            node.start()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_endpoint_and_calibration_call(tmp_path, tiny_core_factory):
    port = free_tcp_port()
    trace = write_trace(tmp_path / "t.jsonl", 300)
    node = Node(
        config(tmp_path, replay=str(trace), replay_loop=True, control=f"127.0.0.1:{port}"),
        core_factory=tiny_core_factory,
    )
    node.start()
    try:

        def metrics() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=PATIENCE_S) as response:
                return json.loads(response.read())

        # The replay plays at 60 frames/s; the rate is averaged over 2 s, so it climbs for a while.
        wait_for(lambda: metrics()["tracking"]["input_fps"] > 10, "an input rate over 10/s")
        snapshot = metrics()
        assert snapshot["tracking"]["state"] == "live"
        assert set(snapshot) >= {"render", "latency_ms", "output", "cache", "core", "inputs"}
        # Which precision runs, and why (here: the engine set the factory names).
        assert snapshot["core"]["precision"] == "fp32"
        assert snapshot["core"]["precision_reason"].startswith("the set in model_dir")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/calibrate", method="POST")
        with urllib.request.urlopen(request, timeout=PATIENCE_S) as response:
            assert json.loads(response.read())["ok"] is True
        mapper = node.mappers.get("ifacialmocap")
        wait_for(lambda: mapper._captured_neutral.get("jawOpen") == 0.5, "calibration on the next frame")
    finally:
        node.stop()


def test_character_image_is_reloaded_when_the_file_changes(tmp_path, tiny_core_factory):
    image_path = tmp_path / "me.png"
    rgba = np.zeros((512, 512, 4), np.uint8)
    rgba[100:400, 100:400] = (200, 40, 40, 255)
    Image.fromarray(rgba, "RGBA").save(image_path)
    node = Node(config(tmp_path, image=str(image_path)), core_factory=tiny_core_factory)
    node.start()
    try:
        first = node.core.image_digest
        rgba[100:400, 100:400] = (40, 200, 40, 255)
        Image.fromarray(rgba, "RGBA").save(image_path)
        # A modification time surely different from the first file's, even on a coarse file system.
        stamp = image_path.stat().st_mtime_ns + 2_000_000_000
        os.utime(image_path, ns=(stamp, stamp))
        wait_for(lambda: node.core.image_digest != first, "the new image loaded")  # checked every 1 s
    finally:
        node.stop()


def test_an_osc_calibrate_message_on_the_vmc_port_calibrates_the_running_node(tmp_path, tiny_core_factory):
    from tests.inputs.osc_wire import APPLY, IMMEDIATE, blend, bundle, message

    port = free_udp_port()
    node = Node(
        config(tmp_path, vmc=f"127.0.0.1:{port}", mapping_vmc="vmc_vrm"), core_factory=tiny_core_factory
    )
    node.start()
    try:
        mapper = node.mappers.get("vmc_vrm")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:

            def send_frame() -> None:
                sender.sendto(bundle(IMMEDIATE, blend("A", 0.5), APPLY), ("127.0.0.1", port))

            def live_after_a_frame() -> bool:
                send_frame()
                return node.metrics.tracking_state == "live"

            wait_for(live_after_a_frame, "a live VMC frame rendered")
            assert mapper._captured_neutral == {}, "nothing calibrates before it is asked to"
            sender.sendto(message("/ezvtb/calibrate"), ("127.0.0.1", port))

            def calibrated_after_a_frame() -> bool:
                send_frame()
                return mapper._captured_neutral.get("vrm.A") == 0.5

            wait_for(calibrated_after_a_frame, "calibration on the next tracked frame")
        vmc_stats = next(inputs for inputs in node.snapshot()["inputs"] if inputs["kind"] == "VmcReceiver")
        assert vmc_stats["commands"] == 1 and vmc_stats["unknown_address"] == 0
    finally:
        node.stop()


class WindowsBefore314Event(threading.Event):
    """The node's stop event as Windows before Python 3.14 treats the main thread's wait: a wait
    without a timeout (or a long one) cannot be interrupted by Ctrl+C (CPython issue 80116), so
    the main thread must only ever wait in short slices."""

    def __init__(self) -> None:
        super().__init__()
        self.main_thread_waits: list[float | None] = []

    def wait(self, timeout=None):
        if threading.current_thread() is threading.main_thread():
            self.main_thread_waits.append(timeout)
        return super().wait(timeout)


def stop_by_signal_once_rendering(node: Node, signum: int) -> threading.Thread:
    def send() -> None:
        deadline = time.monotonic() + PATIENCE_S
        while node.metrics.rendered < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signum)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="the stand-in for Ctrl+C needs a POSIX signal")
def test_the_main_thread_waits_in_slices_that_ctrl_c_can_interrupt_on_windows(tmp_path, tiny_core_factory):
    trace = write_trace(tmp_path / "t.jsonl", 120)
    node = Node(config(tmp_path, replay=str(trace), replay_loop=True), core_factory=tiny_core_factory)
    node._stop = event = WindowsBefore314Event()
    stop_by_signal_once_rendering(node, signal.SIGINT)
    assert node.run() == 0
    assert event.main_thread_waits, "the main thread never waited on the stop event"
    assert all(t is not None and t <= 0.5 for t in event.main_thread_waits), event.main_thread_waits


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="the stand-in for SIGBREAK needs a POSIX signal")
def test_ctrl_break_stops_the_node_cleanly_where_the_os_has_sigbreak(
    tmp_path, tiny_core_factory, monkeypatch
):
    # Windows' Ctrl+Break arrives as signal.SIGBREAK, which Linux lacks: SIGUSR1 plays it here (its
    # default action would end the test process, so only a handled signal lets the node return 0).
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    trace = write_trace(tmp_path / "t.jsonl", 120)
    node = Node(config(tmp_path, replay=str(trace), replay_loop=True), core_factory=tiny_core_factory)
    stop_by_signal_once_rendering(node, signal.SIGBREAK)
    assert node.run() == 0
    assert node.metrics.rendered >= 1
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL, "run() must give the handler back"


@pytest.mark.parametrize("system", ["win32", "linux"])
def test_a_configured_phone_that_sends_nothing_is_warned_about_and_one_that_sends_is_not(system):
    """The phone is a real socket here; on Windows the warning names the firewall's Public profile."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        receiver = IFacialMocapReceiver("127.0.0.1", 0, phone="127.0.0.1", phone_port=phone.getsockname()[1])
        with receiver:
            warning = silent_phone_warning(receiver, system)
            assert warning is not None and "no tracking data from the phone at 127.0.0.1" in warning
            assert ("Public network" in warning) == (system == "win32")
            phone.sendto(b"mouthClose-0|=head#0,0,0,0,0,0|", receiver.address)
            deadline = time.monotonic() + PATIENCE_S
            while receiver.stats()["datagrams"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert silent_phone_warning(receiver, system) is None
