"""The 45-float THA3 pose: parameter names, ranges and the network stage slices.

Order from the THA3 demo (pose_parameters.py). Pairs are (left, right).
"""

from __future__ import annotations

import numpy as np

_PAIRED_0_1 = (
    "eyebrow_troubled",
    "eyebrow_angry",
    "eyebrow_lowered",
    "eyebrow_raised",
    "eyebrow_happy",
    "eyebrow_serious",
    "eye_wink",
    "eye_happy_wink",
    "eye_surprised",
    "eye_relaxed",
    "eye_unimpressed",
    "eye_raised_lower_eyelid",
    "iris_small",
)
_MOUTH_SINGLES = ("mouth_aaa", "mouth_iii", "mouth_uuu", "mouth_eee", "mouth_ooo", "mouth_delta")
_MOUTH_PAIRS = ("mouth_lowered_corner", "mouth_raised_corner")
_SIGNED = ("iris_rotation_x", "iris_rotation_y", "head_x", "head_y", "neck_z", "body_y", "body_z")


def _names() -> tuple[str, ...]:
    names: list[str] = []
    for base in _PAIRED_0_1:
        names += [f"{base}_left", f"{base}_right"]
    names += list(_MOUTH_SINGLES)
    for base in _MOUTH_PAIRS:
        names += [f"{base}_left", f"{base}_right"]
    names.append("mouth_smirk")
    names += list(_SIGNED)
    names.append("breathing")
    return tuple(names)


POSE_NAMES: tuple[str, ...] = _names()
POSE_SIZE = 45
assert len(POSE_NAMES) == POSE_SIZE
POSE_INDEX: dict[str, int] = {name: i for i, name in enumerate(POSE_NAMES)}

# Lower/upper bounds per parameter: [0, 1] except the seven signed ones, [-1, 1].
POSE_MIN = np.array([-1.0 if n in _SIGNED else 0.0 for n in POSE_NAMES], dtype=np.float32)
POSE_MAX = np.ones(POSE_SIZE, dtype=np.float32)

# The slices each THA3 network stage reads (same split as the THA3 demo and ezvtuber-rt).
EYEBROW_SLICE = slice(0, 12)
FACE_SLICE = slice(12, 39)
ROTATION_SLICE = slice(39, 45)


def neutral_pose() -> np.ndarray:
    """A (1, 45) float32 pose with every parameter at rest."""
    return np.zeros((1, POSE_SIZE), dtype=np.float32)


def clamp_pose(pose: np.ndarray) -> np.ndarray:
    """Clip each parameter into its THA3 range (returns a new array)."""
    return np.clip(pose, POSE_MIN, POSE_MAX).astype(np.float32, copy=False)
