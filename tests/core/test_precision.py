"""Default precision by measurement: the bounds, the table, and who says which precision runs."""

import numpy as np
import pytest

from ezvtb_node.core.precision import (
    CPU_PRECISION,
    GPU_DEFAULTS,
    choose_precision,
    judge_precision,
)


def frames_with(changed: dict[int, int], count: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """A reference of ``count`` channels and a candidate whose first channels differ by the given
    levels ({levels: how many channels})."""
    reference = np.full(count, 100, np.uint8)
    candidate = reference.copy()
    start = 0
    for levels, how_many in changed.items():
        candidate[start : start + how_many] += levels
        start += how_many
    return reference, candidate


def test_fp32_allows_one_level_and_no_more():
    assert judge_precision(*frames_with({1: 500}), "fp32").meets_bound
    verdict = judge_precision(*frames_with({2: 1}), "fp32")
    assert not verdict.meets_bound and verdict.max_levels == 2


def test_fp16_needs_999_of_1000_channels_within_two_levels():
    ten_in_10k = judge_precision(*frames_with({2: 5000, 3: 10}), "fp16")
    assert ten_in_10k.meets_bound and ten_in_10k.max_levels == 3
    eleven_in_10k = judge_precision(*frames_with({3: 11}), "fp16")
    assert not eleven_in_10k.meets_bound
    assert eleven_in_10k.share_within_fp16_levels == pytest.approx(0.9989)


def test_several_poses_are_judged_together_and_the_verdict_reads_as_a_sentence():
    reference, candidate = frames_with({1: 3}, count=12)
    verdict = judge_precision([reference, reference], [candidate, reference], "fp32")
    assert verdict.meets_bound and verdict.max_levels == 1
    assert str(verdict).startswith("fp32: max 1/255") and "meets its bound" in str(verdict)


@pytest.mark.parametrize(
    ("reference", "candidate", "precision", "message"),
    [
        (
            np.zeros(4, np.uint8),
            np.zeros(4, np.uint8),
            "bf16",
            "precision must be one of fp32, fp16, got 'bf16'",
        ),
        (
            np.zeros(4, np.uint8),
            np.zeros(5, np.uint8),
            "fp32",
            r"reference frames are \(4,\), candidate frames \(5,\)",
        ),
        (
            np.zeros(4, np.uint8),
            np.zeros(4, np.float32),
            "fp32",
            "candidate frames must be uint8 pixels, got float32",
        ),
    ],
)
def test_bad_frames_or_precision_are_refused_naming_what_came(reference, candidate, precision, message):
    with pytest.raises(ValueError, match=message):
        judge_precision(reference, candidate, precision)


def test_the_table_makes_a_precision_the_default_only_where_a_measurement_met_its_bound():
    for backend, default in GPU_DEFAULTS.items():
        if default.precision == "fp16":
            assert default.measured, f"{backend}: fp16 default without a measurement meeting its bound"
    # The issue-21 H200 figures: fp16 failed its bound, fp32 with TF32 off met it.
    cuda = GPU_DEFAULTS["cuda"]
    assert cuda.precision == "fp32" and cuda.measured
    assert {m.precision: m.meets_bound for m in cuda.measurements} == {"fp32": True, "fp16": False}
    assert "unmeasured" in GPU_DEFAULTS["tensorrt"].reason and "unmeasured" in GPU_DEFAULTS["directml"].reason


@pytest.mark.parametrize(
    ("backend", "model_half", "gpu", "precision", "source"),
    [
        ("cuda", "auto", True, GPU_DEFAULTS["cuda"].precision, "table"),
        ("tensorrt", "auto", True, GPU_DEFAULTS["tensorrt"].precision, "table"),
        ("cuda", True, True, "fp16", "setting"),
        ("cuda", False, True, "fp32", "setting"),
        ("openvino", True, False, "fp32", "cpu"),
        ("onnxruntime-cpu", "auto", False, "fp32", "cpu"),
    ],
)
def test_the_choice_follows_the_setting_the_table_or_the_cpu(backend, model_half, gpu, precision, source):
    choice = choose_precision(backend, model_half, gpu)
    assert (choice.precision, choice.source) == (precision, source)
    if source == "table":
        assert choice.reason == GPU_DEFAULTS[backend].reason
    if source == "cpu":
        assert choice.reason == CPU_PRECISION.reason
