"""Per-parameter smoothing and quantization of pose vectors (all 45 parameters at once)."""

from __future__ import annotations

import math

import numpy as np

DISABLED_CUTOFF = 1e12  # Hz: α = 1 to double precision, so the filter passes values through


class OneEuroFilter:
    """The One Euro filter (Casiez, Roussel, Vogel 2012), vectorised over the pose parameters.

    A low-pass filter whose cutoff rises with the signal's speed: steady poses are smoothed hard
    (``min_cutoff``), fast moves keep up (``beta`` × speed). A ``min_cutoff`` of
    ``DISABLED_CUTOFF`` passes that parameter through. Time comes from the frames, so replays
    filter exactly like live input.
    """

    def __init__(self, min_cutoff: np.ndarray, beta: np.ndarray, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = np.asarray(min_cutoff, dtype=np.float64)
        self.beta = np.asarray(beta, dtype=np.float64)
        self.d_cutoff = float(d_cutoff)
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._t = 0.0

    def reset(self) -> None:
        self._value = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self._value is None or self._speed is None:
            self._value, self._speed, self._t = x.copy(), np.zeros_like(x), t
            return x
        dt = t - self._t
        if dt <= 0.0:  # a repeated or out-of-order timestamp carries no speed information
            return self._value.copy()
        self._t = t
        smoothing = 1.0 / (2.0 * math.pi * dt)  # α = cutoff / (cutoff + 1/(2π·dt))
        change = x - self._value
        speed_alpha = self.d_cutoff / (self.d_cutoff + smoothing)
        self._speed += speed_alpha * (change / dt - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._value += cutoff / (cutoff + smoothing) * change
        return self._value.copy()


class Quantizer:
    """Rounds each parameter to its step (0 = leave as is); fewer distinct poses, more cache hits."""

    def __init__(self, steps: np.ndarray) -> None:
        steps = np.asarray(steps, dtype=np.float64)
        self.enabled = bool((steps > 0).any())
        # Unquantized parameters get a step far below float32 resolution: rounding the whole vector
        # in three operations is cheaper than masking, and changes nothing the output can show.
        self._steps = np.where(steps > 0, steps, 1e-12)
        self._inverse = 1.0 / self._steps

    def __call__(self, pose: np.ndarray) -> np.ndarray:
        if self.enabled:
            np.multiply(pose, self._inverse, out=pose)
            np.round(pose, out=pose)
            np.multiply(pose, self._steps, out=pose)
        return pose
