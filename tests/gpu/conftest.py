import functools
import sys
import types

import pytest

from tests.core.conftest import character, tiny_engine_dir  # noqa: F401 (shared fixtures)
from tests.gpu import fake_pycuda, fake_tensorrt


@pytest.fixture
def fake_gpu(monkeypatch, tmp_path):
    """Install the tensorrt/pycuda stand-ins (one RTX 3060-like device) and a private engines dir."""
    package = types.ModuleType("pycuda")
    package.driver = fake_pycuda
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", fake_pycuda)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    monkeypatch.setenv("EZVTB_ENGINES_DIR", str(tmp_path / "engines"))
    fake_tensorrt.configure("10.9.0.34")
    state = fake_pycuda.reset()
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
        import pycuda.driver as cuda

        cuda.init()
        return "pycuda" if cuda.Device.count() > 0 else None
    except Exception:  # no pycuda, no driver, no device: all mean "no GPU here"
        return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None and real_gpu() is None:
        pytest.skip("needs an NVIDIA GPU with CUDA (see docs/gpu.md, 'Verifying on a GPU')")
