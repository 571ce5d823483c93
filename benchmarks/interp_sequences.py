"""THA3-rendered pose pairs for judging frame interpolation.

Each case is two poses one tracking update apart (the motion a 15–20 fps stream shows between two
THA3 frames) plus the THA3 frames at the in-between times an interpolator must produce for ×2, ×3
and ×4. Renders are cached (they take ~0.8 s each) in the user cache folder, keyed by the poses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ezvtb_node.paths import user_cache_dir
from ezvtb_node.pose import POSE_INDEX

# Every time any supported scale asks for: i/n for n in 2, 3, 4.
TIMES: tuple[Fraction, ...] = tuple(sorted({Fraction(i, n) for n in (2, 3, 4) for i in range(n + 1)}))


def _pose(**values: float) -> np.ndarray:
    pose = np.zeros(45, dtype=np.float32)
    for name, value in values.items():
        pose[POSE_INDEX[name]] = value
    return pose


# name → (pose at t=0, pose at t=1)
CASES: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "head turn": (_pose(head_y=0.0), _pose(head_y=0.3)),
    "head nod": (_pose(head_x=-0.2), _pose(head_x=0.1)),
    "neck tilt": (_pose(neck_z=0.0), _pose(neck_z=0.3)),
    "blink": (_pose(), _pose(eye_wink_left=1.0, eye_wink_right=1.0)),
    "mouth open": (_pose(), _pose(mouth_aaa=0.8)),
    "iris look": (_pose(iris_rotation_x=-0.5, iris_rotation_y=-0.5), _pose(iris_rotation_x=0.5)),
    "body sway": (_pose(body_y=0.0, breathing=0.0), _pose(body_y=0.3, body_z=0.2, breathing=0.5)),
    "turn + talk": (
        _pose(head_y=0.2, neck_z=-0.1, mouth_aaa=0.4),
        _pose(head_y=-0.1, neck_z=0.05, mouth_ooo=0.6, eye_happy_wink_left=0.5, eye_happy_wink_right=0.5),
    ),
}


@dataclass(frozen=True)
class RenderedCase:
    name: str
    frames: dict[Fraction, np.ndarray]  # time → uint8 (512,512,4) BGRA rendered by THA3


def _cache_key() -> str:
    digest = hashlib.sha256()
    for name, (a, b) in CASES.items():
        digest.update(name.encode() + a.tobytes() + b.tobytes())
    digest.update(str(TIMES).encode())
    return digest.hexdigest()[:16]


def rendered_cases(verbose: bool = True) -> list[RenderedCase]:
    """All cases rendered at every time in TIMES (from the cache when it is there)."""
    cache = user_cache_dir() / "bench" / f"interp_tha3_{_cache_key()}.npz"
    if cache.is_file():
        stored = np.load(cache)
        return [
            RenderedCase(name, {t: stored[f"{i}_{t.numerator}_{t.denominator}"] for t in TIMES})
            for i, name in enumerate(CASES)
        ]
    from interp_tha3_render import ReferenceRenderer, packaged_character

    renderer = ReferenceRenderer(packaged_character())
    cases, arrays = [], {}
    for i, (name, (start, end)) in enumerate(CASES.items()):
        if verbose:
            print(f"rendering '{name}' at {len(TIMES)} times with THA3 (torch, CPU)…", flush=True)
        frames = {t: renderer.render(start + float(t) * (end - start)) for t in TIMES}
        arrays.update({f"{i}_{t.numerator}_{t.denominator}": f for t, f in frames.items()})
        cases.append(RenderedCase(name, frames))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **arrays)
    return cases
