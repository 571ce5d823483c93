"""The table the core picks its runtime from (core/backends/selection.py): each runtime under the
name its backend reports, the orders they are tried in, and what a fallback says. Real OpenVINO and
ONNX Runtime (its CPU build, listing GPU providers where a test says so); TensorRT is the tensorrt
stand-in with a stand-in CUDA binding (tests/gpu/fake_*.py)."""

import sys

import onnxruntime as ort
import pytest

from ezvtb_node.core import backends
from ezvtb_node.core.backends import BackendUnavailable, make_backend, make_cpu_backend, select_backend
from ezvtb_node.core.backends.selection import RUNTIMES
from tests.gpu.conftest import hide


def without_gpu_runtimes(monkeypatch) -> None:
    hide(monkeypatch, "tensorrt")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])


def without_runtime_module(monkeypatch, package: str, module: str) -> None:
    """As if ``package`` were not installed and our ``module`` over it never imported (the module
    and its attribute on ``ezvtb_node.core.backends`` come back after the test)."""
    hide(monkeypatch, package)
    monkeypatch.delitem(sys.modules, f"ezvtb_node.core.backends.{module}", raising=False)
    monkeypatch.delattr(backends, module, raising=False)


def without_openvino(monkeypatch) -> None:
    without_runtime_module(monkeypatch, "openvino", "openvino")


def tried(selection) -> list[str]:
    return [reason.split(":")[0] for reason in selection.fallback_reason.split("; ")]


def test_every_runtime_in_the_table_reports_the_name_it_is_listed_under(fake_gpu, monkeypatch):
    listed = ["CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: listed)
    assert {name: make_backend(name).name for name in RUNTIMES} == {name: name for name in RUNTIMES}


def test_an_unknown_runtime_name_is_refused_naming_every_runtime_of_the_table():
    expected = "unknown backend 'vulkan': tensorrt, cuda, directml, openvino or onnxruntime-cpu"
    with pytest.raises(ValueError, match=expected):
        make_backend("vulkan")


def test_with_tensorrt_asked_for_the_gpu_runtimes_are_tried_tensorrt_then_cuda_then_directml(monkeypatch):
    without_gpu_runtimes(monkeypatch)
    with pytest.warns(RuntimeWarning, match=r"^tensorrt is not available here \(tensorrt: the tensorrt"):
        selection = select_backend(True, 0, "onnxruntime")
    assert tried(selection) == ["tensorrt", "cuda", "directml"]
    assert (selection.requested, selection.backend.name) == ("tensorrt", "onnxruntime-cpu")


def test_without_tensorrt_directml_is_asked_for_and_cuda_tried_after_it(monkeypatch):
    without_gpu_runtimes(monkeypatch)
    with pytest.warns(RuntimeWarning, match=r"^directml is not available here"):
        selection = select_backend(False, 0, "openvino")
    assert tried(selection) == ["directml", "cuda"]
    assert (selection.requested, selection.backend.name) == ("directml", "openvino")


def test_the_first_gpu_runtime_that_works_runs_and_the_ones_before_it_are_named(monkeypatch):
    hide(monkeypatch, "tensorrt")
    listed = ["DmlExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: listed)
    with pytest.warns(RuntimeWarning, match="running on directml"):
        selection = select_backend(True, 0)
    assert selection.backend.name == "directml" and tried(selection) == ["tensorrt", "cuda"]


def test_the_cpu_runtime_is_openvino_when_it_is_installed_and_onnx_runtime_when_asked_for():
    assert make_cpu_backend("auto").name == "openvino"
    assert make_cpu_backend("onnxruntime").name == "onnxruntime-cpu"


def test_without_openvino_auto_runs_onnx_runtime_on_the_cpu(monkeypatch):
    without_openvino(monkeypatch)
    assert make_cpu_backend("auto", threads=1).name == "onnxruntime-cpu"


def test_openvino_asked_for_but_missing_is_an_error_not_a_fallback(monkeypatch):
    without_openvino(monkeypatch)
    with pytest.raises(BackendUnavailable, match=r"^the openvino package is not installed$"):
        make_cpu_backend("openvino")


def test_no_cpu_runtime_at_all_names_both_that_were_tried(monkeypatch):
    without_openvino(monkeypatch)
    without_runtime_module(monkeypatch, "onnxruntime", "onnxruntime")
    with pytest.raises(BackendUnavailable) as refused:
        make_cpu_backend("auto")
    assert str(refused.value).startswith(
        "no CPU runtime: openvino: the openvino package is not installed; "
        "onnxruntime-cpu: no ONNX Runtime package is installed"
    )
