"""The SpoutGL stand-in itself behaves as the real binding and SDK do (see its docstring for the
source files): the sink tests are only as good as this."""

import threading

import numpy as np
import pytest
import spoutgl_standin as standin


@pytest.fixture(autouse=True)
def fresh_standin():
    standin.reset()
    yield
    standin.reset()


def frame(height=4, width=4):
    return np.zeros((height, width, 4), np.uint8)


def named_sender() -> standin.SpoutSender:
    sender = standin.SpoutSender()
    sender.setSenderName("probe")
    return sender


def test_sendimage_without_an_opengl_context_on_the_calling_thread_sends_nothing():
    sender = named_sender()
    assert sender.sendImage(frame(), 4, 4, standin.enums.GL_RGBA, False, 0) is False
    assert sender.received == [] and standin.listed == set()


def test_a_context_made_on_one_thread_is_not_current_on_another():
    sender = named_sender()
    assert sender.createOpenGL() is True
    seen = {}
    thread = threading.Thread(target=lambda: seen.update(context=standin.current_context()))
    thread.start()
    thread.join()
    assert seen["context"] is None and standin.current_context() is not None
    sender.releaseSender()
    sender.closeOpenGL()


def test_with_a_context_the_first_frame_creates_the_sender_and_bgra_is_honoured():
    sender = named_sender()
    sender.createOpenGL()
    pixels = np.arange(64, dtype=np.uint8).reshape(4, 4, 4)
    assert sender.sendImage(pixels, 4, 4, standin.enums.GL_BGRA_EXT, False, 0) is True
    assert standin.listed == {"probe"}
    np.testing.assert_array_equal(sender.received[0], pixels[..., [2, 1, 0, 3]])
    sender.releaseSender()
    assert standin.listed == set()
    assert sender.closeOpenGL() is True and standin.GLContext.alive == []


def test_short_or_strided_buffers_raise_buffererror_and_unknown_formats_valueerror():
    sender = named_sender()
    sender.createOpenGL()
    with pytest.raises(BufferError, match="not large enough"):
        sender.sendImage(frame(3, 4), 4, 4, standin.enums.GL_RGBA, False, 0)
    with pytest.raises(BufferError, match="contiguous"):
        sender.sendImage(frame(8, 8)[::2, ::2], 4, 4, standin.enums.GL_RGBA, False, 0)
    with pytest.raises(ValueError, match="Unknown GL format"):
        sender.sendImage(frame(), 4, 4, 0x1234, False, 0)


def test_arguments_are_positional_only_as_in_a_pybind11_binding_without_names():
    sender = named_sender()
    with pytest.raises(TypeError):
        sender.sendImage(frame(), width=4, height=4, glFormat=standin.enums.GL_RGBA, invert=False, hostFbo=0)
    with pytest.raises(TypeError):
        sender.setSenderName(name="x")


def test_createopengl_without_a_driver_cleans_up_itself_and_a_second_close_returns_false():
    standin.machine.opengl = False
    sender = standin.SpoutSender()
    assert sender.createOpenGL() is False
    assert standin.current_context() is None and standin.GLContext.alive == []
    assert sender.closeOpenGL() is False


def test_createopengl_with_a_context_already_current_owns_nothing():
    owner = standin.SpoutSender()
    owner.createOpenGL()
    guest = standin.SpoutSender()
    assert guest.createOpenGL() is True
    guest.closeOpenGL()
    assert standin.current_context() is not None, "closing the guest must not close the owner's context"
    owner.closeOpenGL()


def test_releasing_after_closing_the_context_is_a_leak_the_stand_in_reports():
    sender = named_sender()
    sender.createOpenGL()
    sender.sendImage(frame(), 4, 4, standin.enums.GL_RGBA, False, 0)
    sender.closeOpenGL()
    with pytest.raises(standin.ProtocolError, match="textures leak"):
        sender.releaseSender()
