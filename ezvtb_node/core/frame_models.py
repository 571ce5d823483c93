"""What the frame stages after THA3 (interpolation, SR) share: the check on every frame handed to
them, and an imported RIFE or SR graph (``models/import_onnx``) loaded on the core's backend, so
it runs on the same device as THA3 (OpenVINO on a CPU, the GPU runtime where one runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ezvtb_node.core.backends import Backend, make_cpu_backend
from ezvtb_node.core.models.import_onnx import validate_model
from ezvtb_node.core.models.layout import FRAME_SHAPE

KINDS = {"rife": "RIFE interpolation", "sr": "super-resolution"}


def check_frame(name: str, frame: np.ndarray) -> None:
    """Raise ValueError naming ``name`` unless ``frame`` is a uint8 BGRA THA3 frame."""
    if not isinstance(frame, np.ndarray) or frame.shape != FRAME_SHAPE or frame.dtype != np.uint8:
        found = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"{name}: expected uint8 BGRA array of shape {FRAME_SHAPE}, got {found}")


class OnnxFrameModel:
    """An imported graph of ``kind`` ("rife" or "sr"), validated, then loaded on ``backend``
    (default: the CPU runtime). A file of the other kind is refused before anything loads.
    The ONNX interpolator and upscaler are this plus how they feed and read the graph."""

    def __init__(self, model_path: Path, kind: str, backend: Backend | None = None) -> None:
        info = validate_model(model_path)
        if info.kind != kind:
            raise ValueError(f"{model_path}: expected a {KINDS[kind]} model, found a {info.kind} model")
        self.info = info
        self.scale = info.scale
        self.backend = backend or make_cpu_backend()
        self.runner = self.backend.load(info.path)

    def describe(self) -> dict:
        return {
            "scale": self.scale,
            "model": str(self.info.path),
            "precision": self.info.precision,
            "backend": self.backend.name,
        }
