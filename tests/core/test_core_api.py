"""The seed's API contract, on tiny graphs with the real stage interface."""

import warnings

import numpy as np
import pytest

from ezvtb_node.core import get_core
from ezvtb_node.pose import POSE_INDEX
from tests.core.tiny_engine import expected_frame


@pytest.fixture
def core(tiny_engine_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return get_core(model_dir=str(tiny_engine_dir), use_interpolation=False, use_cacher=False)


def pose_with(**values) -> np.ndarray:
    pose = np.zeros((1, 45), np.float32)
    for name, value in values.items():
        pose[0, POSE_INDEX[name]] = value
    return pose


def test_frame_is_computed_from_image_and_pose(core, character):
    core.setImage(character)
    pose = pose_with(eye_wink_left=0.6, mouth_aaa=0.9, head_x=0.5, breathing=0.3)
    frames = core.inference(pose)
    assert isinstance(frames, list) and len(frames) == 1
    assert frames[0].dtype == np.uint8 and frames[0].shape == (512, 512, 4)
    zeroed = character.copy()
    zeroed[zeroed[..., 3] == 0] = 0
    np.testing.assert_array_equal(frames[0], expected_frame(zeroed, pose))


@pytest.mark.parametrize("cpu_backend", ["openvino", "onnxruntime"])
def test_both_cpu_runtimes_give_the_same_frame(tiny_engine_dir, character, cpu_backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(model_dir=str(tiny_engine_dir), cpu_backend=cpu_backend, use_interpolation=False)
    assert core.describe()["backend"] == ("openvino" if cpu_backend == "openvino" else "onnxruntime-cpu")
    core.setImage(character)
    pose = pose_with(head_y=-0.4, iris_rotation_x=0.2)
    np.testing.assert_array_equal(
        core.inference(pose)[0], expected_frame(character * (character[..., 3:] > 0), pose)
    )


def test_output_arrays_are_reused_in_place(core, character):
    core.setImage(character)
    first = core.inference(pose_with(head_x=0.1))
    kept = first[0].copy()
    second = core.inference(pose_with(head_x=0.9))
    assert second[0] is first[0], "the next call must overwrite the same array"
    assert not np.array_equal(second[0], kept)


def test_alpha_zero_pixels_are_zeroed(core, character):
    dirty = character.copy()
    dirty[..., :3][dirty[..., 3] == 0] = 200  # colour under fully transparent pixels
    core.setImage(dirty)
    frame = core.inference(pose_with())[0]
    transparent = character[..., 3] == 0
    assert frame[transparent].max() == 0


def test_accepts_flat_and_float64_poses_and_clamps(core, character):
    core.setImage(character)
    reference = core.inference(pose_with(head_x=1.0, mouth_aaa=1.0))[0].copy()
    flat = np.zeros(45, np.float64)
    flat[POSE_INDEX["head_x"]] = 7.0  # clamped to 1
    flat[POSE_INDEX["mouth_aaa"]] = 3.0
    np.testing.assert_array_equal(core.inference(flat)[0], reference)


@pytest.mark.parametrize(
    ("pose", "message"),
    [
        (np.zeros((1, 44), np.float32), r"shape \(1, 45\).*got shape \(1, 44\)"),
        (np.zeros((2, 45), np.float32), r"got shape \(2, 45\)"),
        (np.full((1, 45), np.nan, np.float32), "NaN/inf at indices"),
        (np.array(["a"] * 45), "got dtype"),
    ],
)
def test_bad_poses_are_rejected_with_clear_errors(core, character, pose, message):
    core.setImage(character)
    with pytest.raises(ValueError, match=message):
        core.inference(pose)


def test_infinite_value_named_by_index(core, character):
    core.setImage(character)
    pose = pose_with()
    pose[0, 40] = np.inf
    with pytest.raises(ValueError, match=r"\[40\]"):
        core.inference(pose)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((512, 512, 3), np.uint8), r"uint8 \(512, 512, 4\) BGRA, got uint8 \(512, 512, 3\)"),
        (np.zeros((512, 512, 4), np.float32), "got float32"),
        (np.zeros((256, 256, 4), np.uint8), r"got uint8 \(256, 256, 4\)"),
        ([[0]], "got list"),
    ],
)
def test_bad_images_are_rejected(core, image, message):
    with pytest.raises(ValueError, match=message):
        core.setImage(image)


def test_inference_before_set_image_says_what_to_do(core):
    with pytest.raises(RuntimeError, match="setImage"):
        core.inference(pose_with())


def test_unknown_option_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'model_sparkle'"):
        get_core(model_sparkle=True)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("interpolation_scale", 5, "interpolation_scale must be one of 2, 3, 4, got 5"),
        ("cacher_quality", 101, "cacher_quality must be an integer from 0 to 100, got 101"),
        ("cacher_ram_size", -1, "cacher_ram_size must be a size in GB >= 0, got -1"),
        ("model_cache_size", float("nan"), "model_cache_size must be a size in GB"),
        ("device_id", -1, "device_id must be an integer >= 0, got -1"),
        ("device_id", "gpu0", "device_id must be an integer >= 0, got 'gpu0'"),
        ("model_half", "yes", "model_half must be True, False or .auto."),
        ("model_half", 1, "model_half must be True, False or .auto., got 1"),
        ("cpu_backend", "tpu", "cpu_backend must be one of auto, openvino, onnxruntime"),
    ],
)
def test_invalid_option_values_state_the_allowed_values(option, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_core(**{option: value})


def test_separable_spelling_alias(tiny_engine_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(model_dir=str(tiny_engine_dir), model_separable=True)
    assert core.options.model_seperable is True
    with pytest.raises(TypeError, match="alias"):
        get_core(model_dir=str(tiny_engine_dir), model_separable=True, model_seperable=False)


def test_describe_reports_what_runs_and_the_fallback(tiny_engine_dir):
    with pytest.warns(RuntimeWarning, match="tensorrt is not available here") as caught:
        core = get_core(model_dir=str(tiny_engine_dir), use_tensorrt=True)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    info = core.describe()
    assert info["requested_backend"] == "tensorrt"
    assert info["backend"] in ("openvino", "onnxruntime-cpu")
    assert info["device"] == "cpu"
    assert "tensorrt" in info["fallback_reason"]
    assert info["variant"] == "separable" and info["precision"] == "fp32"
    assert info["interpolation"]["enabled"] is False or info["interpolation"]["scale"] == 2


def test_model_dir_that_is_not_an_engine_set(tmp_path):
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        get_core(model_dir=str(tmp_path))


@pytest.mark.parametrize("model_half", [True, False, "auto"])
def test_a_cpu_core_asks_for_the_fp32_set_and_says_why(tiny_engine_dir, monkeypatch, model_half):
    from ezvtb_node.core import core as core_module
    from ezvtb_node.core.models.store import load_engine_set
    from ezvtb_node.core.precision import CPU_PRECISION

    asked = []

    def managed_set(variant, precision):
        asked.append((variant, precision))
        return load_engine_set(tiny_engine_dir)

    monkeypatch.setattr(core_module, "ensure_engine_set", managed_set)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(model_half=model_half, use_interpolation=False, use_cacher=False)
    assert asked == [("separable", "fp32")]
    info = core.describe()
    assert info["precision"] == "fp32" and info["precision_reason"] == CPU_PRECISION.reason
    assert info["requested_precision"] == {True: "fp16", False: "fp32", "auto": "auto"}[model_half]


@pytest.mark.parametrize(
    "options",
    [
        {"use_interpolation": False, "use_sr": False},
        {"use_interpolation": True, "interpolation_scale": 3, "use_sr": False},
        {"use_interpolation": False, "use_sr": True, "sr_scale": 2, "sr_model": "bicubic"},
    ],
)
def test_the_options_geometry_is_what_inference_returns(tiny_engine_dir, character, options):
    from ezvtb_node.core import CoreOptions

    geometry = CoreOptions(**options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = get_core(model_dir=str(tiny_engine_dir), use_cacher=False, **options)
    core.setImage(character)
    frames = core.inference(pose_with(mouth_aaa=0.5))
    assert len(frames) == geometry.frames_per_inference
    assert {frame.shape for frame in frames} == {(geometry.frame_side, geometry.frame_side, 4)}
