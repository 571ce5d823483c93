import subprocess
import sys

import numpy as np
import pytest
from cacher_helpers import HERE, character

from ezvtb_node.core.cacher.keys import Quantization, context_digest, frame_key, image_digest, snap_pose
from ezvtb_node.pose import POSE_INDEX

STEPS = Quantization().steps()


def _ctx(image="img", engine="eng", quality=85, q=None):
    return context_digest(image, engine, quality, q or Quantization())


def test_key_is_the_same_in_another_process_with_another_hash_seed():
    pose = np.linspace(-0.5, 0.5, 45, dtype=np.float32).reshape(1, 45)
    here = frame_key(_ctx(), pose, STEPS).hex()
    script = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1])\n"
        "from ezvtb_node.core.cacher.keys import Quantization, context_digest, frame_key\n"
        "pose = np.linspace(-0.5, 0.5, 45, dtype=np.float32).reshape(1, 45)\n"
        "ctx = context_digest('img', 'eng', 85, Quantization())\n"
        "print(frame_key(ctx, pose, Quantization().steps()).hex())\n"
    )
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", script, str(HERE)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        )
        assert out.stdout.strip() == here


def test_everything_that_changes_the_picture_changes_the_key():
    pose = np.zeros((1, 45), np.float32)
    base = frame_key(_ctx(), pose, STEPS)
    assert frame_key(_ctx(image="other"), pose, STEPS) != base
    assert frame_key(_ctx(engine="tha3/separable/fp32"), pose, STEPS) != base
    assert frame_key(_ctx(quality=70), pose, STEPS) != base
    assert frame_key(_ctx(q=Quantization(head=0.02)), pose, STEPS) != base


def test_poses_in_one_bucket_share_a_key_and_neighbours_do_not():
    ctx = _ctx()
    pose = np.zeros((1, 45), np.float32)
    head_x = POSE_INDEX["head_x"]
    mouth = POSE_INDEX["mouth_aaa"]
    head_step, mouth_step = STEPS[head_x], STEPS[mouth]
    assert head_step < mouth_step  # head moves show most: finer steps
    near = pose.copy()
    near[0, head_x] = 0.4 * head_step
    near[0, mouth] = 0.45 * mouth_step
    assert frame_key(ctx, near, STEPS) == frame_key(ctx, pose, STEPS)
    far = pose.copy()
    far[0, head_x] = 0.6 * head_step  # over half a step: next bucket
    assert frame_key(ctx, far, STEPS) != frame_key(ctx, pose, STEPS)
    # the same offset on the coarser mouth group stays in the bucket
    far_mouth = pose.copy()
    far_mouth[0, mouth] = 0.6 * head_step
    assert frame_key(ctx, far_mouth, STEPS) == frame_key(ctx, pose, STEPS)


def test_group_steps_follow_the_pose_layout():
    steps = Quantization(
        eyebrow=0.1, eye=0.2, iris_small=0.3, mouth=0.4, iris_rotation=0.5, head=0.6, breathing=0.7
    )
    s = steps.steps()
    assert s[POSE_INDEX["eyebrow_happy_left"]] == 0.1
    assert s[POSE_INDEX["eye_wink_right"]] == 0.2
    assert s[POSE_INDEX["iris_small_left"]] == 0.3
    assert s[POSE_INDEX["mouth_smirk"]] == 0.4
    assert s[POSE_INDEX["iris_rotation_y"]] == 0.5
    for name in ("head_x", "head_y", "neck_z", "body_y", "body_z"):
        assert s[POSE_INDEX[name]] == 0.6
    assert s[POSE_INDEX["breathing"]] == 0.7


def test_snap_returns_the_bucket_centre_which_keys_like_the_pose():
    rng = np.random.default_rng(3)
    pose = rng.uniform(-1, 1, (1, 45)).astype(np.float32)
    snapped = snap_pose(pose, STEPS)
    assert snapped.shape == (1, 45) and snapped.dtype == np.float32
    assert np.all(np.abs(snapped - pose) <= STEPS / 2 + 1e-6)
    assert frame_key(_ctx(), snapped, STEPS) == frame_key(_ctx(), pose, STEPS)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((1, 44), np.float32), "shape"),
        (np.zeros((2, 45), np.float32), "shape"),
        (np.zeros((1, 45), np.int32), "floating"),
        (np.full((1, 45), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_poses_are_refused_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        frame_key(_ctx(), bad, STEPS)


def test_bad_steps_and_context_are_refused():
    with pytest.raises(ValueError, match="head"):
        Quantization(head=0.0)
    with pytest.raises(ValueError, match="non-empty"):
        context_digest("", "eng", 85, Quantization())


def test_image_digest_sees_one_pixel():
    image = character()
    changed = image.copy()
    changed[300, 200, 1] ^= 1
    assert image_digest(image) == image_digest(image.copy())
    assert image_digest(changed) != image_digest(image)
