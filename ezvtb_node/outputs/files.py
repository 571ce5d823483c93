"""File outputs for demos and bug reports: a PNG sequence, or one animated WebP with alpha."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ezvtb_node.outputs.base import FrameSink
from ezvtb_node.paths import retry_while_held

log = logging.getLogger(__name__)

PNG_PATTERN = "frame_{:06d}.png"
# An animation is assembled in memory when the sink closes; past this budget later frames are dropped.
DEFAULT_ANIMATION_BUDGET_BYTES = 512 * 2**20


def to_image(frame: np.ndarray) -> Image.Image:
    """A Pillow RGBA image of a BGRA frame (straight alpha in both)."""
    height, width = frame.shape[:2]
    return Image.frombuffer("RGBA", (width, height), np.ascontiguousarray(frame), "raw", "BGRA", 0, 1)


class PngSequenceSink(FrameSink):
    """Write every frame as ``DIR/frame_000000.png``, ``frame_000001.png``, ... (alpha kept)."""

    kind = "png"

    def __init__(self, directory: str | os.PathLike[str], compress_level: int = 1) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.compress_level = compress_level
        self._index = 0

    def _start(self, width: int, height: int) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"PNG output needs a directory, but {self.directory} is a file")
        self.directory.mkdir(parents=True, exist_ok=True)
        if any(self.directory.glob("frame_*.png")):
            # Mixing two recordings in one folder would silently corrupt both.
            raise ValueError(
                f"{self.directory} already holds frame_*.png files; choose an empty or new directory"
            )

    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        path = self.directory / PNG_PATTERN.format(self._index)
        to_image(frame).save(path, "PNG", compress_level=self.compress_level)
        self._index += 1

    def _extra_stats(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "files": self._index}


def frame_durations_ms(count: int, fps: float) -> list[int]:
    """Whole-millisecond durations whose running sum tracks ``i * 1000 / fps`` (16, 17, 17, 16, ... at 60)."""
    edges = [round(i * 1000.0 / fps) for i in range(count + 1)]
    return [b - a for a, b in itertools.pairwise(edges)]


def write_webp_animation(frames: list[np.ndarray], path: Path, fps: float, quality: int = 100) -> None:
    """Write BGRA frames as one looping animated WebP with alpha (lossless at quality 100).

    Written under a temporary name and renamed when complete, so a crash never leaves half a file.
    """
    images = [to_image(frame) for frame in frames]
    partial = path.with_name(path.name + ".part")
    images[0].save(
        partial,
        "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=frame_durations_ms(len(images), fps),
        loop=0,
        lossless=quality == 100,
        quality=quality,
        method=0,
        exact=True,
    )
    retry_while_held(lambda: os.replace(partial, path), path)


class WebpAnimationSink(FrameSink):
    """Collect frames and write one looping animated WebP with alpha when closed.

    Lossless by default (exact pixels, for bug reports); ``quality`` < 100 gives a smaller lossy file
    (alpha stays lossless). The file is written under a temporary name and renamed when complete.
    """

    kind = "webp"

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float = 60.0,
        quality: int = 100,
        budget_bytes: int = DEFAULT_ANIMATION_BUDGET_BYTES,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        if self.path.suffix.lower() != ".webp":
            raise ValueError(f"animation file name must end in .webp, got {self.path.name!r}")
        if not 0 <= quality <= 100:
            raise ValueError(f"WebP quality must be 0..100, got {quality!r}")
        self.fps, self.quality, self.budget_bytes = fps, quality, budget_bytes
        self._frames: list[np.ndarray] = []
        self._over_budget = 0

    def _start(self, width: int, height: int) -> None:
        if not self.path.parent.is_dir():
            raise ValueError(f"cannot write {self.path}: directory {self.path.parent} does not exist")

    def _write(self, frame: np.ndarray, sent_at: float) -> None:
        if (len(self._frames) + 1) * frame.nbytes > self.budget_bytes:
            if not self._over_budget:
                log.warning(
                    "WebP output: memory budget reached after %d frames; later frames are dropped",
                    len(self._frames),
                )
            self._over_budget += 1
            return
        self._frames.append(frame.copy())

    def _stop(self) -> None:
        if not self._frames:
            log.warning("WebP output: no frames were sent; %s not written", self.path)
            return
        write_webp_animation(self._frames, self.path, self.fps, self.quality)
        log.info("WebP output: wrote %d frames to %s", len(self._frames), self.path)

    def _extra_stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "frames": len(self._frames), "over_budget": self._over_budget}
