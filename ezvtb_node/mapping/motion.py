"""Motion the tracker does not provide: breathing, automatic blinks, easing to rest when lost."""

from __future__ import annotations

import math
import random


def breathing(t: float, period: float) -> float:
    """Breathing parameter at time ``t`` (s): (1 − cos 2π·t/period) / 2, as the THA3 demo does."""
    return (1.0 - math.cos(2.0 * math.pi * (t / period))) / 2.0


class AutoBlink:
    """Blinks every ``interval`` seconds (± ``jitter`` × interval), each ``duration`` long.

    The jitter comes from a seeded generator, so a replayed trace blinks at the same moments.
    """

    def __init__(self, interval: float, duration: float, jitter: float, seed: int = 0) -> None:
        self.interval = interval
        self.duration = duration
        self.jitter = jitter
        self._random = random.Random(seed)
        self._next: float | None = None

    def _gap(self) -> float:
        return self.interval * (1.0 + self.jitter * self._random.uniform(-1.0, 1.0))

    def __call__(self, t: float) -> float:
        """Eyelid closure in [0, 1] at time ``t``: a triangle that peaks mid-blink."""
        if self._next is None:
            self._next = t + self._gap()
        while t >= self._next + self.duration:
            self._next += self._gap()
        if t < self._next:
            return 0.0
        phase = (t - self._next) / self.duration
        return 1.0 - abs(2.0 * phase - 1.0)


class Presence:
    """How present the tracked face is (0 = lost, at rest; 1 = tracked), eased over ``ease_s``."""

    def __init__(self, ease_s: float) -> None:
        self.ease_s = ease_s
        self._level = 1.0
        self._t: float | None = None

    def __call__(self, lost: bool, t: float) -> float:
        """Advance to time ``t`` and return the eased weight of the tracked pose (smoothstep)."""
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        self._t = t
        step = 1.0 if self.ease_s <= 0.0 else dt / self.ease_s
        self._level = max(0.0, self._level - step) if lost else min(1.0, self._level + step)
        level = self._level
        return level * level * (3.0 - 2.0 * level)
