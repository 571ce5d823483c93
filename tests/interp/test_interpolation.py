"""Frame interpolation: the embedded optical-flow interpolator and imported RIFE files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ezvtb_node.core.backends import make_backend
from ezvtb_node.core.interpolation import (
    CrossFadeInterpolator,
    FlowInterpolator,
    InterpolationStage,
    RifeOnnxInterpolator,
    intermediate_times,
    make_interpolator,
)
from ezvtb_node.core.models.import_onnx import import_model
from ezvtb_node.pose import POSE_INDEX


def textured_disc(center_x: float) -> np.ndarray:
    """An opaque, textured disc on a transparent background (hidden colour is not black, as in
    THA3 output), drawn with sub-pixel accuracy."""
    size = 512
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    inside = np.clip(80.5 - np.hypot(xs - center_x, ys - 256.0), 0.0, 1.0)
    u, v = xs - center_x, ys - 256.0
    frame = np.empty((size, size, 4), np.uint8)
    frame[:, :, 0] = 128 + 100 * np.sin(u / 9.0) * np.cos(v / 7.0)
    frame[:, :, 1] = 128 + 90 * np.cos(u / 13.0 + v / 11.0)
    frame[:, :, 2] = np.clip(60 + 0.8 * (u + 100), 0, 255)
    frame[:, :, 3] = np.rint(inside * 255)
    return frame


def alpha_centroid_x(frame: np.ndarray) -> float:
    alpha = frame[:, :, 3].astype(np.float64)
    return float((alpha.sum(axis=0) * np.arange(512)).sum() / alpha.sum())


def visible(frame: np.ndarray) -> np.ndarray:
    """Premultiplied colour and alpha: what shows on screen (hidden colour does not count)."""
    alpha = frame[:, :, 3:4].astype(np.float32)
    return np.concatenate([frame[:, :, :3] * (alpha / 255.0), alpha], axis=2)


def error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(visible(a) - visible(b))))


def test_moving_disc_is_moved_not_cross_faded():
    start, end = textured_disc(220.0), textured_disc(244.0)
    truth = textured_disc(232.0)
    flow = FlowInterpolator(2).interpolate(start, end)[0]
    fade = CrossFadeInterpolator(2).interpolate(start, end)[0]
    assert error(flow, truth) < 0.4 * error(fade, truth)
    # The silhouette sits at the midpoint as one disc: no double edge of two half-alpha ghosts.
    alpha_error = np.abs(flow[:, :, 3].astype(int) - truth[:, :, 3])
    fade_alpha_error = np.abs(fade[:, :, 3].astype(int) - truth[:, :, 3])
    assert alpha_error.mean() < 0.25 * fade_alpha_error.mean()
    assert np.count_nonzero(alpha_error > 64) < 0.1 * np.count_nonzero(fade_alpha_error > 64)


@pytest.mark.parametrize("scale", [3, 4])
def test_in_between_frames_follow_the_motion_at_their_times(scale):
    frames = FlowInterpolator(scale).interpolate(textured_disc(220.0), textured_disc(244.0))
    assert len(frames) == scale - 1
    for t, frame in zip(intermediate_times(scale), frames, strict=True):
        assert alpha_centroid_x(frame) == pytest.approx(220.0 + 24.0 * t, abs=0.75)


def test_still_pair_gives_the_same_frame_back():
    frame = textured_disc(240.0)
    out = FlowInterpolator(2).interpolate(frame, frame)[0]
    visible = frame[:, :, 3] > 0
    assert np.abs(out.astype(int) - frame)[visible].max() <= 1
    assert np.array_equal(out[:, :, 3], frame[:, :, 3])


def test_output_arrays_are_reused_between_calls(random_frames):
    interp = FlowInterpolator(3)
    first = interp.interpolate(*random_frames)
    second = interp.interpolate(*random_frames[::-1])
    assert [a is b for a, b in zip(first, second, strict=True)] == [True, True]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((512, 512, 3), np.uint8),
        np.zeros((512, 512, 4), np.float32),
        np.zeros((256, 256, 4), np.uint8),
    ],
)
def test_bad_frames_are_rejected_with_what_was_expected(bad):
    good = np.zeros((512, 512, 4), np.uint8)
    with pytest.raises(ValueError, match=r"frame1: expected uint8 BGRA array of shape \(512, 512, 4\), got"):
        FlowInterpolator(2).interpolate(good, bad)


def test_unsupported_scale_is_rejected():
    with pytest.raises(ValueError, match=r"one of \(2, 3, 4\), got 5"):
        make_interpolator(5)


def test_without_imported_models_the_embedded_interpolator_runs(tmp_path):
    interp = make_interpolator(2, half=True, engines_dir=tmp_path)
    assert isinstance(interp, FlowInterpolator)
    assert interp.describe()["interpolator"] == "flow"


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imported_rife_file_runs_on_the_cpu_runtime_by_default(rife_model, random_frames, tmp_path, scale):
    import_model(rife_model(scale=scale, half=True), tmp_path)
    interp = make_interpolator(scale, half=True, engines_dir=tmp_path)
    assert isinstance(interp, RifeOnnxInterpolator)
    assert interp.describe()["precision"] == "fp16"
    assert interp.describe()["backend"] == "openvino"
    frame0, frame1 = random_frames
    got = interp.interpolate(frame0, frame1)
    assert len(got) == scale - 1
    for t, frame in zip(intermediate_times(scale), got, strict=True):
        expected = np.rint((1 - t) * frame0.astype(np.float32) + t * frame1.astype(np.float32))
        # the stand-in computes in float16: one level of rounding either way
        assert np.abs(frame.astype(int) - expected).max() <= 1
        assert frame.shape == (512, 512, 4) and frame.dtype == np.uint8


def test_a_non_rife_file_cannot_be_used_as_interpolator(sr_model):
    with pytest.raises(ValueError, match="expected a RIFE interpolation model, found a sr model"):
        RifeOnnxInterpolator(sr_model())


def test_crossfade_baseline_is_what_it_claims(random_frames):
    frame0, frame1 = random_frames
    got = CrossFadeInterpolator(4).interpolate(frame0, frame1)[1]
    expected = cv2.addWeighted(frame0, 0.5, frame1, 0.5, 0.0)
    assert np.array_equal(got, expected)


def test_stage_returns_scale_frames_ending_with_the_new_one():
    stage = InterpolationStage(FlowInterpolator(3))
    first, second = textured_disc(220.0), textured_disc(244.0)
    out = stage.process(first)
    assert len(out) == 3 and all(np.array_equal(f, first) for f in out)  # nothing to come from yet
    out = stage.process(second)
    assert len(out) == 3
    assert np.array_equal(out[-1], second)
    assert [round(alpha_centroid_x(f)) for f in out[:2]] == [228, 236]


def test_stage_keeps_its_own_copy_of_the_previous_frame():
    stage = InterpolationStage(FlowInterpolator(2))
    renderer_buffer = textured_disc(220.0)
    stage.process(renderer_buffer)
    renderer_buffer[:] = textured_disc(244.0)  # the renderer reuses its output array in place
    middle = stage.process(renderer_buffer)[0]
    assert alpha_centroid_x(middle) == pytest.approx(232.0, abs=0.75)


def test_stage_reset_starts_over_without_interpolating_across_it():
    stage = InterpolationStage(FlowInterpolator(2))
    stage.process(textured_disc(100.0))
    stage.reset()
    new = textured_disc(300.0)
    assert all(np.array_equal(f, new) for f in stage.process(new))


@pytest.mark.slow
def test_on_real_tha3_frames_flow_beats_cross_fade():
    """Head turn rendered by the reference THA3 poser (torch): the interpolated middle frame is
    closer to THA3's own middle frame than a cross-fade is."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from interp_tha3_render import ReferenceRenderer, packaged_character

    renderer = ReferenceRenderer(packaged_character())
    pose = np.zeros(45, np.float32)
    frames = []
    for head_y in (0.0, 0.15, 0.3):
        pose[POSE_INDEX["head_y"]] = head_y
        frames.append(renderer.render(pose))

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        return 10 * np.log10(255**2 / np.mean((visible(a) - visible(b)) ** 2))

    flow = FlowInterpolator(2).interpolate(frames[0], frames[2])[0]
    fade = CrossFadeInterpolator(2).interpolate(frames[0], frames[2])[0]
    assert psnr(flow, frames[1]) > psnr(fade, frames[1]) + 3.0


@pytest.mark.parametrize("backend_name", ["openvino", "onnxruntime-cpu"])
def test_imported_rife_runs_on_the_backend_it_is_given(rife_model, random_frames, tmp_path, backend_name):
    import_model(rife_model(scale=2), tmp_path)
    interp = make_interpolator(2, half=False, engines_dir=tmp_path, backend=make_backend(backend_name))
    assert interp.describe()["backend"] == backend_name
    frame0, frame1 = random_frames
    expected = np.rint(0.5 * frame0.astype(np.float32) + 0.5 * frame1.astype(np.float32))
    assert np.abs(interp.interpolate(frame0, frame1)[0].astype(int) - expected).max() <= 1
