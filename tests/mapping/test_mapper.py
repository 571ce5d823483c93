"""The stateful Mapper: filters, breathing, idle easing, calibration, blinking, quantization, reload."""

import logging
import math
import os
import types

import numpy as np
import pytest

from ezvtb_node.mapping import mapper as mapper_module
from ezvtb_node.mapping.mapper import Mapper
from ezvtb_node.mapping.mapping import load_mapping
from ezvtb_node.pose import POSE_INDEX

from .conftest import MAPPINGS

HEAD_Y, NECK_Z = POSE_INDEX["head_y"], POSE_INDEX["neck_z"]
WINK_L, WINK_R = POSE_INDEX["eye_wink_left"], POSE_INDEX["eye_wink_right"]
BREATHING, AAA = POSE_INDEX["breathing"], POSE_INDEX["mouth_aaa"]

SIMPLE = """
[pose]
mouth_aaa = { from = "jawOpen" }
eye_wink_left = { from = "eyeBlinkLeft" }
eye_wink_right = { mirror = "eye_wink_left" }
head_y = { from = "head.yaw", ramp = [-10.0, 10.0], to = [-1.0, 1.0] }
eyebrow_angry_left = { from = "browDownLeft", scale = 2.5, clamp = [0.0, 1.0] }
[filters]
enabled = false
"""


def one_euro_reference(samples, times, min_cutoff, beta, d_cutoff=1.0):
    """Scalar One Euro filter straight from the paper's pseudo-code."""

    def alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    out, x_prev, dx_prev, t_prev = [], None, 0.0, None
    for x, t in zip(samples, times, strict=True):
        if x_prev is None:
            x_prev, t_prev = x, t
            out.append(x)
            continue
        dt = t - t_prev
        dx = (x - x_prev) / dt
        dx_hat = alpha(d_cutoff, dt) * dx + (1 - alpha(d_cutoff, dt)) * dx_prev
        cutoff = min_cutoff + beta * abs(dx_hat)
        x_hat = alpha(cutoff, dt) * x + (1 - alpha(cutoff, dt)) * x_prev
        out.append(x_hat)
        x_prev, dx_prev, t_prev = x_hat, dx_hat, t
    return out


def test_update_returns_float32_1x45_and_unfiltered_equals_evaluate(write_mapping):
    path = write_mapping(SIMPLE)
    mapper = Mapper(path)
    pose = mapper.update({"jawOpen": 0.3, "head.yaw": 5.0}, t=0.0)
    assert pose.shape == (1, 45) and pose.dtype == np.float32
    np.testing.assert_allclose(
        pose[0], load_mapping(path).evaluate({"jawOpen": 0.3, "head.yaw": 5.0}), atol=1e-7
    )
    assert pose[0, AAA] == pytest.approx(0.3) and pose[0, HEAD_Y] == pytest.approx(0.5)


def test_one_euro_filter_matches_the_paper(write_mapping):
    path = write_mapping(
        SIMPLE.replace("enabled = false", "min_cutoff = 2.0\nbeta = 0.5\n[filters.head]\nmin_cutoff = 1.0")
    )
    mapper = Mapper(path)
    rng = np.random.default_rng(0)
    times = [i / 60 for i in range(120)]
    jaw = list(np.clip(0.5 + 0.1 * rng.standard_normal(120), 0, 1))
    yaw = list(np.where(np.arange(120) < 60, -5.0, 5.0))
    out = np.array(
        [mapper.update({"jawOpen": j, "head.yaw": y}, t)[0] for j, y, t in zip(jaw, yaw, times, strict=True)]
    )
    np.testing.assert_allclose(out[:, AAA], one_euro_reference(jaw, times, 2.0, 0.5), atol=1e-6)
    head_raw = [(y + 10) / 20 * 2 - 1 for y in yaw]
    np.testing.assert_allclose(out[:, HEAD_Y], one_euro_reference(head_raw, times, 1.0, 0.5), atol=1e-6)
    assert np.std(out[30:, AAA]) < 0.5 * np.std(jaw[30:])  # jitter is smoothed


def test_no_filters_flag_passes_values_through(write_mapping):
    path = write_mapping(SIMPLE.replace("enabled = false", "min_cutoff = 0.5"))
    filtered, raw = Mapper(path), Mapper(path, filters=False)
    filtered.update({"jawOpen": 0.0}, 0.0)
    raw.update({"jawOpen": 0.0}, 0.0)
    assert raw.update({"jawOpen": 1.0}, 1 / 60)[0, AAA] == pytest.approx(1.0)
    assert filtered.update({"jawOpen": 1.0}, 1 / 60)[0, AAA] < 0.5


def test_breathing_follows_the_period(write_mapping):
    mapper = Mapper(write_mapping(SIMPLE + "[breathing]\nenabled = true\nperiod = 4.0\n"))
    for t in (0.0, 0.5, 1.0, 2.0, 3.3):
        expected = (1 - math.cos(2 * math.pi * t / 4.0)) / 2
        assert mapper.update({}, t)[0, BREATHING] == pytest.approx(expected, abs=1e-6)
    assert Mapper(write_mapping(SIMPLE, "off.toml")).update({}, 1.0)[0, BREATHING] == 0.0


def test_lost_tracking_eases_to_neutral_and_back_while_breathing(write_mapping):
    mapper = Mapper(write_mapping(SIMPLE + "[idle]\nease_ms = 400\n[breathing]\nenabled = true\n"))
    face = {"jawOpen": 0.8, "head.yaw": 10.0}
    assert mapper.update(face, 0.0)[0, AAA] == pytest.approx(0.8)
    halfway = mapper.update({}, 0.2, lost=True)[0]
    assert halfway[AAA] == pytest.approx(0.4, abs=1e-6)  # smoothstep(0.5) = 0.5
    gone = mapper.update({}, 0.45, lost=True)[0]
    assert gone[AAA] == 0.0 and gone[HEAD_Y] == 0.0
    assert gone[BREATHING] == pytest.approx((1 - math.cos(2 * math.pi * 0.45 / 3.0)) / 2, abs=1e-6)
    back = mapper.update(face, 0.55)[0]  # a quarter of the way back: smoothstep(0.25)
    assert back[AAA] == pytest.approx(0.8 * 0.15625, abs=1e-6)
    assert mapper.update(face, 1.0)[0, AAA] == pytest.approx(0.8)


def test_calibration_subtracts_angles_and_rescales_blendshapes(write_mapping):
    mapper = Mapper(write_mapping(SIMPLE))
    rest = {"head.yaw": 4.0, "browDownLeft": 0.2, "jawOpen": 0.0}
    assert mapper.update(rest, 0.0)[0, HEAD_Y] == pytest.approx(0.4)
    assert mapper.calibrate_neutral() == {"head.yaw": 4.0, "browDownLeft": 0.2, "jawOpen": 0.0}
    calm = mapper.update(rest, 0.1)[0]
    assert calm[HEAD_Y] == pytest.approx(0.0) and calm[POSE_INDEX["eyebrow_angry_left"]] == 0.0
    moved = mapper.update({"head.yaw": 9.0, "browDownLeft": 0.28}, 0.2)[0]
    assert moved[HEAD_Y] == pytest.approx(0.5)
    assert moved[POSE_INDEX["eyebrow_angry_left"]] == pytest.approx(2.5 * 0.08 / 0.8)
    mapper.clear_calibration()
    assert mapper.update(rest, 0.3)[0, HEAD_Y] == pytest.approx(0.4)


def test_static_neutral_in_the_file(write_mapping):
    mapper = Mapper(write_mapping(SIMPLE + '[calibration]\nneutral = { "head.yaw" = -2.0 }\n'))
    assert mapper.update({"head.yaw": -2.0}, 0.0)[0, HEAD_Y] == pytest.approx(0.0)


def test_quantization_per_group(write_mapping):
    mapper = Mapper(write_mapping(SIMPLE + "[quantize]\ndefault = 0.1\neye = 0.25\n"))
    pose = mapper.update({"jawOpen": 0.33, "eyeBlinkLeft": 0.6, "head.yaw": 1.3}, 0.0)[0]
    assert pose[AAA] == pytest.approx(0.3) and pose[WINK_L] == pytest.approx(0.5)
    assert pose[HEAD_Y] == pytest.approx(0.1)


def test_auto_blink_closes_both_eyes_at_intervals(write_mapping):
    text = SIMPLE + "[auto_blink]\nenabled = true\ninterval = 2.0\nduration = 0.2\njitter = 0.25\n"
    mapper = Mapper(write_mapping(text))
    times = np.arange(0, 20, 1 / 100)
    winks = np.array([mapper.update({}, float(t))[0, [WINK_L, WINK_R]] for t in times])
    assert np.array_equal(winks[:, 0], winks[:, 1])
    closed = winks[:, 0] > 0.95
    starts = times[1:][np.diff(closed.astype(int)) == 1]
    gaps = np.diff(starts)
    assert 7 <= len(starts) <= 14
    assert gaps.min() >= 2.0 * 0.75 - 0.05 and gaps.max() <= 2.0 * 1.25 + 0.05
    assert (winks[:, 0] == 0).mean() > 0.8  # open most of the time
    # A real blink from the tracker still shows between automatic ones.
    assert mapper.update({"eyeBlinkLeft": 1.0}, 20.0)[0, WINK_L] == 1.0


def test_global_mirror_swaps_sides_and_flips_yaw(write_mapping):
    mirrored = Mapper(write_mapping(SIMPLE.replace("[pose]", "[mapping]\nmirror = true\n[pose]")))
    pose = mirrored.update({"eyeBlinkLeft": 0.7, "head.yaw": 5.0}, 0.0)[0]
    assert pose[WINK_R] == pytest.approx(0.7) and pose[WINK_L] == 0.0
    assert pose[HEAD_Y] == pytest.approx(-0.5)


def test_mirrored_definition_reads_the_other_side():
    mapping = load_mapping(MAPPINGS / "ifacialmocap.toml")
    pose = mapping.evaluate({"eyeBlinkRight": 0.8, "cheekSquintRight": 0.4})
    assert pose[WINK_R] == pytest.approx(1.0) and pose[WINK_L] == 0.0
    assert pose[POSE_INDEX["eye_raised_lower_eyelid_right"]] == pytest.approx(0.5)


def test_hot_reload_applies_valid_edits_and_keeps_the_old_mapping_on_bad_ones(write_mapping, caplog):
    path = write_mapping(SIMPLE)
    mapper = Mapper(path)
    assert mapper.update({"jawOpen": 0.4}, 0.0)[0, AAA] == pytest.approx(0.4)
    assert not mapper.reload_if_changed(min_interval=0)

    def edit(text):
        path.write_text(text, encoding="utf-8")
        stamp = os.stat(path).st_mtime_ns + 1_000_000_000  # coarse file-system clocks
        os.utime(path, ns=(stamp, stamp))

    edit(SIMPLE.replace('mouth_aaa = { from = "jawOpen" }', 'mouth_aaa = { from = "jawOpen", scale = 2.0 }'))
    assert mapper.reload_if_changed(min_interval=0)
    assert mapper.update({"jawOpen": 0.4}, 0.1)[0, AAA] == pytest.approx(0.8)

    with caplog.at_level(logging.WARNING, logger="ezvtb_node.mapping.mapper"):
        edit(SIMPLE.replace('from = "jawOpen"', 'from = "jawOpn"'))
        assert not mapper.reload_if_changed(min_interval=0)
    assert "keeping the previous one" in caplog.text and "did you mean 'jawOpen'" in caplog.text
    assert mapper.update({"jawOpen": 0.4}, 0.2)[0, AAA] == pytest.approx(0.8)

    edit(SIMPLE)
    assert mapper.reload_if_changed(min_interval=0)
    assert mapper.update({"jawOpen": 0.4}, 0.3)[0, AAA] == pytest.approx(0.4)


def test_reload_checks_are_rate_limited(write_mapping):
    path = write_mapping(SIMPLE)
    mapper = Mapper(path)
    mapper.reload_if_changed(min_interval=60)
    path.write_text(SIMPLE.replace('"jawOpen" }', '"jawOpen", scale = 3.0 }'), encoding="utf-8")
    os.utime(path, ns=(1, 1))
    assert not mapper.reload_if_changed(min_interval=60)


def test_non_finite_channels_keep_the_last_good_value(write_mapping):
    mapper = Mapper(write_mapping(SIMPLE))
    mapper.update({"jawOpen": 0.3, "head.yaw": 2.0}, 0.0)
    pose = mapper.update({"jawOpen": float("nan"), "head.yaw": 4.0}, 0.1)[0]
    assert pose[AAA] == pytest.approx(0.3) and pose[HEAD_Y] == pytest.approx(0.4)
    assert np.isfinite(mapper.update({"jawOpen": float("inf")}, 0.2)).all()


def test_edit_applies_within_a_second_when_polled_every_frame(write_mapping, monkeypatch):
    # The mapper's clock is the test's: "within a second" is checked at exact instants of a
    # 60 fps poll, whatever the machine's load.
    now = [1000.0]
    monkeypatch.setattr(mapper_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    path = write_mapping(SIMPLE)
    mapper = Mapper(path)
    mapper.reload_if_changed()
    path.write_text(SIMPLE.replace('"jawOpen" }', '"jawOpen", scale = 0.5 }'), encoding="utf-8")
    stamp = os.stat(path).st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    polls = 0
    while not mapper.reload_if_changed():
        polls += 1
        now[0] += 1 / 60
        assert polls < 60, "the edit was not picked up within a second of polling every frame"
    assert polls <= 16  # looked at every 0.25 s: 15 frames, one more for rounding
    assert mapper.update({"jawOpen": 0.8}, 0.0)[0, AAA] == pytest.approx(0.4)


def test_vrm_mapping_turns_presets_into_expressions():
    mapper = Mapper(MAPPINGS / "vmc_vrm.toml", filters=False)
    pose = mapper.update({"vrm.A": 0.9, "vrm.Blink_L": 1.0, "vrm.LookRight": 0.5, "head.yaw": 5.0}, 0.0)[0]
    assert pose[AAA] == pytest.approx(0.9, abs=0.005)
    assert pose[WINK_L] == pytest.approx(1.0) and pose[WINK_R] == 0.0
    assert pose[POSE_INDEX["iris_rotation_y"]] == pytest.approx(0.5, abs=0.021)  # iris step 0.04
    # VMC yaw > 0 turns the avatar to its own right, and so the character (head_y > 0).
    assert pose[HEAD_Y] == pytest.approx(0.5) and pose[POSE_INDEX["body_y"]] == pytest.approx(0.5)
    joyful = mapper.update({"vrm.Joy": 1.0, "vrm.Blink": 1.0}, 0.1)[0]
    assert joyful[WINK_L] == 0.0 and joyful[POSE_INDEX["eye_happy_wink_right"]] == pytest.approx(1.0)
    assert joyful[POSE_INDEX["mouth_raised_corner_left"]] == pytest.approx(1.0)
    sad = mapper.update({"vrm.Sorrow": 0.6}, 0.2)[0]
    assert sad[POSE_INDEX["eyebrow_troubled_left"]] == pytest.approx(0.6)
