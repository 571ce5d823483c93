import sys
import threading

import numpy as np
import pytest
import spoutgl_standin as standin
from waiting import bgra_to_rgba, make_frame, send_and_wait

from ezvtb_node.outputs import make_sink
from ezvtb_node.outputs.spout import SpoutSink, load_spoutgl


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


def test_bgra_goes_out_through_the_senders_own_gl_context_on_one_thread():
    frames = [make_frame(48, 80, seed, alpha="any") for seed in range(3)]
    sink = SpoutSink(spoutgl=standin)
    sender = run_frames(sink, frames)
    assert sender.violations == []
    assert sender.owner is not threading.main_thread()
    assert sender.name == "ezvtb"
    assert sender.calls == [
        "createOpenGL",
        "setSenderName",
        *["sendImage"] * 3,
        "releaseSender",
        "closeOpenGL",
    ]
    assert sender.formats == [standin.enums.GL_BGRA_EXT] * 3
    for frame, seen in zip(frames, sender.received, strict=True):
        np.testing.assert_array_equal(seen, bgra_to_rgba(frame))  # straight alpha, untouched
    assert sink.stats()["errors"] == 0 and sink.stats()["gl_context"] is True


def test_without_a_gl_context_rgba_is_sent_so_colours_stay_right():
    standin.SpoutSender.gl_available = False
    frame = make_frame(32, 32, 1, alpha="any")
    sender = run_frames(SpoutSink(name="avatar", spoutgl=standin), [frame])
    assert sender.violations == []
    assert sender.formats == [standin.enums.GL_RGBA]
    np.testing.assert_array_equal(sender.received[0], bgra_to_rgba(frame))
    assert sender.calls[-1] == "releaseSender"  # no context to close


@pytest.mark.parametrize("gl_available", [True, False])
def test_premultiplied_option_scales_colour_by_alpha(gl_available):
    standin.SpoutSender.gl_available = gl_available
    frame = make_frame(16, 24, 2, alpha="any")
    sender = run_frames(SpoutSink(premultiplied=True, spoutgl=standin), [frame])
    alpha = frame[..., 3:4].astype(np.float64)
    expected = frame.copy()
    expected[..., :3] = np.rint(frame[..., :3] * alpha / 255)
    np.testing.assert_array_equal(sender.received[0], bgra_to_rgba(expected))


def test_non_contiguous_frames_are_made_contiguous_before_the_binding_sees_them():
    big = make_frame(64, 96, 3, alpha="any")
    view = big[::2, ::2]  # a strided view: SpoutGL rejects such buffers
    assert not view.flags.c_contiguous
    sink = SpoutSink(spoutgl=standin)
    sender = run_frames(sink, [view])
    assert sink.stats()["errors"] == 0
    np.testing.assert_array_equal(sender.received[0], bgra_to_rgba(view))


def test_sender_is_released_when_start_fails():
    standin.SpoutSender.failures = {"setSenderName": OSError("name taken")}
    sink = SpoutSink(spoutgl=standin)
    with pytest.raises(OSError, match="name taken"):
        sink.open(32, 32)
    sender = only_sender()
    assert sender.calls == ["createOpenGL", "setSenderName", "releaseSender", "closeOpenGL"]
    assert sender.violations == []


@pytest.mark.parametrize("failure", ["returns false", "raises"])
def test_failed_sends_are_counted_and_the_sender_is_still_released(failure):
    if failure == "raises":
        standin.SpoutSender.failures = {"sendImage": RuntimeError("device lost")}
    else:
        standin.SpoutSender.send_result = False
    sink = SpoutSink(spoutgl=standin)
    sender = run_frames(sink, [make_frame(8, 8, 0)] * 2)
    assert sink.stats()["errors"] == 2
    assert sink.stats()["written"] == 0
    assert sender.calls[-2:] == ["releaseSender", "closeOpenGL"]
    assert sender.violations == []


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
    with pytest.raises(RuntimeError, match=r"ezvtb-node\[spout\]"):
        load_spoutgl()
