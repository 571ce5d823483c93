"""doctor's THA3 precision row: which precision the node would run here, and why."""

import pytest

from ezvtb_node.core.precision import GPU_DEFAULTS
from ezvtb_node.doctor import run_checks
from ezvtb_node.doctor.check import Check
from ezvtb_node.doctor.precision import check_precision, first_gpu_backend

CUDA_AND_DML = Check(
    "onnxruntime providers", "ok", "CUDAExecutionProvider, DmlExecutionProvider, CPUExecutionProvider"
)
TENSORRT_OK = Check("TensorRT", "ok", "tensorrt 10.9; CUDA binding cuda-bindings 13.0")
TENSORRT_MISSING = Check("TensorRT", "warn", "not importable: tensorrt (ImportError)")


@pytest.mark.parametrize(
    ("checks", "use_tensorrt", "expected"),
    [
        ([CUDA_AND_DML, TENSORRT_OK], True, "tensorrt"),
        ([CUDA_AND_DML, TENSORRT_MISSING], True, "cuda"),
        ([CUDA_AND_DML, TENSORRT_OK], False, "directml"),
        (
            [Check("onnxruntime providers", "ok", "CPUExecutionProvider (CPU only)"), TENSORRT_MISSING],
            True,
            None,
        ),
    ],
)
def test_the_backend_is_the_first_gpu_runtime_the_other_checks_vouch_for(checks, use_tensorrt, expected):
    assert first_gpu_backend(checks, use_tensorrt) == expected


def test_on_the_cpu_it_says_fp32_and_why():
    check = check_precision(None, "auto")
    assert check.status == "ok" and check.detail.startswith("fp32 on the CPU: CPU backends run fp32")


def test_by_measurement_it_names_the_measurement():
    check = check_precision("cuda", "auto")
    assert check.status == "ok"
    assert check.detail == f"{GPU_DEFAULTS['cuda'].precision} on cuda: {GPU_DEFAULTS['cuda'].reason}"


def test_a_forced_precision_the_measurements_advise_against_is_a_warning_with_the_fix():
    forced = "fp16" if GPU_DEFAULTS["cuda"].precision == "fp32" else "fp32"
    check = check_precision("cuda", forced == "fp16")
    assert check.status == "warn" and check.detail.startswith(f"{forced} on cuda: model_half=")
    assert 'model_half = "auto"' in check.fix


def test_run_checks_has_the_precision_row_of_the_nodes_defaults():
    checks = run_checks()
    (row,) = [check for check in checks if check.name == "THA3 precision"]
    assert row == check_precision(first_gpu_backend(checks, use_tensorrt=True), "auto")
