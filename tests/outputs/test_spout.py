"""The Spout sink against the SpoutGL stand-in (tests/outputs/spoutgl_standin.py, written from the
binding's and the vendored Spout SDK's source)."""

import sys
import threading

import numpy as np
import pytest
import spoutgl_standin as standin
from waiting import bgra_to_rgba, make_frame, send_and_wait, wait_until

from ezvtb_node.outputs import make_sink
from ezvtb_node.outputs.spout import SpoutSink, load_spoutgl

# A guard against a hang, never a pace: every wait below ends as soon as its event is set.
GUARD_S = 10


@pytest.fixture(autouse=True)
def fresh_standin():
    standin.reset()
    yield
    standin.reset()


def only_sender() -> standin.SpoutSender:
    assert len(standin.SpoutSender.created) == 1
    return standin.SpoutSender.created[0]


def run_frames(sink: SpoutSink, frames: list[np.ndarray]) -> standin.SpoutSender:
    height, width = frames[0].shape[:2]
    sink.open(width, height)
    for frame in frames:
        send_and_wait(sink, frame)
    sink.close()
    return only_sender()


def test_bgra_frames_go_out_through_the_senders_own_opengl_context_on_one_thread():
    frames = [make_frame(48, 80, seed, alpha="any") for seed in range(3)]
    sink = SpoutSink(spoutgl=standin)
    sink.open(80, 48)
    assert standin.listed == {"ezvtb"}  # receivers see the sender as soon as open returns
    for frame in frames:
        send_and_wait(sink, frame)
    sink.close()
    sender = only_sender()
    assert sender.violations == []
    assert sender.owner is not threading.main_thread()
    assert sender.calls == [
        "createOpenGL",
        "setSenderName",
        "sendImage",  # the transparent first frame
        "getCPUshare",
        *["sendImage"] * 3,
        "releaseSender",
        "closeOpenGL",
    ]
    assert sender.formats == [standin.enums.GL_BGRA_EXT] * 4
    assert not sender.received[0].any(), "the first frame is fully transparent"
    for frame, seen in zip(frames, sender.received[1:], strict=True):
        np.testing.assert_array_equal(seen, bgra_to_rgba(frame))  # straight alpha, untouched
    stats = sink.stats()
    assert stats["errors"] == 0 and stats["gl_context"] is True and stats["sharing"] == "gpu texture"
    assert standin.listed == set() and standin.GLContext.alive == []  # released and closed


def test_without_opengl_open_fails_naming_opengl_and_the_ways_out():
    standin.machine.opengl = False
    sink = SpoutSink(spoutgl=standin)
    with pytest.raises(RuntimeError) as caught:
        sink.open(32, 32)
    message = str(caught.value)
    assert "OpenGL" in message and "graphics driver" in message and "--output browser" in message
    assert not sink.is_open
    sender = only_sender()
    assert "sendImage" not in sender.calls, "nothing may be sent the SDK would refuse"
    assert sender.calls[-2:] == ["releaseSender", "closeOpenGL"]
    assert sender.violations == []


def test_a_context_left_current_by_a_failed_createopengl_is_closed():
    standin.SpoutSender.fail_after_current = OSError("interrupted")
    sink = SpoutSink(spoutgl=standin)
    with pytest.raises(OSError, match="interrupted"):
        sink.open(32, 32)
    sender = only_sender()
    assert sender.calls == ["createOpenGL", "releaseSender", "closeOpenGL"]
    assert standin.GLContext.alive == [], "the half-made context must not outlive open()"


@pytest.mark.parametrize(
    "missing",
    ["directx11", "gldx_interop and auto_share"],
)
def test_when_spout_cannot_share_at_all_open_fails_instead_of_every_frame(missing):
    for name in missing.split(" and "):
        setattr(standin.machine, name, False)
    sink = SpoutSink(spoutgl=standin)
    with pytest.raises(RuntimeError, match=r"could not send a first frame.*--output browser"):
        sink.open(32, 32)
    sender = only_sender()
    assert sender.calls[-2:] == ["releaseSender", "closeOpenGL"]
    assert standin.listed == set() and standin.GLContext.alive == []
    assert sender.violations == []


def test_graphics_without_gl_dx_interop_send_through_spouts_cpu_copy_and_say_so(caplog):
    standin.machine.gldx_interop = False
    frame = make_frame(24, 40, 5, alpha="any")
    sink = SpoutSink(spoutgl=standin)
    sender = run_frames(sink, [frame])
    assert sink.stats()["sharing"] == "cpu (DirectX)"
    assert "through the CPU" in caplog.text
    assert sender.formats[-1] == standin.enums.GL_BGRA_EXT  # Spout converts BGRA on this path too
    np.testing.assert_array_equal(sender.received[-1], bgra_to_rgba(frame))


def test_premultiplied_option_scales_colour_by_alpha():
    frame = make_frame(16, 24, 2, alpha="any")
    sender = run_frames(SpoutSink(premultiplied=True, spoutgl=standin), [frame])
    alpha = frame[..., 3:4].astype(np.float64)
    expected = frame.copy()
    expected[..., :3] = np.rint(frame[..., :3] * alpha / 255)
    np.testing.assert_array_equal(sender.received[-1], bgra_to_rgba(expected))


def test_non_contiguous_frames_are_made_contiguous_before_the_binding_sees_them():
    big = make_frame(64, 96, 3, alpha="any")
    view = big[::2, ::2]  # a strided view: SpoutGL raises BufferError for such buffers
    assert not view.flags.c_contiguous
    sink = SpoutSink(spoutgl=standin)
    sender = run_frames(sink, [view])
    assert sink.stats()["errors"] == 0
    np.testing.assert_array_equal(sender.received[-1], bgra_to_rgba(view))


def test_while_a_frame_is_in_sendimage_the_render_thread_hands_over_the_next_without_waiting():
    first, second = make_frame(16, 16, 7, alpha="any"), make_frame(16, 16, 8, alpha="any")
    in_send, may_finish = threading.Event(), threading.Event()
    sink = SpoutSink(spoutgl=standin)
    sink.open(16, 16)

    def hold_the_first_frame(sender):
        if len(sender.calls) == 5:  # createOpenGL, setSenderName, first frame, getCPUshare, this one
            in_send.set()
            assert may_finish.wait(GUARD_S)

    standin.SpoutSender.while_sending = hold_the_first_frame
    sink.send(first)
    assert in_send.wait(GUARD_S)
    sink.send(second)  # returns while the sink thread is inside sendImage
    assert sink.stats()["received"] == 2
    may_finish.set()
    wait_until(lambda: sink.stats()["written"] == 2, GUARD_S)
    sink.close()
    sender = only_sender()
    np.testing.assert_array_equal(sender.received[1], bgra_to_rgba(first))  # read after the wait
    np.testing.assert_array_equal(sender.received[2], bgra_to_rgba(second))


def test_sender_and_context_are_released_when_naming_fails():
    standin.SpoutSender.failures = {"setSenderName": OSError("name taken")}
    sink = SpoutSink(spoutgl=standin)
    with pytest.raises(OSError, match="name taken"):
        sink.open(32, 32)
    sender = only_sender()
    assert sender.calls == ["createOpenGL", "setSenderName", "releaseSender", "closeOpenGL"]
    assert sender.violations == [] and standin.GLContext.alive == []


@pytest.mark.parametrize("failure", ["returns false", "raises"])
def test_failed_sends_are_counted_and_the_sender_is_still_released(failure):
    sink = SpoutSink(spoutgl=standin)
    sink.open(8, 8)
    if failure == "raises":
        standin.SpoutSender.failures = {"sendImage": RuntimeError("device lost")}
    else:
        standin.machine.write_fails = True
    for frame in [make_frame(8, 8, 0)] * 2:
        send_and_wait(sink, frame)
    sink.close()
    sender = only_sender()
    assert sink.stats()["errors"] == 2
    assert sink.stats()["written"] == 0
    assert sender.calls[-2:] == ["releaseSender", "closeOpenGL"]
    assert sender.violations == [] and standin.listed == set()


def test_sender_names_are_validated():
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        SpoutSink(name="", spoutgl=standin)
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        SpoutSink(name="x" * 256, spoutgl=standin)


def test_other_systems_get_an_error_pointing_to_the_browser_output(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(RuntimeError, match=r"needs Windows.*browser"):
        load_spoutgl()
    with pytest.raises(RuntimeError, match="browser"):
        make_sink("spout:Avatar")


def test_windows_without_spoutgl_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "SpoutGL", None)  # makes the import fail
    # Double quotes and this Python's pip: cmd.exe keeps single quotes as part of the word.
    with pytest.raises(RuntimeError, match=r'-m pip install -e "[^"]*\[spout\]"'):
        load_spoutgl()
