"""Super-resolution of uint8 (512,512,4) BGRA frames: ×2 → (1024,1024,4), ×4 → (2048,2048,4).

Upscalers share one interface (`Upscaler`):

* `OnnxUpscaler` runs an imported waifu2x UpConv7 / Real-ESRGAN animevideo-v3 graph in the
  ezvtuber-rt layout (BGRA in, BGRA out; see models/layout.py) on the core's backend.
* `BicubicUpscaler` (embedded default, no weights): classical bicubic resampling (Lanczos-4
  scored 0.2 dB better in benchmarks/interp_sr.py but costs ~20× more on the CPU).

Anime4K through `pyanime4k` was tried as the embedded default and dropped: its CPU feature probe
executes instructions and relies on catching SIGILL, which crashed whole processes here depending
on what else was loaded, and it cost 0.2-0.8 s per frame on this CPU.

The embedded one scales colour premultiplied by alpha and divide it back afterwards, so the
colour hidden under fully transparent pixels never bleeds into the silhouette's edge; alpha goes
through the same filter as colour so the edges of both stay aligned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ezvtb_node.core.backends import Backend, to_host
from ezvtb_node.core.frame_models import OnnxFrameModel, check_frame
from ezvtb_node.core.models.layout import SR_FAMILIES, SR_SCALES
from ezvtb_node.core.models.store import find_sr_model
from ezvtb_node.core.options import SR_MODELS

log = logging.getLogger(__name__)


class Upscaler(Protocol):
    """`upscale(frame)` maps uint8 (512,512,4) BGRA to uint8 (512·scale, 512·scale, 4) BGRA.

    The returned array may be reused by the next call: copy it to keep it."""

    scale: int

    def upscale(self, frame: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict: ...


class _PremultipliedUpscaler:
    """Alpha handling shared by the embedded upscalers; subclasses supply `_resample`."""

    name = ""

    def __init__(self, scale: int) -> None:
        if scale not in SR_SCALES:
            raise ValueError(f"SR scale must be 2 or 4, got {scale!r}")
        self.scale = scale

    def describe(self) -> dict:
        return {"upscaler": self.name, "scale": self.scale}

    def _resample(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        check_frame("upscale", frame)
        bgr, alpha = frame[:, :, :3], np.ascontiguousarray(frame[:, :, 3])
        premultiplied = cv2.multiply(bgr, cv2.merge([alpha, alpha, alpha]), scale=1.0 / 255.0)
        color = self._resample(premultiplied)
        alpha_big = self._resample(alpha)
        # uint8 division by 0 gives 0: fully transparent pixels come out (0,0,0,0).
        straight = cv2.divide(color, cv2.merge([alpha_big, alpha_big, alpha_big]), scale=255.0)
        return cv2.merge([straight, alpha_big])


class BicubicUpscaler(_PremultipliedUpscaler):
    name = "bicubic"

    def _resample(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = (width * self.scale, height * self.scale)
        return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


class OnnxUpscaler(OnnxFrameModel):
    """An imported SR graph: BGRA uint8 (512,512,4) → BGRA uint8 (512·s,512·s,4)."""

    def __init__(self, model_path: Path, backend: Backend | None = None) -> None:
        super().__init__(model_path, "sr", backend)
        self._input = self.runner.input_names[0]

    def describe(self) -> dict:
        return {"upscaler": self.info.family, **super().describe()}

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        check_frame("upscale", frame)
        return to_host(self.runner.run({self._input: frame})[0])


def make_upscaler(
    model: str = "auto",
    scale: int = 2,
    half: bool = True,
    engines_dir: Path | None = None,
    backend: Backend | None = None,
) -> Upscaler:
    """An upscaler by name (one of SR_MODELS).

    "waifu2x" / "realesrgan" need an imported file for `scale` (fp16 first if `half`); "auto"
    takes whichever of those is imported, else the embedded bicubic upscaler.
    """
    if model not in SR_MODELS:
        raise ValueError(f"SR model must be one of {SR_MODELS}, got {model!r}")
    if scale not in SR_SCALES:
        raise ValueError(f"SR scale must be 2 or 4, got {scale!r}")
    if model == "bicubic":
        return BicubicUpscaler(scale)
    families = SR_FAMILIES if model == "auto" else (model,)
    for family in families:
        path = find_sr_model(family, scale, half, engines_dir)
        if path is not None:
            return OnnxUpscaler(path, backend)
    if model != "auto":
        raise FileNotFoundError(
            f"no imported {model} model for x{scale}: import one with `ezvtb-node engines import FILE`"
        )
    return BicubicUpscaler(scale)
