"""The CUDA-only decisions of the ONNX Runtime backend, checked without a GPU: real ONNX Runtime
(its CPU build) for session creation, a stand-in (tests/gpu/fake_ort_preload.py) for preload_dlls."""

import warnings

import onnxruntime as ort
import pytest

from ezvtb_node.core import get_core
from ezvtb_node.core.backends import BackendUnavailable, make_backend
from ezvtb_node.core.backends import onnxruntime as ort_backend
from ezvtb_node.core.backends.onnxruntime import OnnxRuntimeBackend, cuda_provider_options
from ezvtb_node.core.options import CoreOptions
from tests.gpu import fake_ort_preload
from tests.gpu.conftest import hide_cuda_bindings, hide_pycuda
from tests.gpu.helpers import test_poses as poses


@pytest.fixture
def cuda_listed(monkeypatch):
    """ONNX Runtime lists the CUDA provider (as onnxruntime-gpu does) but its C++ core has none,
    like a machine whose CUDA libraries do not load; preload_dlls is the stand-in."""
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(ort, "preload_dlls", fake_ort_preload.preload_dlls, raising=False)
    fake_ort_preload.calls.clear()
    ort_backend.preload_nvidia_libraries.cache_clear()
    yield
    ort_backend.preload_nvidia_libraries.cache_clear()


def nvidia_wheels(monkeypatch, tmp_path):
    """The `nvidia` namespace folder NVIDIA's CUDA/cuDNN wheels install into site-packages."""
    (tmp_path / "nvidia" / "cudnn" / "lib").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_session_onnx_runtime_put_on_the_cpu_is_refused_with_the_reason(cuda_listed, tiny_engine_dir):
    backend = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ONNX Runtime's own "provider not available" warning
        refused = r"eyebrow\.onnx on CPUExecutionProvider instead of CUDAExecutionProvider"
        with pytest.raises(BackendUnavailable, match=refused):
            backend.load(tiny_engine_dir / "eyebrow.onnx")


def test_the_core_fails_over_to_the_cpu_naming_why_cuda_did_not_run(cuda_listed, tiny_engine_dir, character):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        core = get_core(model_dir=str(tiny_engine_dir), use_interpolation=False, use_cacher=False)
    info = core.describe()
    assert info["backend"] in ("openvino", "onnxruntime-cpu") and info["device"] == "cpu"
    assert info["fallback_reason"].startswith("cuda: ONNX Runtime created the session of")
    assert any("cuda: ONNX Runtime created" in str(w.message) for w in caught)
    core.setImage(character)
    assert core.inference(poses(1)[0])[0].shape == (512, 512, 4)


def test_nvidia_wheels_are_preloaded_once_as_onnx_runtime_documents(cuda_listed, monkeypatch, tmp_path):
    nvidia_wheels(monkeypatch, tmp_path)
    first = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    OnnxRuntimeBackend("CUDAExecutionProvider", 1)
    expected = [] if __import__("platform").system() not in ("Windows", "Linux") else [
        {"cuda": True, "cudnn": True, "msvc": True, "directory": None}
    ]
    assert fake_ort_preload.calls == expected
    assert first.library_note.startswith("preloaded")


def test_without_nvidia_wheels_nothing_is_preloaded(cuda_listed, monkeypatch):
    monkeypatch.setattr(ort_backend.importlib.util, "find_spec", lambda name: None)
    backend = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    assert fake_ort_preload.calls == []
    assert "no NVIDIA CUDA/cuDNN wheels" in backend.library_note


def test_an_onnx_runtime_without_preload_dlls_is_named(cuda_listed, monkeypatch, tmp_path):
    nvidia_wheels(monkeypatch, tmp_path)
    monkeypatch.delattr(ort, "preload_dlls")
    backend = OnnxRuntimeBackend("CUDAExecutionProvider", 0)
    assert "has no preload_dlls (1.21+)" in backend.library_note


def test_cpu_and_directml_backends_never_preload_cuda(cuda_listed):
    assert OnnxRuntimeBackend("CPUExecutionProvider", 0).library_note is None
    assert fake_ort_preload.calls == []


def test_tf32_is_off_unless_the_option_asks_and_cudnn_search_is_heuristic(cuda_listed):
    assert cuda_provider_options(0, tf32=False) == {
        "device_id": "0", "use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"
    }  # fmt: skip
    assert cuda_provider_options(2, tf32=True)["use_tf32"] == "1"
    assert not OnnxRuntimeBackend("CUDAExecutionProvider", 0).tf32
    assert OnnxRuntimeBackend("CUDAExecutionProvider", 0, tf32=True).tf32


def test_cuda_tf32_is_an_off_by_default_core_option_that_reaches_the_backend(monkeypatch):
    # Every CoreOptions field is a node.toml key and a run flag (tests/node/test_config.py).
    with pytest.raises(ValueError, match="cuda_tf32 must be True or False"):
        CoreOptions.from_kwargs(cuda_tf32="yes")
    assert CoreOptions().cuda_tf32 is False
    made = []
    monkeypatch.setattr(ort_backend, "OnnxRuntimeBackend", lambda *args, **kwargs: made.append(kwargs))
    make_backend("cuda", cuda_tf32=True)
    assert made == [{"tf32": True}]


def test_the_session_asks_for_the_provider_options(cuda_listed, monkeypatch, tiny_engine_dir):
    hide_cuda_bindings(monkeypatch)
    hide_pycuda(monkeypatch)
    asked = []
    real_session = ort.InferenceSession

    def recording(path, options, providers, **kwargs):
        asked.append((providers, kwargs))
        return real_session(path, options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", recording)
    with pytest.raises(BackendUnavailable):
        OnnxRuntimeBackend("CUDAExecutionProvider", 3, tf32=True).load(tiny_engine_dir / "face.onnx")
    expected = [("CUDAExecutionProvider", cuda_provider_options(3, True)), "CPUExecutionProvider"]
    # No CUDA binding here, so no CUDA graph is tried; a failing provider raises, no CPU retry.
    assert asked == [(expected, {"enable_fallback": 0})]
