"""A stand-in for the SpoutGL module (Windows only), faithful to what SpoutGL 0.1.1 checks and does.

Mirrors the binding: ``SpoutSender()`` with ``createOpenGL``/``closeOpenGL``, ``setSenderName``,
``sendImage(buffer, width, height, glFormat, invert, hostFbo)`` (positional; buffer C-contiguous and
large enough, else ``BufferError`` as pybind11's ``buffer_error``), ``releaseSender`` and the context
manager that releases; ``enums.GL_RGBA`` / ``enums.GL_BGRA_EXT`` with the real OpenGL values.

On top it records what a real receiver would see and polices the rules the real library relies on
without checking: every call on the thread that created the sender, the name set before the first
frame, nothing after release. Without an OpenGL context, like the real CPU DirectX path, BGRA input
is stored as if it were RGBA (red and blue swapped).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

enums = SimpleNamespace(GL_RGBA=0x1908, GL_BGRA_EXT=0x80E1, GL_RGB=0x1907, GL_BGR_EXT=0x80E0)
_BYTES_PER_PIXEL = {enums.GL_RGBA: 4, enums.GL_BGRA_EXT: 4, enums.GL_RGB: 3, enums.GL_BGR_EXT: 3}


class ProtocolError(AssertionError):
    """A call the real SpoutGL would accept but get wrong (wrong thread, wrong order)."""


class SpoutSender:
    #: Every sender created, for the test to inspect after the sink is gone.
    created: ClassVar[list[SpoutSender]] = []
    #: What createOpenGL returns (False: no context could be made, the CPU DirectX path is used).
    gl_available = True
    #: Method name -> exception to raise from it, to exercise failure paths.
    failures: ClassVar[dict[str, BaseException]] = {}
    #: What sendImage returns when it does not raise.
    send_result = True

    def __init__(self) -> None:
        self.owner = threading.current_thread()
        self.calls: list[str] = []
        self.violations: list[str] = []
        self.name: str | None = None
        self.gl_context = False
        self.released = False
        self.received: list[np.ndarray] = []  # RGBA as a receiver would see it
        self.formats: list[int] = []
        SpoutSender.created.append(self)

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if threading.current_thread() is not self.owner:
            self._violate(f"{method} called on {threading.current_thread().name}, not {self.owner.name}")
        if self.released and method not in ("closeOpenGL", "releaseSender"):
            self._violate(f"{method} called after releaseSender")
        failure = SpoutSender.failures.get(method)
        if failure is not None:
            raise failure

    def _violate(self, what: str) -> None:
        self.violations.append(what)
        raise ProtocolError(what)

    def createOpenGL(self) -> bool:
        self._enter("createOpenGL")
        self.gl_context = SpoutSender.gl_available
        return self.gl_context

    def closeOpenGL(self) -> bool:
        self._enter("closeOpenGL")
        if not self.gl_context:
            self._violate("closeOpenGL without a context")
        self.gl_context = False
        return True

    def setSenderName(self, name: str) -> None:
        self._enter("setSenderName")
        if not isinstance(name, str):
            raise TypeError(f"setSenderName(): incompatible argument {name!r}")
        self.name = name

    def sendImage(self, buffer, width, height, glFormat, invert, hostFbo, /) -> bool:
        self._enter("sendImage")
        if self.name is None:
            self._violate("sendImage before setSenderName")
        if glFormat not in _BYTES_PER_PIXEL:
            raise ValueError("Unknown GL format")
        view = memoryview(buffer)
        if view.nbytes < width * height * _BYTES_PER_PIXEL[glFormat]:
            raise BufferError("Buffer not large enough")
        if not view.c_contiguous:
            raise BufferError("Buffer must be contiguous")
        if invert is not False or hostFbo != 0:
            self._violate(f"unexpected invert={invert!r} hostFbo={hostFbo!r}")
        pixels = np.frombuffer(view.tobytes(), np.uint8)[: width * height * 4].reshape(height, width, 4)
        if glFormat == enums.GL_BGRA_EXT and self.gl_context:
            pixels = pixels[..., [2, 1, 0, 3]]  # OpenGL honours BGRA
        self.received.append(pixels.copy())
        self.formats.append(glFormat)
        return SpoutSender.send_result

    def releaseSender(self) -> None:
        self._enter("releaseSender")
        self.released = True

    def __enter__(self) -> SpoutSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.releaseSender()


def reset() -> None:
    SpoutSender.created = []
    SpoutSender.gl_available = True
    SpoutSender.failures = {}
    SpoutSender.send_result = True
