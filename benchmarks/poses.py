"""Pose streams shared by the core benchmarks."""

from __future__ import annotations

import numpy as np

from ezvtb_node.pose import POSE_INDEX, POSE_MAX, POSE_MIN


def varied_poses(count: int, seed: int = 1) -> list[np.ndarray]:
    """Random poses: every stage sees new inputs each frame (no cache can help)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(POSE_MIN, POSE_MAX).astype(np.float32).reshape(1, 45) * 0.7 for _ in range(count)]


def rotation_only_poses(count: int) -> list[np.ndarray]:
    base = varied_poses(1, seed=2)[0]
    poses = []
    for i in range(count):
        pose = base.copy()
        pose[0, POSE_INDEX["head_x"]] = np.sin(i / 3)
        pose[0, POSE_INDEX["neck_z"]] = 0.5 * np.cos(i / 4)
        pose[0, POSE_INDEX["breathing"]] = (i % 10) / 10
        poses.append(pose)
    return poses
