import threading

import numpy as np
import pytest
from waiting import make_frame, wait_until

from ezvtb_node.outputs.base import FrameSink, LatestSlot


class RecordingSink(FrameSink):
    """Records which thread runs each hook; each write can be held at a gate or made to fail."""

    kind = "recording"

    def __init__(self, gate: threading.Event | None = None, fail_every: int = 0):
        super().__init__()
        self.gate, self.fail_every = gate, fail_every
        self.threads: dict[str, set[str]] = {"start": set(), "write": set(), "stop": set()}
        self.written: list[int] = []
        self.entered = threading.Event()  # a write has begun

    def _start(self, width, height):
        self.threads["start"].add(threading.current_thread().name)

    def _write(self, frame, sent_at):
        self.threads["write"].add(threading.current_thread().name)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        marker = int(frame[0, 0, 0])
        if self.fail_every and marker % self.fail_every == 0:
            raise OSError(f"disk full at {marker}")
        self.written.append(marker)

    def _stop(self):
        self.threads["stop"].add(threading.current_thread().name)


def numbered(i: int) -> np.ndarray:
    frame = np.zeros((4, 6, 4), np.uint8)
    frame[0, 0, 0] = i
    return frame


def finishes(action, seconds: float = 30.0) -> bool:
    """Run ``action`` on a helper thread; whether it returned within ``seconds``.

    The tests below call it while a sink's writer is blocked on a gate that only the test opens:
    an action that waited for the writer could never return, however long we gave it, and one
    that does not wait returns however loaded the machine is. So the answer depends on no timing.
    """
    helper = threading.Thread(target=action, daemon=True)
    helper.start()
    helper.join(seconds)
    return not helper.is_alive()


def test_slow_sink_drops_frames_but_never_blocks_the_sender():
    gate = threading.Event()
    sink = RecordingSink(gate=gate)
    sink.open(6, 4)
    sink.send(numbered(0))
    assert sink.entered.wait(30)  # the writer holds frame 0 and waits at the gate
    assert finishes(lambda: [sink.send(numbered(i)) for i in range(1, 200)])  # the writer never moved
    gate.set()
    sink.close()
    stats = sink.stats()
    assert stats["received"] == 200
    assert stats["written"] == 2 and stats["dropped"] == 198
    assert sink.written == [0, 199]  # the newest frame always gets through


def test_stuck_sink_does_not_stall_send_or_close():
    gate = threading.Event()
    sink = RecordingSink(gate=gate)
    sink.open(6, 4)
    assert finishes(lambda: [sink.send(numbered(i)) for i in range(50)])
    assert finishes(lambda: sink.close(timeout=0.2))  # gives up on the stuck writer
    assert sink.stats()["dropped"] >= 48
    gate.set()


def test_every_hook_runs_on_one_worker_thread():
    sink = RecordingSink()
    sink.open(6, 4)
    sink.send(numbered(1))
    sink.close()
    names = sink.threads["start"] | sink.threads["write"] | sink.threads["stop"]
    assert len(names) == 1
    assert threading.current_thread().name not in names


def test_write_errors_are_counted_and_the_sink_keeps_going():
    sink = RecordingSink(fail_every=2)
    sink.open(6, 4)
    for i in range(1, 7):
        sink.send(numbered(i))
        wait_until(lambda count=i: len(sink.written) + sink.stats()["errors"] >= count)
    sink.close()
    stats = sink.stats()
    assert sink.written == [1, 3, 5]
    assert stats["errors"] == 3
    assert "disk full at 6" in stats["last_error"]


def test_start_failure_is_raised_from_open():
    class Broken(RecordingSink):
        def _start(self, width, height):
            raise RuntimeError("device busy")

    sink = Broken()
    with pytest.raises(RuntimeError, match="device busy"):
        sink.open(6, 4)
    assert not sink.is_open


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((4, 6, 3), np.uint8), r"\(4, 6, 4\), got uint8 of shape \(4, 6, 3\)"),
        (np.zeros((6, 4, 4), np.uint8), r"got uint8 of shape \(6, 4, 4\)"),
        (np.zeros((4, 6, 4), np.float32), "got float32"),
        ([[0, 0, 0, 0]], "numpy array, got list"),
    ],
)
def test_bad_frames_are_rejected_with_a_clear_message(frame, message):
    with RecordingSink() as sink:
        sink.open(6, 4)
        with pytest.raises(ValueError, match=message):
            sink.send(frame)


def test_send_before_open_and_bad_sizes():
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="not open"):
        sink.send(make_frame(4, 6, 0))
    with pytest.raises(ValueError, match="positive integers"):
        sink.open(0, 4)


def test_latest_slot_gives_the_pending_item_then_reports_closed():
    slot = LatestSlot()
    assert slot.put("a") is False
    assert slot.put("b") is True
    slot.close()
    assert slot.take() == "b"
    assert slot.take() is None


def test_an_output_without_a_page_has_no_url_and_ignores_the_page_hooks():
    from ezvtb_node.outputs.null import NullSink

    sink = NullSink()
    sink.add_json_route("/metrics", dict)
    sink.add_status("node", dict)
    assert sink.url is None
