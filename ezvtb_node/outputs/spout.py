"""Spout output (Windows): shares frames as a GPU texture with OBS, Unity and other Spout receivers.

Uses SpoutGL (PyPI ``SpoutGL``, Windows wheels only). Design choice: the sink's worker thread (see
:mod:`ezvtb_node.outputs.base`) is the only thread that touches SpoutGL. It creates the sender *and*
an OpenGL context of its own (``createOpenGL``), so ``sendImage`` uploads BGRA through OpenGL with
``GL_BGRA_EXT`` and our frames go out without a per-frame colour swizzle. Without that context
SpoutGL falls back to a CPU DirectX path that reads BGRA as RGBA (red and blue swapped); should the
context ever fail to come up we therefore swizzle to RGBA on the CPU and send ``GL_RGBA``, which is
correct on both paths, and say so in the log and in ``stats()``.

Frames are sent with straight alpha by default; ``premultiplied=True`` multiplies colour by alpha
first (pick the matching composite mode in OBS, see docs/outputs.md).
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType
from typing import Any

import numpy as np

from ezvtb_node.outputs.base import FrameSink

log = logging.getLogger(__name__)

DEFAULT_SENDER_NAME = "ezvtb"
# Spout keeps sender names in a fixed 256-byte buffer including the terminating NUL.
_MAX_NAME_BYTES = 255


def load_spoutgl() -> ModuleType:
    """Import SpoutGL, or raise a RuntimeError that says what to do instead."""
    if sys.platform != "win32":
        raise RuntimeError(
            f"Spout output needs Windows (this is {sys.platform}); use the browser output instead "
            "(--output browser, then add http://127.0.0.1:8765/ as an OBS Browser Source)"
        )
    try:
        import SpoutGL
    except ImportError as exc:
        raise RuntimeError(
            "Spout output needs the SpoutGL package: pip install 'ezvtb-node[spout]' "
            "(or use the browser output: --output browser)"
        ) from exc
    return SpoutGL


def convert_into(frame: np.ndarray, out: np.ndarray, premultiply: bool, to_rgba: bool) -> np.ndarray:
    """Write ``frame`` (BGRA) into ``out``, colour optionally multiplied by alpha and/or put in RGBA order."""
    colour = frame[..., [2, 1, 0]] if to_rgba else frame[..., :3]
    if premultiply:
        colour = (colour * frame[..., 3:4].astype(np.uint16) + 127) // 255
    out[..., :3] = colour
    out[..., 3] = frame[..., 3]
    return out


class SpoutSink(FrameSink):
    """Send frames as the Spout sender ``name`` (default ``ezvtb``)."""

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
        self._has_gl_context = False
        self._gl_format = 0
        self._scratch: np.ndarray | None = None

    def _start(self, width: int, height: int) -> None:
        enums = self._spoutgl.enums
        sender = self._spoutgl.SpoutSender()
        self._sender = sender
        try:
            self._has_gl_context = bool(sender.createOpenGL())
            if not self._has_gl_context:
                log.warning("Spout: could not create an OpenGL context; sending RGBA converted on the CPU")
            self._gl_format = enums.GL_BGRA_EXT if self._has_gl_context else enums.GL_RGBA
            sender.setSenderName(self.name)
        except BaseException:
            self._stop()
            raise
        if self.premultiplied or not self._has_gl_context:
            self._scratch = np.empty((height, width, 4), np.uint8)

    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        pixels = frame
        if self._scratch is not None:
            pixels = convert_into(frame, self._scratch, self.premultiplied, to_rgba=not self._has_gl_context)
        # SpoutGL reads the buffer as one C-contiguous block with the GIL released.
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        if not self._sender.sendImage(pixels, width, height, self._gl_format, False, 0):
            raise RuntimeError(f"Spout sendImage({width}x{height}) returned false")

    def _stop(self) -> None:
        sender, self._sender = self._sender, None
        if sender is None:
            return
        try:
            sender.releaseSender()
        finally:
            if self._has_gl_context:
                sender.closeOpenGL()

    def _extra_stats(self) -> dict[str, Any]:
        return {
            "sender_name": self.name,
            "premultiplied": self.premultiplied,
            "gl_context": self._has_gl_context,
        }
