"""Which CUDA binding the TensorRT backend uses, and how the two stand-ins' differences are hidden
(ezvtb_node/core/backends/cuda_memory.py)."""

import gc
import logging
import warnings

import numpy as np
import pytest

from ezvtb_node.core.backends import BackendUnavailable
from ezvtb_node.core.backends.cuda_memory import (
    CudaBindingUnavailable,
    CudaError,
    describe_cuda_bindings,
    load_cuda_binding,
)
from ezvtb_node.core.backends.tensorrt import TensorRtBackend
from tests.gpu import fake_cuda_bindings, fake_cuda_device
from tests.gpu.conftest import hide_cuda_bindings, hide_pycuda, install_cuda_bindings, install_pycuda
from tests.gpu.fake_cuda_device import FakeDevice
from tests.gpu.helpers import quiet_core, test_poses


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("EZVTB_CUDA_BINDING", raising=False)
    fake_cuda_device.reset()
    fake_cuda_bindings.reset()


def test_cuda_bindings_is_preferred_when_both_are_installed(fake_gpu, monkeypatch):
    install_cuda_bindings(monkeypatch)
    install_pycuda(monkeypatch)
    backend = TensorRtBackend(0, progress=False)
    assert backend.cuda_binding.name == "cuda-bindings"
    assert backend.provider == f"TensorRT 10.9.0.34 + cuda-bindings {fake_cuda_bindings.__version__}"


def test_pycuda_serves_where_cuda_bindings_is_missing_and_the_log_says_why(no_env, monkeypatch, caplog):
    install_pycuda(monkeypatch)
    hide_cuda_bindings(monkeypatch)
    with caplog.at_level(logging.INFO, logger="ezvtb_node.core.backends.cuda_memory"):
        binding = load_cuda_binding()
    assert binding.name == "pycuda"
    assert "pycuda is used because cuda-bindings: " in caplog.text


@pytest.mark.parametrize("name", ["pycuda", "cuda-bindings"])
def test_the_environment_variable_or_the_argument_forces_a_binding(no_env, monkeypatch, name):
    install_cuda_bindings(monkeypatch)
    install_pycuda(monkeypatch)
    assert load_cuda_binding(name).name == name
    monkeypatch.setenv("EZVTB_CUDA_BINDING", name)
    assert load_cuda_binding().name == name


def test_a_wrong_binding_name_is_refused_naming_the_choices(no_env, monkeypatch):
    monkeypatch.setenv("EZVTB_CUDA_BINDING", "cupy")
    with pytest.raises(
        ValueError, match=r"EZVTB_CUDA_BINDING must be one of auto, cuda-bindings, pycuda; got 'cupy'"
    ):
        load_cuda_binding()


def test_core_with_a_wrong_binding_name_falls_back_naming_it(fake_gpu, monkeypatch, tiny_engine_dir):
    monkeypatch.setenv("EZVTB_CUDA_BINDING", "cupy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = quiet_core(model_dir=str(tiny_engine_dir))
    assert core.describe()["backend"] != "tensorrt"
    assert (
        "EZVTB_CUDA_BINDING must be one of auto, cuda-bindings, pycuda; got 'cupy'"
        in (core.describe()["fallback_reason"])
    )


def test_without_any_binding_the_reason_says_what_to_install(no_env, monkeypatch):
    hide_cuda_bindings(monkeypatch)
    hide_pycuda(monkeypatch)
    with pytest.raises(
        CudaBindingUnavailable, match=r"-m pip install cuda-bindings .*pycuda also works"
    ) as caught:
        load_cuda_binding()
    assert "cuda-bindings: ModuleNotFoundError" in str(caught.value)
    assert "pycuda: ModuleNotFoundError" in str(caught.value)


def test_a_forced_binding_that_is_missing_says_so(no_env, monkeypatch):
    install_cuda_bindings(monkeypatch)
    hide_pycuda(monkeypatch)
    monkeypatch.setenv("EZVTB_CUDA_BINDING", "pycuda")
    with pytest.raises(CudaBindingUnavailable, match=r"pycuda was asked for .* unset EZVTB_CUDA_BINDING"):
        load_cuda_binding()


def test_core_without_a_binding_falls_back_with_the_install_hint(fake_gpu, monkeypatch, tiny_engine_dir):
    hide_cuda_bindings(monkeypatch)
    hide_pycuda(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        core = quiet_core(model_dir=str(tiny_engine_dir))
    info = core.describe()
    assert info["backend"] != "tensorrt"
    assert "no CUDA binding for Python is installed: " in info["fallback_reason"]
    assert "-m pip install cuda-bindings" in info["fallback_reason"]


def test_cuda_failures_name_the_call_and_the_cuda_error(fake_gpu, tiny_engine_dir):
    fake_cuda_device.reset([FakeDevice(total_memory=1 << 20)])  # 1 MiB: the stages do not fit
    backend = TensorRtBackend(0, progress=False)
    with pytest.raises(
        CudaError, match=r"(cudaMalloc|mem_alloc)\(\d+ bytes\) failed: .*(MemoryAllocation|out of memory)"
    ):
        backend.load(tiny_engine_dir / "face.onnx")


def test_an_old_driver_gets_advice_on_the_matching_cuda_bindings(fake_gpu, monkeypatch):
    install_cuda_bindings(monkeypatch)
    monkeypatch.setattr(fake_cuda_bindings, "driver_too_old", True)
    with pytest.raises(
        BackendUnavailable, match=r"InsufficientDriver: the NVIDIA driver is older.*cuda-bindings==12"
    ):
        TensorRtBackend(0, progress=False, cuda_binding="cuda-bindings")


def test_device_memory_is_freed_when_the_backend_is_dropped(fake_gpu, tiny_engine_dir, character):
    core = quiet_core(model_dir=str(tiny_engine_dir), model_cache=True)
    core.setImage(character)
    for pose in test_poses(2):
        core.inference(pose)
    assert fake_gpu.heap, "the stages hold device memory while the core lives"
    del core
    gc.collect()
    assert fake_gpu.heap == {}, "cuda-bindings frees nothing by itself: our buffers must"
    frees = [call for call in fake_gpu.calls if call[0] == "free"]
    assert len(frees) == fake_gpu.allocations


def test_pinned_host_buffers_are_real_page_locked_memory_the_copies_use(fake_gpu, tiny_engine_dir):
    backend = TensorRtBackend(0, progress=False)
    with backend.cuda.current():
        host = backend.cuda.pinned_empty((3, 5), np.float32)
    host[:] = np.arange(15, dtype=np.float32).reshape(3, 5)
    assert host.flags.c_contiguous and host.flags.writeable
    assert fake_cuda_device.is_pinned(host.ctypes.data, host.nbytes)
    with backend.cuda.current():
        device = backend.cuda.alloc(host.nbytes)
        back = backend.cuda.pinned_empty((3, 5), np.float32)
        back[:] = 0  # pycuda's page-locked arrays start uninitialised
        backend.cuda.upload(device.ptr, host, backend.stream)
        backend.cuda.download(back, device.ptr, backend.stream)
        assert not back.any(), "nothing ran before the stream was synchronized"
        backend.stream.synchronize()
    np.testing.assert_array_equal(back, host)
    assert fake_gpu.pageable_async_copies == 0


def test_strided_arrays_are_refused_before_any_copy(fake_gpu):
    backend = TensorRtBackend(0, progress=False)
    with backend.cuda.current():
        device = backend.cuda.alloc(64)
        with pytest.raises(ValueError, match="upload source must be a C-contiguous array"):
            backend.cuda.upload(device.ptr, np.zeros((4, 8), np.float32)[:, ::2], backend.stream)


def test_doctor_view_lists_both_bindings_without_calling_cuda(no_env, monkeypatch):
    install_cuda_bindings(monkeypatch)
    hide_pycuda(monkeypatch)
    found = dict((name, (version, problem)) for name, version, problem in describe_cuda_bindings())
    assert found["cuda-bindings"] == (fake_cuda_bindings.__version__, None)
    assert found["pycuda"][0] is None and "ModuleNotFoundError" in found["pycuda"][1]
    assert fake_cuda_device.STATE.calls == []
