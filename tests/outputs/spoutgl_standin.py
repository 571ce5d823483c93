"""A stand-in for the SpoutGL module (PyPI ``SpoutGL``, Windows only), written from the real sources.

What it copies, and from where (jlai/Python-SpoutGL; the Spout SDK 2.007 it vendors):

* The binding, ``src/PySpoutGL.cpp``: ``SpoutSender()`` with ``createOpenGL``/``closeOpenGL``,
  ``setSenderName``, ``getCPUshare``, ``releaseSender`` and a context manager whose ``__exit__``
  calls ``releaseSender``. Methods are bound without ``py::arg`` names, so they take positional
  arguments only (a keyword gives pybind11's ``TypeError``). ``sendImage(buffer, width, height,
  glFormat, invert, hostFbo)``: an unknown format raises ``ValueError("Unknown GL format")``
  (``getBytesPerPixel`` throws ``std::invalid_argument``), a buffer smaller than width × height ×
  bytes per pixel raises ``BufferError("Buffer not large enough")``, a non-C-contiguous one
  ``BufferError("Buffer must be contiguous")``; then the GIL is released and the pointer goes to the
  SDK without a copy. ``enums`` holds ``GL_RGBA``, ``GL_BGRA_EXT``, ``GL_RGB``, ``GL_BGR_EXT`` as ints.
* The SDK, ``vendor/SpoutGL/SpoutGL.cpp`` (and the matching ``Spout.cpp`` of leadedge/Spout2):
  ``Spout::SendImage`` creates the sender on first use through ``CheckSender`` → ``OpenSpout``, which
  returns false when DirectX 11 cannot be opened or when ``wglGetCurrentDC()`` is null ("Cannot get
  GL device context"): **without an OpenGL context current on the calling thread nothing is sent**,
  on any path. With a context it uses GL/DX texture sharing where the graphics are compatible, the
  CPU DirectX copy where they are not and SpoutSettings' "Auto" is on, and nothing otherwise.
  ``CreateOpenGL`` returns true at once when a context is already current (it then owns nothing),
  else makes a hidden window, a pixel format and a context, and on each failure calls
  ``CloseOpenGL`` itself before returning false. ``CloseOpenGL`` releases what it owns; called a
  second time after such a cleanup it finds stale handles and returns false. ``ReleaseSender``
  removes the sender from the list receivers see and deletes its OpenGL objects, which needs the
  context still current (else they leak): release first, then ``closeOpenGL``.

Contexts are per thread, as in WGL: a context made current by ``createOpenGL`` on one thread is not
current on another, so a ``sendImage`` from another thread returns false.

Not modelled: the C++ destructor (when Python frees the object is not under the caller's control,
so this stand-in never releases on its own), the BGRA extension being absent, SetSenderName's
"_1" suffix for a name already taken.

On top of the real behaviour it polices rules our sink relies on and the library does not check
(each breach is recorded in ``violations`` and raised as :class:`ProtocolError`): every call on the
thread that created the sender, a name before the first frame, nothing after ``releaseSender``,
and OpenGL objects not leaked by a release without their context.

Knobs (reset by :func:`reset`): ``machine`` says what the PC can do (an OpenGL driver, DirectX 11,
GL/DX interop, the Auto setting); ``SpoutSender.failures`` raises from a method;
``SpoutSender.fail_after_current`` raises from ``createOpenGL`` after its context is current (not a
path of the real SDK, whose failures clean up and return false: it stands for anything that could
interrupt our call half-way, and proves the caller still closes); ``SpoutSender.while_sending`` is
called inside ``sendImage`` where the real binding runs without the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

enums = SimpleNamespace(GL_RGBA=0x1908, GL_BGRA_EXT=0x80E1, GL_RGB=0x1907, GL_BGR_EXT=0x80E0)
_BYTES_PER_PIXEL = {enums.GL_RGBA: 4, enums.GL_BGRA_EXT: 4, enums.GL_RGB: 3, enums.GL_BGR_EXT: 3}


def _bytes_per_pixel(gl_format: int) -> int:
    if gl_format not in _BYTES_PER_PIXEL:
        raise ValueError("Unknown GL format")
    return _BYTES_PER_PIXEL[gl_format]


helpers = SimpleNamespace(getBytesPerPixel=_bytes_per_pixel)

# What the PC offers. Defaults: a working NVIDIA/AMD/Intel driver with GL/DX interop.
machine = SimpleNamespace(opengl=True, directx11=True, gldx_interop=True, auto_share=True, write_fails=False)


class ProtocolError(AssertionError):
    """A call the real SpoutGL would accept but get wrong (wrong thread, wrong order, leaks)."""


class GLContext:
    """An OpenGL rendering context made by ``createOpenGL`` (current on at most one thread)."""

    alive: ClassVar[list[GLContext]] = []

    def __init__(self, thread: threading.Thread):
        self.thread: threading.Thread | None = thread
        GLContext.alive.append(self)

    def delete(self) -> None:
        self.thread = None
        GLContext.alive.remove(self)


_current = threading.local()


def current_context() -> GLContext | None:
    """The context current on the calling thread (``wglGetCurrentContext``)."""
    return getattr(_current, "context", None)


def _make_current(context: GLContext | None) -> None:
    _current.context = context


# Names receivers can see (the Spout sender list in shared memory).
listed: set[str] = set()


class SpoutSender:
    #: Every sender created, for the test to inspect after the sink is gone.
    created: ClassVar[list[SpoutSender]] = []
    #: Method name -> exception raised when it is called.
    failures: ClassVar[dict[str, BaseException]] = {}
    #: Raised by createOpenGL after its context was made current (see the module docstring).
    fail_after_current: ClassVar[BaseException | None] = None
    #: Called with the sender inside sendImage, where the binding has released the GIL.
    while_sending: ClassVar[Callable[[SpoutSender], None] | None] = None

    def __init__(self) -> None:
        self.owner = threading.current_thread()
        self.calls: list[str] = []
        self.violations: list[str] = []
        self.name: str | None = None
        self.sender_name: str | None = None  # as registered by the first frame
        self.cpu_share = False
        self.initialized = False  # the SDK's m_bInitialized: a sender exists
        self.released = False
        self._context: GLContext | None = None  # the context createOpenGL made (owned)
        self._stale_handles = False  # window/DC handles left by an internal CloseOpenGL
        self._objects_context: GLContext | None = None  # where the sender's GL textures live
        self.received: list[np.ndarray] = []  # RGBA, as a receiver sees the frames
        self.formats: list[int] = []
        SpoutSender.created.append(self)

    # -- policing ----------------------------------------------------------------------------------

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if threading.current_thread() is not self.owner:
            self._violate(f"{method} called on {threading.current_thread().name}, not {self.owner.name}")
        if self.released and method == "sendImage":
            self._violate("sendImage called after releaseSender")
        failure = SpoutSender.failures.get(method)
        if failure is not None:
            raise failure

    def _violate(self, what: str) -> None:
        self.violations.append(what)
        raise ProtocolError(what)

    # -- OpenGL ------------------------------------------------------------------------------------

    def createOpenGL(self, /) -> bool:
        self._enter("createOpenGL")
        if current_context() is not None:
            return True  # "OpenGL context exists": nothing is created, nothing owned
        if not machine.opengl:
            # wglCreateContext failed; the SDK has already called CloseOpenGL on its window.
            self._stale_handles = True
            return False
        self._context = GLContext(threading.current_thread())
        _make_current(self._context)
        self._stale_handles = False
        if SpoutSender.fail_after_current is not None:
            raise SpoutSender.fail_after_current
        return True

    def closeOpenGL(self, /) -> bool:
        self._enter("closeOpenGL")
        if self._context is not None:
            if current_context() is self._context:
                _make_current(None)  # wglMakeCurrent(NULL, NULL) acts on the calling thread only
            self._context.delete()
            self._context = None
            return True
        if self._stale_handles:
            self._stale_handles = False
            return False  # ReleaseDC on the destroyed window fails
        return True

    # -- sender --------------------------------------------------------------------------------------

    def setSenderName(self, name: str, /) -> None:
        self._enter("setSenderName")
        if not isinstance(name, str):
            raise TypeError(f"setSenderName(): incompatible function arguments: {name!r}")
        self.name = name

    def getCPUshare(self, /) -> bool:
        self._enter("getCPUshare")
        return self.cpu_share

    def sendImage(
        self, buffer: Any, width: int, height: int, glFormat: int, invert: bool, hostFbo: int, /
    ) -> bool:
        self._enter("sendImage")
        for value in (width, height, glFormat, hostFbo):
            if not isinstance(value, int) or value < 0:
                raise TypeError(f"sendImage(): incompatible function arguments: {value!r}")
        view = memoryview(buffer)  # TypeError for anything without the buffer protocol
        if view.nbytes < width * height * _bytes_per_pixel(glFormat):
            raise BufferError("Buffer not large enough")
        if not view.c_contiguous:
            raise BufferError("Buffer must be contiguous")
        if self.name is None:
            self._violate("sendImage before setSenderName")
        # From here the real binding runs without the GIL.
        if SpoutSender.while_sending is not None:
            SpoutSender.while_sending(self)
        if width == 0 or height == 0:
            return False
        context = current_context()
        if not self.initialized:  # Spout::CheckSender -> spoutGL::OpenSpout
            if not machine.directx11 or context is None:
                return False  # "Could not initialize DirectX 11" / "Cannot get GL device context"
            texture_share = machine.gldx_interop
            if not texture_share and not machine.auto_share:
                return False  # "Cannot share textures"
            self.cpu_share = not texture_share
            self.initialized = True
            self.sender_name = self.name
            self._objects_context = context
            listed.add(self.sender_name)
        if context is not self._objects_context or machine.write_fails:
            return False  # the GL calls of WriteGLDXpixels / WriteDX11pixels need that context
        pixels = np.frombuffer(view.tobytes(), np.uint8)[: width * height * _bytes_per_pixel(glFormat)]
        pixels = pixels.reshape(height, width, _bytes_per_pixel(glFormat))
        if glFormat in (enums.GL_BGRA_EXT, enums.GL_BGR_EXT):
            pixels = pixels[..., [2, 1, 0, *([3] if pixels.shape[2] == 4 else [])]]
        if pixels.shape[2] == 3:
            pixels = np.concatenate([pixels, np.full((height, width, 1), 255, np.uint8)], axis=2)
        self.received.append(np.ascontiguousarray(pixels))
        self.formats.append(glFormat)
        return True

    def releaseSender(self, /) -> None:
        self._enter("releaseSender")
        if self.initialized:
            listed.discard(self.sender_name)
            if current_context() is not self._objects_context:
                self._violate("releaseSender without the sender's OpenGL context current: its textures leak")
        self.initialized = False
        self._objects_context = None
        self.released = True

    def __enter__(self) -> SpoutSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.releaseSender()


def reset() -> None:
    """Forget every sender and context and restore a capable machine."""
    SpoutSender.created = []
    SpoutSender.failures = {}
    SpoutSender.fail_after_current = None
    SpoutSender.while_sending = None
    GLContext.alive = []
    listed.clear()
    machine.opengl = machine.directx11 = machine.gldx_interop = machine.auto_share = True
    machine.write_fails = False
    _make_current(None)
