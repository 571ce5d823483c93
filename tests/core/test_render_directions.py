"""The side the character moves to, measured on the real THA3 core (OpenVINO, fp32), for VMC frames
through the bundled VMC mapping: a head turn, a glance (the LookRight preset and the eye bones) and
a head tilt, each to the side the sender's avatar moves to.

The physical facts (REFERENCE.md §4): VMC angles are Unity's (left-handed, Y up, the avatar facing
+Z), so a yaw > 0 turns the avatar toward its own right and a roll > 0 tilts it toward its own left
shoulder. The THA3 character faces the viewer: her own right is the image's left.

What is measured: the irises of the packaged sample character (blue pixels in the band of her
eyes). They move with the face when the head turns and on their own when she glances, so their
horizontal centroid shows both; their tilt (the image-right iris lower than the image-left one)
shows the head's roll.
"""

import warnings

import numpy as np
import pytest

from ezvtb_node.character import load_character, sample_character_path
from ezvtb_node.core import get_core
from ezvtb_node.mapping.bundled import resolve_mapping_path
from ezvtb_node.mapping.mapper import Mapper

pytestmark = pytest.mark.slow

EYE_BAND = (slice(120, 180), slice(160, 352))  # rows, columns of the sample character's eyes
MIN_SHIFT_PX = 1.5  # a full turn or glance moves the irises 2.5 to 5 pixels


@pytest.fixture(scope="module")
def render():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(model_half=False, use_interpolation=False, use_cacher=False)
    core.setImage(load_character(sample_character_path()))

    def frame_for(mapping: str, channels: dict[str, float]) -> np.ndarray:
        pose = Mapper(resolve_mapping_path(mapping), filters=False).update(channels, 0.0)
        return core.inference(pose)[-1].copy()  # the core reuses its output arrays

    return frame_for


def iris_pixels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (in the whole image) of the blue iris pixels; BGRA input."""
    rows, cols = EYE_BAND
    band = image[rows, cols].astype(int)
    blue, red, alpha = band[..., 0], band[..., 2], band[..., 3]
    ys, xs = np.nonzero((blue - red > 40) & (alpha > 200))
    assert len(xs) > 100, "the irises were not found: did the sample character change?"
    return ys + rows.start, xs + cols.start


def iris_centroid_x(image: np.ndarray) -> float:
    return float(iris_pixels(image)[1].mean())


def iris_tilt(image: np.ndarray) -> float:
    """How much lower (pixels) the image-right iris sits than the image-left one."""
    ys, xs = iris_pixels(image)
    middle = xs.mean()
    return float(ys[xs > middle].mean() - ys[xs < middle].mean())


@pytest.mark.parametrize("mapping", ["vmc_vrm", "vmc_perfect_sync"])
def test_a_vmc_head_turn_and_look_right_both_move_her_to_her_own_right(render, mapping):
    """Her own right is the image's left: the irises' centroid moves left for all three."""
    neutral = iris_centroid_x(render(mapping, {}))
    turned = iris_centroid_x(render(mapping, {"head.yaw": 10.0})) - neutral
    glanced = iris_centroid_x(render(mapping, {"vrm.LookRight": 1.0})) - neutral
    by_bones = iris_centroid_x(render(mapping, {"eye.left.yaw": 8.0, "eye.right.yaw": 8.0})) - neutral
    both = iris_centroid_x(render(mapping, {"head.yaw": 10.0, "vrm.LookRight": 1.0})) - neutral
    assert turned < -MIN_SHIFT_PX and glanced < -MIN_SHIFT_PX and by_bones < -MIN_SHIFT_PX
    assert both < min(turned, glanced), "a turn and a glance the same way add up"


def test_a_vmc_turn_and_glance_to_her_left_move_the_other_way(render):
    neutral = iris_centroid_x(render("vmc_vrm", {}))
    assert iris_centroid_x(render("vmc_vrm", {"head.yaw": -10.0})) - neutral > MIN_SHIFT_PX
    assert iris_centroid_x(render("vmc_vrm", {"vrm.LookLeft": 1.0})) - neutral > MIN_SHIFT_PX


def test_a_vmc_roll_tilts_her_head_toward_her_own_left_shoulder(render):
    """Her own left shoulder is the image's right: the image-right iris drops."""
    neutral = iris_tilt(render("vmc_vrm", {}))
    assert iris_tilt(render("vmc_vrm", {"head.roll": 10.0})) - neutral > 3.0
    assert iris_tilt(render("vmc_vrm", {"head.roll": -10.0})) - neutral < -3.0


def test_one_head_turn_renders_alike_from_vmc_and_from_ifacialmocap(render):
    """The same physical turn arrives with opposite yaw signs from the two protocols."""
    vmc = render("vmc_perfect_sync", {"head.yaw": 10.0})
    phone = render("ifacialmocap", {"head.yaw": -10.0})
    assert np.abs(vmc.astype(int) - phone.astype(int)).max() <= 1
