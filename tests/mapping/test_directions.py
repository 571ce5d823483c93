"""Which side the character moves to, per source and axis: one test per row of the directions table
in docs/contracts.md ("Directions").

THA3's sides (REFERENCE.md §4, measured on the real renderer, re-measured by
tests/core/test_render_directions.py): head_y > 0 turns the face to the character's own right,
neck_z > 0 tilts it toward her own right shoulder, head_x < 0 tips it down, iris_rotation_y > 0
looks to her own right, iris_rotation_x > 0 looks up, eye_wink_left closes her own left eye.

VMC angles are Unity's (left-handed, Y up, the avatar facing +Z): yaw > 0 turns the avatar to its
own right, pitch > 0 tips it down, roll > 0 tilts it toward its own left shoulder. iFacialMocap's,
as the THA3 demo's formula (REFERENCE.md §6) reads them, are ARKit's (right-handed, +Z out of the
face): yaw > 0 turns the face to its own left, pitch > 0 tips it down, roll > 0 tilts it toward its
own right shoulder. So the same physical turn arrives with
opposite yaw and roll signs, and each file undoes its own sender's convention.
"""

import json

import numpy as np
import pytest

from ezvtb_node.channels import ARKIT_BLENDSHAPES
from ezvtb_node.mapping.bundled import choose_mapping, resolve_mapping_path
from ezvtb_node.mapping.mapper import Mapper
from ezvtb_node.pose import POSE_INDEX

from .test_commands import cli

RIGHT, LEFT, UP, DOWN = "character's own right", "character's own left", "up", "down"
# The side each parameter's positive value moves the character to (REFERENCE.md §4).
POSITIVE_SIDE = {
    "head_y": RIGHT,
    "body_y": RIGHT,
    "neck_z": RIGHT,
    "iris_rotation_y": RIGHT,
    "iris_rotation_x": UP,
}
OPPOSITE = {RIGHT: LEFT, LEFT: RIGHT, UP: DOWN, DOWN: UP}
BOTH_EYE_BONES_YAW_6 = {"eye.left.yaw": 6.0, "eye.right.yaw": 6.0}
BOTH_EYE_BONES_PITCH_6 = {"eye.left.pitch": 6.0, "eye.right.pitch": 6.0}

# (mapping, what the sender sends, parameter, the side the character moves to)
ROWS = [
    *[
        row
        for mapping in ("vmc_vrm", "vmc_perfect_sync")
        for row in (
            (mapping, {"head.yaw": 6.0}, "head_y", RIGHT),
            (mapping, {"head.yaw": 6.0}, "body_y", RIGHT),
            (mapping, {"head.yaw": -6.0}, "head_y", LEFT),
            (mapping, {"head.pitch": 6.0}, "head_x", DOWN),
            (mapping, {"head.roll": 6.0}, "neck_z", LEFT),
            (mapping, {"head.roll": -6.0}, "neck_z", RIGHT),
            (mapping, {"vrm.LookRight": 0.6}, "iris_rotation_y", RIGHT),
            (mapping, {"vrm.LookLeft": 0.6}, "iris_rotation_y", LEFT),
            (mapping, {"vrm.LookUp": 0.6}, "iris_rotation_x", UP),
            (mapping, {"vrm.LookDown": 0.6}, "iris_rotation_x", DOWN),
            (mapping, BOTH_EYE_BONES_YAW_6, "iris_rotation_y", RIGHT),
            (mapping, BOTH_EYE_BONES_PITCH_6, "iris_rotation_x", DOWN),
        )
    ],
    ("vmc_perfect_sync", {"eyeLookInLeft": 0.6, "eyeLookOutRight": 0.6}, "iris_rotation_y", RIGHT),
    ("vmc_perfect_sync", {"eyeLookUpLeft": 0.6, "eyeLookUpRight": 0.6}, "iris_rotation_x", UP),
    ("ifacialmocap", {"head.yaw": 6.0}, "head_y", LEFT),
    ("ifacialmocap", {"head.yaw": 6.0}, "body_y", LEFT),
    ("ifacialmocap", {"head.pitch": 6.0}, "head_x", DOWN),
    ("ifacialmocap", {"head.roll": 6.0}, "neck_z", RIGHT),
    ("ifacialmocap", {"eyeLookInLeft": 0.6, "eyeLookOutRight": 0.6}, "iris_rotation_y", RIGHT),
    ("ifacialmocap", {"eyeLookOutLeft": 0.6, "eyeLookInRight": 0.6}, "iris_rotation_y", LEFT),
    ("ifacialmocap", {"eyeLookUpLeft": 0.6, "eyeLookUpRight": 0.6}, "iris_rotation_x", UP),
    ("voice", {"voice.level": 0.8, "voice.a": 1.0}, "head_x", DOWN),
]


def side_of(parameter: str, value: float) -> str:
    if parameter == "head_x":  # head_x < 0 tips the face down
        return DOWN if value < 0 else UP
    positive = POSITIVE_SIDE[parameter]
    return positive if value > 0 else OPPOSITE[positive]


def pose_of(mapping: str, channels: dict[str, float]) -> np.ndarray:
    return Mapper(resolve_mapping_path(mapping), filters=False).update(channels, 0.0)[0]


@pytest.mark.parametrize(("mapping", "channels", "parameter", "side"), ROWS)
def test_each_source_and_axis_moves_the_character_to_the_side_in_the_table(
    mapping, channels, parameter, side
):
    value = float(pose_of(mapping, channels)[POSE_INDEX[parameter]])
    assert abs(value) >= 0.05, f"{parameter} barely moved: {value}"
    assert side_of(parameter, value) == side


@pytest.mark.parametrize("mapping", ["vmc_vrm", "vmc_perfect_sync", "ifacialmocap"])
@pytest.mark.parametrize("side", ["Left", "Right"])
def test_a_blink_closes_the_characters_own_eye_on_the_same_side(mapping, side):
    channels = {"vrm.Blink_L" if side == "Left" else "vrm.Blink_R": 1.0} if mapping == "vmc_vrm" else {}
    channels = channels or {f"eyeBlink{side}": 1.0}
    pose = pose_of(mapping, channels)
    other = "right" if side == "Left" else "left"
    assert pose[POSE_INDEX[f"eye_wink_{side.lower()}"]] == pytest.approx(1.0)
    assert pose[POSE_INDEX[f"eye_wink_{other}"]] == 0.0


@pytest.mark.parametrize("mapping", ["vmc_vrm", "vmc_perfect_sync"])
def test_a_vmc_head_turn_and_the_glance_the_same_way_go_to_the_same_side(mapping):
    """The defect of issue 18: VSeeFace turned the head one way and the eyes the other."""
    pose = pose_of(mapping, {"head.yaw": 8.0, "vrm.LookRight": 0.8})
    assert pose[POSE_INDEX["head_y"]] > 0.5 and pose[POSE_INDEX["iris_rotation_y"]] > 0.5
    pose = pose_of(mapping, {"head.roll": -8.0, "eye.left.yaw": 8.0, "eye.right.yaw": 8.0})
    assert pose[POSE_INDEX["neck_z"]] > 0.5 and pose[POSE_INDEX["iris_rotation_y"]] > 0.5


def test_the_same_physical_turn_from_vmc_and_from_ifacialmocap_poses_alike():
    """VMC and iFacialMocap report one head motion with opposite yaw and roll: the poses agree."""
    vmc = pose_of("vmc_perfect_sync", {"head.yaw": 7.0, "head.pitch": -4.0, "head.roll": 9.0})
    phone = pose_of("ifacialmocap", {"head.yaw": -7.0, "head.pitch": -4.0, "head.roll": -9.0})
    head = [POSE_INDEX[name] for name in ("head_x", "head_y", "neck_z", "body_y", "body_z")]
    np.testing.assert_allclose(vmc[head], phone[head], atol=1e-6)
    assert np.abs(vmc[head]).min() > 0.2


def test_mappings_apply_turns_a_vmc_yaw_and_roll_to_the_avatars_sides():
    """The issue's own reproduction, through the command line."""
    result = cli("apply", "vmc_vrm", "--no-filters", stdin='{"head.yaw": 10}\n{"head.roll": 10}\n')
    assert result.returncode == 0, result.stderr
    turned, tilted = (json.loads(line) for line in result.stdout.splitlines())
    assert turned[POSE_INDEX["head_y"]] == pytest.approx(1.0) and turned[
        POSE_INDEX["body_y"]
    ] == pytest.approx(1.0)
    assert tilted[POSE_INDEX["neck_z"]] == pytest.approx(-2 / 3, abs=0.005)


# --- eye bones beside the look presets and shapes ------------------------------------------------


@pytest.mark.parametrize("mapping", ["vmc_vrm", "vmc_perfect_sync"])
def test_eye_bones_alone_move_the_irises_a_full_glance_at_ten_degrees(mapping):
    pose = pose_of(
        mapping,
        {"eye.left.yaw": -10.0, "eye.right.yaw": -10.0, "eye.left.pitch": -5.0, "eye.right.pitch": -5.0},
    )
    assert pose[POSE_INDEX["iris_rotation_y"]] == pytest.approx(-1.0)
    assert pose[POSE_INDEX["iris_rotation_x"]] == pytest.approx(0.5, abs=0.021)  # iris step 0.04


@pytest.mark.parametrize("mapping", ["vmc_vrm", "vmc_perfect_sync"])
def test_a_glance_sent_as_bones_and_as_a_preset_is_not_doubled(mapping):
    """Each direction takes the larger sender: the bones (0.6 of a glance) and LookRight 0.4."""
    both = pose_of(mapping, {"eye.left.yaw": 6.0, "eye.right.yaw": 6.0, "vrm.LookRight": 0.4})
    assert both[POSE_INDEX["iris_rotation_y"]] == pytest.approx(0.6, abs=0.021)
    preset_larger = pose_of(mapping, {"eye.left.yaw": 2.0, "eye.right.yaw": 2.0, "vrm.LookRight": 0.8})
    assert preset_larger[POSE_INDEX["iris_rotation_y"]] == pytest.approx(0.8, abs=0.021)


def test_a_glance_sent_as_arkit_shapes_and_as_bones_is_not_doubled():
    shapes = {"eyeLookInLeft": 0.45, "eyeLookOutRight": 0.45}  # 0.6 of a glance to her right
    both = pose_of("vmc_perfect_sync", {**shapes, "eye.left.yaw": 4.0, "eye.right.yaw": 4.0})
    assert both[POSE_INDEX["iris_rotation_y"]] == pytest.approx(0.6, abs=0.021)


# --- the automatic choice between the two VMC files never drops presets ------------------------

VRM_STREAM = {"vrm.A": 0.8, "vrm.Blink_L": 1.0, "vrm.LookRight": 0.5, "vrm.Joy": 0.0}
ALL_ARKIT = dict.fromkeys(ARKIT_BLENDSHAPES, 0.0)


def vmc_choice(channels: dict[str, float]) -> str:
    return choose_mapping("vmc", channels, "auto", "ifacialmocap")


@pytest.mark.parametrize(
    "stray", [{"tongueOut": 0.0}, {"mouthLeft": 0.3}, {"jawOpen": 0.0, "eyeBlinkLeft": 0.0}]
)
def test_a_stray_arkit_named_clip_keeps_a_vrm_stream_on_its_presets(stray):
    """TongueOut on a VRM model, or a custom Mouth_L read as mouthLeft, must not close the mouth."""
    channels = {**VRM_STREAM, **stray}
    chosen = vmc_choice(channels)
    assert chosen == "vmc_vrm"
    pose = pose_of(chosen, channels)
    assert pose[POSE_INDEX["mouth_aaa"]] == pytest.approx(0.8, abs=0.005)
    assert pose[POSE_INDEX["eye_wink_left"]] == pytest.approx(1.0)


def test_a_perfect_sync_stream_gets_the_perfect_sync_mapping():
    assert vmc_choice({**ALL_ARKIT, "jawOpen": 0.4}) == "vmc_perfect_sync"
    assert vmc_choice({**ALL_ARKIT, **VRM_STREAM}) == "vmc_perfect_sync"


def test_perfect_sync_needs_half_the_arkit_shapes_including_blinks_and_jaw():
    required = ["eyeBlinkLeft", "eyeBlinkRight", "jawOpen"]
    others = [name for name in ARKIT_BLENDSHAPES if name not in required]
    half = len(ARKIT_BLENDSHAPES) // 2
    assert vmc_choice(dict.fromkeys(required + others[: half - 3], 0.0)) == "vmc_perfect_sync"
    assert vmc_choice(dict.fromkeys(required + others[: half - 4], 0.0)) == "vmc_vrm"
    assert vmc_choice(dict.fromkeys(others, 0.0)) == "vmc_vrm"  # 49 shapes, but no jaw or blinks


def test_presets_sent_beside_a_perfect_sync_stream_still_act():
    """A perfect-sync model is a VRM model: its sender's A, Blink_L, LookRight and emotions count."""
    channels = {**ALL_ARKIT, "vrm.A": 0.8, "vrm.E": 0.5, "vrm.Blink_L": 1.0, "vrm.LookRight": 0.6}
    channels |= {"vrm.Angry": 0.7, "vrm.Sorrow": 0.4, "vrm.Fun": 0.3}
    pose = pose_of(vmc_choice(channels), channels)
    expected = {"mouth_aaa": 0.8, "mouth_eee": 0.5, "eye_wink_left": 1.0, "eye_wink_right": 0.0}
    expected |= {"iris_rotation_y": 0.6, "eyebrow_angry_left": 0.7, "eyebrow_troubled_right": 0.4}
    expected |= {"eye_relaxed_left": 0.3}
    for name, value in expected.items():
        assert pose[POSE_INDEX[name]] == pytest.approx(value, abs=0.021), name
    assert pose[POSE_INDEX["mouth_lowered_corner_left"]] == 0.0  # the mouth is open (A)
    joyful = pose_of("vmc_perfect_sync", {**ALL_ARKIT, "vrm.Joy": 1.0, "vrm.Blink": 1.0})
    assert joyful[POSE_INDEX["eye_happy_wink_left"]] == pytest.approx(1.0)
    assert joyful[POSE_INDEX["mouth_raised_corner_right"]] == pytest.approx(1.0)


def test_tracked_shapes_win_where_they_move_more_than_the_presets():
    channels = {
        **ALL_ARKIT,
        "jawOpen": 0.4,
        "mouthLowerDownLeft": 0.5,
        "mouthLowerDownRight": 0.5,
        "vrm.A": 0.3,
    }
    assert pose_of("vmc_perfect_sync", channels)[POSE_INDEX["mouth_aaa"]] > 0.9


def test_facemotion3d_and_ifacialmocap_share_the_phone_mapping():
    assert choose_mapping("facemotion3d", ALL_ARKIT, "auto", "ifacialmocap") == "ifacialmocap"
    assert choose_mapping("ifacialmocap", ALL_ARKIT, "auto", "ifacialmocap") == "ifacialmocap"
