"""Interpolation and super-resolution inside the core: the seed's list contract."""

import warnings

import numpy as np
import pytest

from ezvtb_node.core import get_core


def make_core(tiny_engine_dir, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return get_core(model_dir=str(tiny_engine_dir), use_cacher=False, **options)


def pose_with_head(x: float) -> np.ndarray:
    pose = np.zeros((1, 45), np.float32)
    pose[0, 39] = x
    return pose


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_n_frames_per_call_last_is_the_new_tha3_frame(tiny_engine_dir, character, scale):
    plain = make_core(tiny_engine_dir, use_interpolation=False)
    plain.setImage(character)
    core = make_core(tiny_engine_dir, use_interpolation=True, interpolation_scale=scale)
    core.setImage(character)
    assert core.describe()["interpolation"]["scale"] == scale

    first_tha3 = plain.inference(pose_with_head(-0.5))[0].copy()
    first = core.inference(pose_with_head(-0.5))
    assert len(first) == scale
    for frame in first:  # nothing to interpolate from yet: the new frame, n times
        np.testing.assert_array_equal(frame, first_tha3)

    second_tha3 = plain.inference(pose_with_head(0.5))[0]
    second = core.inference(pose_with_head(0.5))
    assert len(second) == scale
    np.testing.assert_array_equal(second[-1], second_tha3)
    # The tiny graph brightens the picture with head_x: in-between frames lie between the two.
    means = [float(f[..., :3].mean()) for f in (first_tha3, *second[:-1], second_tha3)]
    assert means == sorted(means) and means[0] < means[1] < means[-1]
    assert second[0] is first[0], "output arrays are reused in place"


def test_new_image_restarts_interpolation(tiny_engine_dir, character):
    core = make_core(tiny_engine_dir, use_interpolation=True, interpolation_scale=2)
    core.setImage(character)
    core.inference(pose_with_head(-0.5))
    core.setImage(character)
    frames = core.inference(pose_with_head(0.5))
    np.testing.assert_array_equal(frames[0], frames[1])


def test_super_resolution_doubles_the_frame_and_keeps_alpha(tiny_engine_dir, character):
    core = make_core(tiny_engine_dir, use_interpolation=False, use_sr=True, sr_scale=2)
    core.setImage(character)
    (frame,) = core.inference(pose_with_head(0.0))
    assert frame.shape == (1024, 1024, 4) and frame.dtype == np.uint8
    assert frame[0, 0, 3] == 0 and frame[512, 512, 3] == 255  # transparent corner, opaque centre
    assert core.describe()["sr"]["enabled"] is True


def test_sr_model_is_validated():
    with pytest.raises(ValueError, match="sr_model must be one of"):
        get_core(sr_model="anime5k")
