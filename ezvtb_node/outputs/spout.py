"""Spout output (Windows): shares frames as a GPU texture with OBS, Unity and other Spout receivers.

Uses SpoutGL (PyPI ``SpoutGL``, Windows wheels only). The sink's worker thread (see
:mod:`ezvtb_node.outputs.base`) is the only thread that touches SpoutGL, because OpenGL contexts
are per thread. That thread creates the sender *and* an OpenGL context of its own
(``createOpenGL``): the Spout SDK sends nothing without a context current on the calling thread
(``OpenSpout`` fails with "Cannot get GL device context"), whichever way it then shares the frame
(GPU texture through GL/DX interop, or its CPU DirectX copy on incompatible graphics). With the
context, ``sendImage`` uploads our BGRA frames as ``GL_BGRA_EXT`` without a colour swizzle.

``open`` therefore fails, with a message naming OpenGL and the way out, when the context cannot be
made, and it sends one transparent frame before returning so that a machine where Spout cannot
share at all fails at ``open`` too instead of on every frame. Whatever fails, what was acquired is
released on the same thread: ``releaseSender`` (while the context is still current, since it
deletes OpenGL textures) and then ``closeOpenGL``.

Frames are sent with straight alpha by default; ``premultiplied=True`` multiplies colour by alpha
first (pick the matching composite mode in OBS, see docs/outputs.md).
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType
from typing import Any

import numpy as np

from ezvtb_node.install_hints import install_extra
from ezvtb_node.outputs.base import FrameSink
from ezvtb_node.outputs.spec import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SENDER_NAME

log = logging.getLogger(__name__)

# Spout keeps sender names in a fixed 256-byte buffer including the terminating NUL.
_MAX_NAME_BYTES = 255

NO_OPENGL = (
    "Spout output needs OpenGL, and SpoutGL could not create an OpenGL context here (createOpenGL "
    "returned false), so Spout cannot send anything. Update the graphics driver (from NVIDIA, AMD or "
    "Intel; the Windows basic display driver and some remote-desktop sessions have no usable "
    "OpenGL), or use the browser output instead: --output browser"
)
FIRST_FRAME_FAILED = (
    "Spout could not send a first frame (SpoutGL sendImage returned false): Spout needs OpenGL and "
    "DirectX 11 from the graphics driver, and either GPU texture sharing or the 'Auto' CPU fallback "
    "in SpoutSettings. Update the graphics driver or turn on 'Auto' in SpoutSettings, or use the "
    "browser output instead: --output browser"
)


def load_spoutgl() -> ModuleType:
    """Import SpoutGL, or raise a RuntimeError that says what to do instead."""
    if sys.platform != "win32":
        raise RuntimeError(
            f"Spout output needs Windows (this is {sys.platform}); use the browser output instead "
            f"(--output browser, then add http://{DEFAULT_HOST}:{DEFAULT_PORT}/ as an OBS Browser Source)"
        )
    try:
        import SpoutGL
    except ImportError as exc:
        raise RuntimeError(
            f"Spout output needs the SpoutGL package: {install_extra('spout')} "
            "(or use the browser output: --output browser)"
        ) from exc
    return SpoutGL


def premultiply_into(frame: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write ``frame`` (BGRA, straight alpha) into ``out`` with colour multiplied by alpha (rounded)."""
    out[..., :3] = (frame[..., :3] * frame[..., 3:4].astype(np.uint16) + 127) // 255
    out[..., 3] = frame[..., 3]
    return out


class SpoutSink(FrameSink):
    """Send frames as the Spout sender ``name`` (default ``ezvtb``).

    ``open`` raises RuntimeError when this machine cannot send through Spout (no OpenGL context,
    no DirectX 11, no way to share); it never leaves a half-open sender behind.
    """

    kind = "spout"

    def __init__(
        self,
        name: str = DEFAULT_SENDER_NAME,
        premultiplied: bool = False,
        spoutgl: ModuleType | None = None,
    ) -> None:
        super().__init__()
        if not name or len(name.encode("utf-8")) > _MAX_NAME_BYTES:
            raise ValueError(f"Spout sender name must be 1 to {_MAX_NAME_BYTES} bytes, got {name!r}")
        self.name = name
        self.premultiplied = premultiplied
        # Resolved here, not on first use, so a missing SpoutGL is reported before anything starts.
        self._spoutgl = spoutgl if spoutgl is not None else load_spoutgl()
        self._sender: Any = None
        self._opengl_attempted = False
        self._cpu_share: bool | None = None
        self._scratch: np.ndarray | None = None

    def _start(self, width: int, height: int) -> None:
        sender = self._spoutgl.SpoutSender()
        self._sender = sender
        try:
            # Set before the call: a call that fails half-way may still have made a context current.
            self._opengl_attempted = True
            if not sender.createOpenGL():
                raise RuntimeError(NO_OPENGL)
            sender.setSenderName(self.name)
            # The first send creates the sender; a transparent frame shows nothing in OBS meanwhile.
            if not self._send(np.zeros((height, width, 4), np.uint8)):
                raise RuntimeError(FIRST_FRAME_FAILED)
            self._cpu_share = bool(sender.getCPUshare())
        except BaseException:
            self._stop()
            raise
        if self._cpu_share:
            log.warning(
                "Spout: this graphics setup cannot share GPU textures; Spout copies frames through "
                "the CPU (slower, same picture)"
            )
        if self.premultiplied:
            self._scratch = np.empty((height, width, 4), np.uint8)

    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        pixels = frame if self._scratch is None else premultiply_into(frame, self._scratch)
        if not self._send(pixels):
            height, width = pixels.shape[:2]
            raise RuntimeError(f"Spout sendImage({width}x{height}) returned false")

    def _send(self, pixels: np.ndarray) -> bool:
        # SpoutGL reads the buffer as one C-contiguous block, without a copy and without the GIL;
        # ``pixels`` stays referenced here until the call returns.
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        return bool(self._sender.sendImage(pixels, width, height, self._spoutgl.enums.GL_BGRA_EXT, False, 0))

    def _stop(self) -> None:
        sender, self._sender = self._sender, None
        if sender is None:
            return
        try:
            # First, while our context is still current: it deletes the sender's OpenGL textures.
            sender.releaseSender()
        finally:
            if self._opengl_attempted:
                # Returns false when createOpenGL had already cleaned up its own failure: not an error.
                sender.closeOpenGL()

    def _extra_stats(self) -> dict[str, Any]:
        sharing = None if self._cpu_share is None else ("cpu (DirectX)" if self._cpu_share else "gpu texture")
        return {
            "sender_name": self.name,
            "premultiplied": self.premultiplied,
            "gl_context": self._cpu_share is not None,
            "sharing": sharing,
        }
