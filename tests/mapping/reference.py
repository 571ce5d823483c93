"""An independent reference of the THA3 demo's ARKit converter, written from REFERENCE.md §6.

Deliberately naive and separate from ezvtb_node.mapping: plain formulas, dictionaries of names,
and scipy for the mouth fit. Two mouth solvers: the demo's own (L-BFGS-B from w = 0, approximate)
and an exact one (the same problem solved through scipy's bounded least squares, see below).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import lsq_linear, minimize

from ezvtb_node.channels import ARKIT_BLENDSHAPES

VOWEL_SHAPES = np.array(
    [
        [1.0, 1.0, 0.0, 0.0],  # aaa
        [0.0, 1.0, 0.0, 0.0],  # iii
        [0.5, 0.3, 0.25, 0.75],  # uuu
        [1.0, 0.5, 0.5, 0.4],  # ooo
    ]
)
L1 = 0.01


def clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def clamp01(x: float) -> float:
    return clamp(x, 0.0, 1.0)


def mouth_cost(w: np.ndarray, v: np.ndarray) -> float:
    return float(np.linalg.norm(w @ VOWEL_SHAPES - v) + L1 * np.abs(w).sum())


def mouth_fit_lbfgsb(v: np.ndarray) -> np.ndarray:
    """What the demo does each frame."""
    return minimize(lambda w: mouth_cost(w, v), np.zeros(4), method="L-BFGS-B", bounds=[(0.0, 1.0)] * 4).x


def mouth_fit_exact(v: np.ndarray) -> np.ndarray:
    """The exact optimum, by a route independent of ours.

    At the optimum, ``‖Aw − v‖ + λ·Σw`` has the same KKT conditions as the bounded least-squares
    problem ``½‖Aw − v‖² + μ·Σw`` with ``μ = λ·‖Aw − v‖``; for an invertible A the linear term
    folds into the target (v − μ·A⁻ᵀ1). Iterate μ to its fixed point with scipy's BVLS solver.
    """
    a = VOWEL_SHAPES.T
    shift = np.linalg.solve(a.T, np.ones(4))
    mu = 0.0
    for _ in range(500):
        w = lsq_linear(a, v - mu * shift, bounds=(0.0, 1.0), method="bvls", tol=1e-14).x
        new_mu = L1 * float(np.linalg.norm(a @ w - v))
        if abs(new_mu - mu) < 1e-14:
            break
        mu = new_mu
    return w


def reference_pose(c: dict[str, float], mouth_fit=mouth_fit_exact) -> dict[str, float]:
    """THA3 parameters by name (unset ones are 0), from ARKit channels and head angles in degrees."""
    g = lambda name: c.get(name, 0.0)  # noqa: E731
    p: dict[str, float] = {}
    smile = (g("mouthSmileLeft") + g("mouthSmileRight")) / 2 + g("mouthShrugUpper")
    smile_degree = clamp01((smile - 0.4) / (0.6 - 0.4))
    for side, Side in (("left", "Left"), ("right", "Right")):
        p[f"eyebrow_raised_{side}"] = clamp01(g("browInnerUp") + g(f"browOuterUp{Side}"))
        p[f"eyebrow_angry_{side}"] = (1 - smile_degree) * clamp01(g(f"browDown{Side}") / 0.4)
        p[f"eyebrow_happy_{side}"] = clamp01(smile) * smile_degree
        p[f"eye_surprised_{side}"] = clamp01(g(f"eyeWide{Side}") / 0.5)
        p[f"eye_wink_{side}"] = (1 - smile_degree) * clamp01(g(f"eyeBlink{Side}") / 0.8)
        p[f"eye_happy_wink_{side}"] = smile_degree * clamp01(g(f"eyeBlink{Side}") / 0.8)
        p[f"eye_raised_lower_eyelid_{side}"] = clamp01((g(f"cheekSquint{Side}") - 0.1) / 0.6)
    p["iris_rotation_y"] = clamp(
        (g("eyeLookInLeft") - g("eyeLookOutLeft") - g("eyeLookInRight") + g("eyeLookOutRight")) / 2 / 0.75,
        -1,
        1,
    )
    p["iris_rotation_x"] = clamp(
        (g("eyeLookUpLeft") + g("eyeLookUpRight") - g("eyeLookDownLeft") - g("eyeLookDownRight")) / 2 / 0.75,
        -1,
        1,
    )
    p["head_x"] = clamp(-g("head.pitch"), -15, 15) / 15
    p["head_y"] = clamp(-g("head.yaw"), -10, 10) / 10
    p["body_y"] = p["head_y"]
    p["neck_z"] = clamp(g("head.roll"), -15, 15) / 15
    p["body_z"] = p["neck_z"]

    mouth_open = clamp01((g("jawOpen") - 0.1) / 0.3)
    p["mouth_aaa"] = mouth_open
    p["mouth_raised_corner_left"] = p["mouth_raised_corner_right"] = clamp01(smile)
    if mouth_open == 0:
        frown = clamp01((g("mouthFrownLeft") + g("mouthFrownRight")) / 0.6)
        p["mouth_lowered_corner_left"] = p["mouth_lowered_corner_right"] = frown
    else:
        v = np.array(
            [
                mouth_open,
                clamp01(g("mouthLowerDownLeft") + g("mouthLowerDownRight")),
                g("mouthFunnel"),
                g("mouthPucker"),
            ]
        )
        w = mouth_fit(v)
        uo = clamp01(w[2] + w[3])
        ooo_alpha = clamp01((g("mouthFunnel") - 0.25) / (0.5 - 0.25))
        p["mouth_aaa"], p["mouth_iii"] = float(w[0]), float(w[1])
        p["mouth_uuu"] = uo * (1 - ooo_alpha)
        p["mouth_ooo"] = uo * ooo_alpha
    return p


def mouth_target(c: dict[str, float]) -> np.ndarray | None:
    """The vowel-fit input the reference builds, or None while the mouth is closed."""
    mouth_open = clamp01((c.get("jawOpen", 0.0) - 0.1) / 0.3)
    if mouth_open == 0:
        return None
    lower = clamp01(c.get("mouthLowerDownLeft", 0.0) + c.get("mouthLowerDownRight", 0.0))
    return np.array([mouth_open, lower, c.get("mouthFunnel", 0.0), c.get("mouthPucker", 0.0)])


def random_arkit_frames(count: int, seed: int) -> list[dict[str, float]]:
    """ARKit blendshapes uniform in [0, 1] and head angles beyond every clamp (±25°)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        frame = {
            name: float(x)
            for name, x in zip(ARKIT_BLENDSHAPES, rng.random(len(ARKIT_BLENDSHAPES)), strict=True)
        }
        frame.update({name: float(rng.uniform(-25, 25)) for name in ("head.yaw", "head.pitch", "head.roll")})
        frames.append(frame)
    return frames


def as_vmc_angles(frame: dict[str, float]) -> dict[str, float]:
    """The same face as a VMC sender reports it: iFacialMocap's angles (ARKit, right-handed) and
    VMC's (Unity, left-handed, REFERENCE.md §4) agree on pitch and have opposite yaw and roll."""
    return {**frame, "head.yaw": -frame["head.yaw"], "head.roll": -frame["head.roll"]}
