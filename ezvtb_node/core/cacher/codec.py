"""Frame encoding for the cache: JPEG colour plus losslessly deflated alpha, or raw bytes.

A BGRA frame becomes an :class:`EncodedFrame` (two byte strings, so SQLite can keep them in two
columns). Colour goes through libjpeg-turbo (PyTurboJPEG) with 4:4:4 chroma (no subsampling: anime
line art has sharp colour edges) and the accurate integer DCT. Alpha is compressed with zlib level 1
and is therefore exact: the edges never jitter. Quality 100 stores both planes raw, byte-exact.
If libjpeg-turbo cannot be loaded, Pillow's JPEG codec takes over after one warning.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

FRAME_SHAPE = (512, 512, 4)
CHECKSUM_SIZE = 8


@dataclass(frozen=True)
class EncodedFrame:
    """One stored frame. ``codec`` names how ``colour`` is stored ("jpeg" or "raw")."""

    codec: str
    width: int
    height: int
    colour: bytes
    alpha: bytes

    @property
    def size(self) -> int:
        return len(self.colour) + len(self.alpha)

    def checksum(self) -> bytes:
        h = hashlib.blake2b(digest_size=CHECKSUM_SIZE)
        h.update(f"{self.codec}|{self.width}|{self.height}|{len(self.colour)}|".encode())
        h.update(self.colour)
        h.update(self.alpha)
        return h.digest()


class JpegBackend(Protocol):
    name: str

    def encode_bgr(self, bgra: np.ndarray, quality: int) -> bytes: ...

    def decode_into(self, data: bytes, out: np.ndarray) -> None:
        """Decode colour into ``out[..., :3]`` of a (H, W, 4) uint8 array (alpha is set later)."""


class TurboJpegBackend:
    name = "libjpeg-turbo (PyTurboJPEG)"

    def __init__(self) -> None:
        import turbojpeg  # raises ImportError or OSError without the library

        self._tj = turbojpeg.TurboJPEG()
        self._bgra = turbojpeg.TJPF_BGRA
        self._subsample = turbojpeg.TJSAMP_444

    def encode_bgr(self, bgra: np.ndarray, quality: int) -> bytes:
        # The 4th byte is ignored by libjpeg-turbo for BGRA input: no copy of the colour planes.
        return self._tj.encode(bgra, quality=quality, pixel_format=self._bgra, jpeg_subsample=self._subsample)

    def decode_into(self, data: bytes, out: np.ndarray) -> None:
        decoded = self._tj.decode(data, pixel_format=self._bgra, dst=out)
        if decoded is not out:  # a JPEG of another size: PyTurboJPEG allocated a new array
            raise ValueError(f"stored JPEG is {decoded.shape[:2]}, expected {out.shape[:2]}")


class PillowJpegBackend:
    name = "Pillow JPEG (fallback)"

    def encode_bgr(self, bgra: np.ndarray, quality: int) -> bytes:
        from PIL import Image

        height, width = bgra.shape[:2]
        image = Image.frombuffer("RGB", (width, height), np.ascontiguousarray(bgra), "raw", "BGRX", 0, 1)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, subsampling=0)
        return buffer.getvalue()

    def decode_into(self, data: bytes, out: np.ndarray) -> None:
        from PIL import Image

        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        out[..., 0] = rgb[..., 2]
        out[..., 1] = rgb[..., 1]
        out[..., 2] = rgb[..., 0]


_backend: JpegBackend | None = None


def jpeg_backend() -> JpegBackend:
    """libjpeg-turbo if it loads, else Pillow with one warning for the whole process."""
    global _backend
    if _backend is None:
        try:
            _backend = TurboJpegBackend()
        except (ImportError, OSError, RuntimeError) as exc:
            log.warning(
                "frame cacher: libjpeg-turbo could not be loaded (%s); using Pillow's slower JPEG codec. "
                "Install it with `apt-get install libturbojpeg0` (Debian/Ubuntu), "
                "`brew install jpeg-turbo` (macOS) or the libjpeg-turbo installer (Windows).",
                exc,
            )
            _backend = PillowJpegBackend()
    return _backend


def check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 4:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"frame must be a uint8 BGRA array of shape (H, W, 4), got {got}")


class FrameCodec:
    """Encodes and decodes BGRA frames at one quality (1–100; 100 = raw, byte-exact)."""

    def __init__(self, quality: int, backend: JpegBackend | None = None) -> None:
        if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
            raise ValueError(f"cacher quality must be an integer from 1 to 100, got {quality!r}")
        self.quality = quality
        # Load libjpeg-turbo now, so the first cache hit is not the one paying for it.
        self._chosen_backend = backend or (jpeg_backend() if quality < 100 else None)

    @property
    def _backend(self) -> JpegBackend:
        return self._chosen_backend or jpeg_backend()

    @property
    def name(self) -> str:
        return "raw" if self.quality == 100 else f"jpeg q{self.quality} 4:4:4 via {self._backend.name}"

    def encode(self, frame: np.ndarray) -> EncodedFrame:
        check_frame(frame)
        height, width = frame.shape[:2]
        frame = np.ascontiguousarray(frame)
        if self.quality == 100:
            return EncodedFrame("raw", width, height, frame.tobytes(), b"")
        colour = self._backend.encode_bgr(frame, self.quality)
        alpha = zlib.compress(np.ascontiguousarray(frame[..., 3]).data, 1)
        return EncodedFrame("jpeg", width, height, colour, alpha)

    def decode(self, encoded: EncodedFrame) -> np.ndarray:
        """A new (H, W, 4) uint8 BGRA array."""
        shape = (encoded.height, encoded.width, 4)
        if encoded.codec == "raw":
            return np.frombuffer(encoded.colour, dtype=np.uint8).reshape(shape).copy()
        if encoded.codec != "jpeg":
            raise ValueError(f"unknown stored codec {encoded.codec!r}")
        out = np.empty(shape, dtype=np.uint8)
        self._backend.decode_into(encoded.colour, out)
        out[..., 3] = np.frombuffer(zlib.decompress(encoded.alpha), dtype=np.uint8).reshape(shape[:2])
        return out
