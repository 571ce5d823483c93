import functools
import sys
import types

import pytest

from tests.core.conftest import character, tiny_engine_dir  # noqa: F401 (shared fixtures)
from tests.gpu import fake_cuda_bindings, fake_cuda_device, fake_pycuda, fake_tensorrt

#: The CUDA bindings the TensorRT backend supports, each with a stand-in here.
CUDA_BINDING_STANDINS = ("cuda-bindings", "pycuda")


def install_cuda_bindings(monkeypatch) -> None:
    """Make ``from cuda.bindings import runtime`` import the cuda-bindings stand-in."""
    package = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.__version__ = fake_cuda_bindings.__version__
    bindings.runtime = fake_cuda_bindings
    package.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", package)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", fake_cuda_bindings)


def install_pycuda(monkeypatch) -> None:
    package = types.ModuleType("pycuda")
    package.driver = fake_pycuda
    package.VERSION_TEXT = fake_pycuda.VERSION_TEXT
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", fake_pycuda)


def hide(monkeypatch, *modules: str) -> None:
    """Make ``import`` of each module fail, as when it is not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def hide_cuda_bindings(monkeypatch) -> None:
    hide(monkeypatch, "cuda", "cuda.bindings", "cuda.bindings.runtime")


def hide_pycuda(monkeypatch) -> None:
    hide(monkeypatch, "pycuda", "pycuda.driver")


@pytest.fixture(params=CUDA_BINDING_STANDINS)
def fake_gpu(request, monkeypatch, tmp_path):
    """The tensorrt stand-in with one CUDA binding's stand-in (the other one is not installed),
    one RTX 3060-like device and a private engines dir. ``state.binding`` names the binding."""
    if request.param == "cuda-bindings":
        install_cuda_bindings(monkeypatch)
        hide_pycuda(monkeypatch)
    else:
        install_pycuda(monkeypatch)
        hide_cuda_bindings(monkeypatch)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    monkeypatch.delenv("EZVTB_CUDA_BINDING", raising=False)
    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(tmp_path / "engines"))
    fake_tensorrt.configure("10.9.0.34")
    fake_cuda_bindings.reset()
    state = fake_cuda_device.reset()
    state.binding = request.param
    yield state
    fake_tensorrt.configure("10.9.0.34")


@functools.cache
def real_gpu() -> str | None:
    """What real NVIDIA GPU runtime is usable here (None on machines without one)."""
    try:
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return "onnxruntime-gpu"
    except ImportError:
        pass
    try:
        from cuda.bindings import runtime

        err, count = runtime.cudaGetDeviceCount()
        if err == runtime.cudaError_t.cudaSuccess and count > 0:
            return "cuda-bindings"
    except Exception:  # no cuda-bindings, no driver, no device: all mean "not through this one"
        pass
    try:
        import pycuda.driver as cuda

        cuda.init()
        return "pycuda" if cuda.Device.count() > 0 else None
    except Exception:  # no pycuda, no driver, no device: all mean "no GPU here"
        return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None and real_gpu() is None:
        pytest.skip("needs an NVIDIA GPU with CUDA (see docs/gpu.md, 'Verifying on a GPU')")
