"""Cache keys: a digest of the quantized pose plus everything else that changes the picture.

Keys must be equal across processes, machines and Python versions, so they are built only from
integers and strings through BLAKE2b, never from Python's per-process salted ``hash()``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np

from ezvtb_node.pose import POSE_INDEX, POSE_SIZE

KEY_SIZE = 16  # bytes of BLAKE2b: collisions are out of reach for any cache size
_KEY_FORMAT = b"ezvtb-frame-key-v1"


@dataclass(frozen=True)
class Quantization:
    """Quantization step per parameter group, in the parameter's own units.

    A pose value ``v`` falls into bucket ``round(v / step)``; poses in the same bucket share one
    cached frame. The signed head/body parameters span [-1, 1] for ±15° (head_x, neck_z, body_z) or
    ±10° (head_y, body_y) in the reference mapping, so 0.01 there is 0.15° or less: a fraction of a
    pixel at the face's edge. The defaults cost about 54 dB PSNR against the exact pose on the
    reference poser (JPEG at quality 85 costs about 34 dB): see docs/cacher.md.
    """

    eyebrow: float = 0.04  # eyebrow_* (12 values)
    eye: float = 0.04  # eye_wink … eye_raised_lower_eyelid (12 values)
    iris_small: float = 0.04
    mouth: float = 0.04  # mouth_aaa … mouth_smirk (11 values)
    iris_rotation: float = 0.04  # iris_rotation_x/y in [-1, 1]
    head: float = 0.01  # head_x, head_y, neck_z, body_y, body_z in [-1, 1]
    breathing: float = 0.04

    def __post_init__(self) -> None:
        for f in fields(self):
            step = getattr(self, f.name)
            if not (isinstance(step, int | float) and 1e-6 <= step <= 1.0):
                raise ValueError(f"quantization step {f.name!r} must be a number in [1e-6, 1], got {step!r}")

    def scaled(self, factor: float) -> Quantization:
        """The same steps multiplied by ``factor`` (benchmarks compare coarser and finer grids)."""
        return Quantization(**{f.name: getattr(self, f.name) * factor for f in fields(self)})

    def steps(self) -> np.ndarray:
        """The step of each of the 45 pose parameters, float64."""
        return _STEP_TEMPLATE @ np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)

    def describe(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self))


def _group_of(name: str) -> str:
    if name.startswith("eyebrow_"):
        return "eyebrow"
    if name.startswith("iris_small"):
        return "iris_small"
    if name.startswith("eye_"):
        return "eye"
    if name.startswith("mouth_"):
        return "mouth"
    if name.startswith("iris_rotation"):
        return "iris_rotation"
    if name == "breathing":
        return "breathing"
    return "head"  # head_x, head_y, neck_z, body_y, body_z


def _step_template() -> np.ndarray:
    """A (45, groups) one-hot matrix that spreads group steps onto parameters."""
    groups = [f.name for f in fields(Quantization)]
    template = np.zeros((POSE_SIZE, len(groups)), dtype=np.float64)
    for name, index in POSE_INDEX.items():
        template[index, groups.index(_group_of(name))] = 1.0
    return template


_STEP_TEMPLATE = _step_template()


def check_pose(pose: np.ndarray) -> np.ndarray:
    """Return ``pose`` as a flat float64 array of 45 values, or raise a clear ValueError."""
    array = np.asarray(pose)
    if array.size != POSE_SIZE or array.ndim not in (1, 2) or array.shape[-1] != POSE_SIZE:
        raise ValueError(f"pose must have shape (1, {POSE_SIZE}) or ({POSE_SIZE},), got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"pose must be floating point, got dtype {array.dtype}")
    flat = array.reshape(POSE_SIZE).astype(np.float64)
    if not np.all(np.isfinite(flat)):
        raise ValueError("pose contains NaN or infinity")
    return flat


def bucket_indices(pose: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The integer bucket of each parameter (int64); float64 division keeps it the same everywhere."""
    return np.rint(check_pose(pose) / steps).astype(np.int64)


def snap_pose(pose: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The centre of the pose's bucket as a (1, 45) float32 pose: what a miss should render so that
    every pose of a bucket shows the same frame."""
    return (bucket_indices(pose, steps) * steps).astype(np.float32).reshape(1, POSE_SIZE)


def context_digest(image_digest: str, engine_id: str, quality: int, quantization: Quantization) -> bytes:
    """Digest of everything besides the pose that decides the stored bytes."""
    if not image_digest or not engine_id:
        raise ValueError("image_digest and engine_id must be non-empty strings")
    text = f"image={image_digest}\nengine={engine_id}\nquality={int(quality)}\nq={quantization.describe()}"
    return hashlib.blake2b(text.encode(), digest_size=KEY_SIZE, person=b"ezvtb-context").digest()


def frame_key(context: bytes, pose: np.ndarray, steps: np.ndarray) -> bytes:
    """The cache key of a pose within a context."""
    buckets = bucket_indices(pose, steps).astype("<i8")
    h = hashlib.blake2b(digest_size=KEY_SIZE, person=b"ezvtb-frame")
    h.update(_KEY_FORMAT)
    h.update(context)
    h.update(buckets.tobytes())
    return h.digest()


def image_digest(image: np.ndarray) -> str:
    """Hex digest of a character image (shape, dtype and pixels) for ``FrameCacher.set_context``."""
    array = np.ascontiguousarray(image)
    h = hashlib.blake2b(digest_size=KEY_SIZE, person=b"ezvtb-image")
    h.update(f"{array.shape}|{array.dtype.str}".encode())
    h.update(array.data)
    return h.hexdigest()
