import itertools
import threading

import numpy as np
import pytest

from ezvtb_node.outputs.pacing import Pacer
from tests.virtual_time import VirtualTime

P = 1 / 60


def tagged(*tags: int) -> list[np.ndarray]:
    return [np.full((2, 2, 4), tag, np.uint8) for tag in tags]


def tag(frame) -> int | None:
    return None if frame is None else int(frame[0, 0, 0])


def drive(pacer: Pacer, ticks: int, batches: dict[int, list[int]], offset: float = 0.3) -> list[int | None]:
    """Tick k is at k*P; a batch keyed k arrives `offset` of a tick before tick k."""
    shown = []
    for k in range(ticks):
        if k in batches:
            pacer.submit(tagged(*batches[k]), now=(k - offset) * P)
        shown.append(tag(pacer.frame_for(k * P)))
    return shown


def test_nothing_is_emitted_before_the_first_batch_then_the_newest_repeats():
    pacer = Pacer(lambda frame: None)
    assert pacer.frame_for(0.0) is None
    shown = drive(pacer, 6, {1: [7]})
    assert shown == [None, 7, 7, 7, 7, 7]
    assert pacer.stats()["repeated"] == 4


def test_batch_frames_are_shown_in_order_one_per_tick_when_rates_match():
    # Rendering at 20 batches/s with 3 frames each fills a 60 fps output exactly.
    batches = {k: [k, k + 1, k + 2] for k in range(0, 60, 3)}
    shown = drive(pacer := Pacer(lambda frame: None), 60, batches)
    # After the rate estimate settles, every frame appears exactly once, in order.
    assert shown[12:] == list(range(12, 60))
    assert pacer.stats()["superseded"] <= 3


def test_interpolated_frames_are_spread_evenly_when_rates_differ():
    # 20 batches/s of 2 frames = 40 distinct frames/s on a 60 fps clock: each frame 1 or 2 ticks.
    batches = {k: [2 * k, 2 * k + 1] for k in range(0, 120, 3)}
    shown = drive(Pacer(lambda frame: None), 120, batches)
    steady = shown[30:117]
    runs = [steady.count(value) for value in sorted(set(steady))[1:-1]]
    assert set(runs) <= {1, 2}
    assert 0.4 <= runs.count(2) / len(runs) <= 0.6
    assert steady == sorted(steady)


def test_a_newer_batch_replaces_what_is_left_of_the_older_one():
    pacer = Pacer(lambda frame: None)
    pacer.submit(tagged(1, 2, 3, 4), now=0.0)
    assert tag(pacer.frame_for(0.0)) == 1
    pacer.submit(tagged(10, 11), now=0.5 * P)
    shown = [tag(pacer.frame_for(k * P)) for k in range(1, 8)]
    assert set(shown) == {10, 11}  # the rest of the old batch (2, 3, 4) never appears
    assert shown == sorted(shown) and shown[0] == 10 and shown[-1] == 11
    assert pacer.stats()["superseded"] >= 3


def test_submit_copies_the_frames_because_the_core_reuses_its_arrays():
    pacer = Pacer(lambda frame: None)
    frame = np.full((2, 2, 4), 5, np.uint8)
    pacer.submit([frame], now=0.0)
    frame[:] = 99
    assert tag(pacer.frame_for(0.0)) == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one frame"):
        Pacer(lambda frame: None).submit([])
    with pytest.raises(ValueError, match="between 1 and 1000"):
        Pacer(lambda frame: None, fps=0)


def attach(vt: VirtualTime, pacer: Pacer) -> threading.Event:
    """Run ``pacer``'s thread on ``vt``: it sleeps only through its stop event (the seam)."""
    pacer._stop = vt.event()
    return pacer._stop


def run_virtually(pacer: Pacer, finished: threading.Event) -> None:
    pacer.start()
    assert finished.wait(60), "the pacer thread never got there"
    pacer.stop()


def test_thread_emits_at_the_fixed_rate_and_skips_ticks_after_a_stall():
    vt = VirtualTime()
    emitted: list[float] = []
    finished = threading.Event()

    def emit(frame):
        emitted.append(vt.now)
        if len(emitted) == 20:
            vt.now += 0.2  # a sink call that hangs for 20 ticks
        if vt.now >= 0.8:
            stop.set()
            finished.set()

    pacer = Pacer(emit, fps=100, clock=vt.clock)
    stop = attach(vt, pacer)
    pacer.submit(tagged(1))
    run_virtually(pacer, finished)
    stats = pacer.stats()
    stall_end = emitted[19] + 0.2
    # No burst: the 20 missed ticks are skipped, so the 100 ms after the stall hold 9-10 emits, not 30.
    assert len([t for t in emitted if stall_end <= t < stall_end + 0.1]) in (9, 10)
    assert stats["skipped_ticks"] in (19, 20)
    # 0.8 s at 100 fps minus the 20 skipped ticks: 60 emits, one per tick, never two at once.
    assert len(emitted) in (60, 61)
    assert all(b - a >= 0.01 - 1e-9 for a, b in itertools.pairwise(emitted))


def test_a_failing_receiver_does_not_stop_the_clock():
    vt = VirtualTime()
    calls = []
    finished = threading.Event()

    def emit(frame):
        calls.append(tag(frame))
        if vt.now >= 0.1:
            stop.set()
            finished.set()
        raise ValueError("frame must be uint8 BGRA of shape (512, 512, 4)")

    pacer = Pacer(emit, fps=200, clock=vt.clock)
    stop = attach(vt, pacer)
    pacer.submit(tagged(3))
    run_virtually(pacer, finished)
    assert len(calls) == 20  # every tick of 0.1 s at 200 fps, although each one failed
    assert pacer.stats()["emit_errors"] == len(calls)


def test_marker_is_reported_once_when_the_real_frame_is_emitted():
    vt = VirtualTime()
    reported = []
    emitted = []
    finished = threading.Event()

    def emit(frame):
        emitted.append(int(frame[0, 0, 0]))
        if len(emitted) == 10:
            stop.set()
            finished.set()

    pacer = Pacer(emit, fps=100, clock=vt.clock, on_marker=lambda m, at: reported.append((m, at)))
    stop = attach(vt, pacer)
    vt.hold()
    pacer.start()
    assert vt.waiting.wait(60)  # the clock started at 0; the first tick is due at 0.01
    vt.now = submitted_at = 0.004  # a batch arrives between two ticks, as rendered frames do
    pacer.submit([np.full((2, 2, 4), 1, np.uint8), np.full((2, 2, 4), 2, np.uint8)], marker="packet-7")
    vt.release()
    assert finished.wait(60)
    pacer.stop()
    assert emitted[:2] == [1, 2], "the interpolated frame goes out before the real one"
    assert [m for m, _ in reported] == ["packet-7"]
    assert reported[0][1] == pytest.approx(0.02)  # reported when the real frame went out
    assert reported[0][1] >= submitted_at


def test_wait_shown_returns_once_the_newest_batch_has_gone_out():
    emitted = []
    with Pacer(lambda frame: emitted.append(tag(frame)), fps=100) as pacer:
        assert pacer.wait_shown(0)  # nothing submitted: nothing to wait for
        pacer.submit(tagged(1, 2, 3))
        assert pacer.wait_shown(30)
        assert emitted[-1] == 3  # its last (real) frame was handed to the receiver
    stopped = Pacer(lambda frame: None)
    stopped.submit(tagged(4))
    assert not stopped.wait_shown(30), "no thread: returns at once instead of waiting 30 s"
