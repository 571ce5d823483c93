"""Engine sets and poses shared by the GPU-backend tests."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np

from ezvtb_node.core import get_core
from ezvtb_node.core.models.export import convert_to_half
from ezvtb_node.core.models.layout import MANIFEST, STAGE_FILES
from ezvtb_node.core.models.store import sha256_file


def test_poses(count: int, seed: int = 3) -> list[np.ndarray]:
    """Poses inside every THA3 range, so clamping does not change them."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        pose = np.zeros((1, 45), np.float32)
        pose[0, 0:12] = rng.uniform(0, 0.5, 12)
        pose[0, 12:39] = rng.uniform(0, 0.5, 27)
        pose[0, 39:45] = rng.uniform(0, 0.5, 6)  # breathing is [0, 1]
        result.append(pose)
    return result


test_poses.__test__ = False  # a helper, not a test


def copy_engine_set(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def refresh_manifest(folder: Path, **changes) -> None:
    """Record the current file digests (after a test edited a stage file)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {stage: sha256_file(folder / name) for stage, name in STAGE_FILES.items()}
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def half_engine_set(src: Path, dst: Path) -> Path:
    """The tiny set converted to fp16 the way the real fp16 sets are made."""
    copy_engine_set(src, dst)
    for name in STAGE_FILES.values():
        convert_to_half(dst / name, dst / name)
    refresh_manifest(dst, precision="fp16")
    return dst


def quiet_core(**options):
    """A core rendering exactly the pose given: no interpolation, no cacher (it snaps poses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return get_core(**{"use_interpolation": False, "use_cacher": False, **options})
