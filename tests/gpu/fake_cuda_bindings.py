"""A stand-in for ``cuda.bindings.runtime`` (NVIDIA cuda-bindings; the part the TensorRT backend
uses), a facade over the simulated GPU in ``tests/gpu/fake_cuda_device.py``.

Written from NVIDIA/cuda-python ``cuda_bindings/cuda/bindings/runtime.pyx.in`` (the generated
Python functions and their docstrings), ``cuda_bindings/cuda/bindings/_lib/utils.pxi``
(``_HelperInputVoidPtr``), and NVIDIA/TensorRT ``samples/python/common_runtime.py`` (how NVIDIA
calls it):

* Nothing raises for a CUDA failure: every function returns a tuple whose first item is a
  ``cudaError_t`` (an ``IntEnum``; ``cudaSuccess`` is 0) followed by the outputs, which are
  ``None`` when the call failed: ``cudaMalloc(size)`` -> ``(err, ptr)``, ``cudaFree(ptr)`` ->
  ``(err,)``. Only Python-level misuse raises (a wrong argument type, ``kind.value`` of a plain int).
* Pointers are plain ``int``s; a pointer argument also takes ``None`` (NULL) or an object with the
  buffer protocol (its address), anything else is a ``TypeError``.
* Streams and events are handle objects (``cudaStream_t``, ``cudaEvent_t``); ``int(handle)`` is
  the raw handle TensorRT takes. Stream arguments take such an object, ``None`` (the legacy
  default stream) or an int.
* ``cudaMemcpyAsync(dst, src, count, kind, stream)`` needs ``kind`` to be a ``cudaMemcpyKind``.
* ``cudaSetDevice`` binds the device's primary context to the calling thread; a call with no
  context current initialises device 0's primary context (see fake_cuda_device).
* ``cudaEventRecord``: "event and stream must be on the same CUDA context".

Stricter than CUDA, and said so where it happens: using a stream of another device than the
current one in a copy is refused with ``cudaErrorInvalidResourceHandle`` (CUDA may accept some
such copies; our code must never depend on that).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

from tests.gpu import fake_cuda_device as gpu

__version__ = "12.9.0"
cudaEventDefault = 0
cudaEventBlockingSync = 1
cudaEventDisableTiming = 2
cudaStreamDefault = 0
cudaStreamNonBlocking = 1


class cudaError_t(IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInitializationError = 3
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorInvalidDevice = 101
    cudaErrorInvalidResourceHandle = 400
    cudaErrorNotReady = 600
    cudaErrorIllegalAddress = 700


class cudaMemcpyKind(IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3
    cudaMemcpyDefault = 4


class _Handle:
    def __init__(self, init_value: int = 0):
        self._value = int(init_value)

    def __int__(self) -> int:
        return self._value

    def getPtr(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._value:#x}>"


class cudaStream_t(_Handle):
    pass


class cudaEvent_t(_Handle):
    pass


class cudaDeviceProp:
    def __init__(self, device: gpu.FakeDevice):
        self.name = device.name.encode()  # a char[256] field: bytes
        self.major, self.minor = device.compute_capability
        self.totalGlobalMem = device.total_memory


_SUCCESS = cudaError_t.cudaSuccess
_events: dict[int, gpu.Event] = {}
# Simulates a machine whose NVIDIA driver is too old for this cuda-bindings (or missing).
driver_too_old = False


def reset() -> None:
    global driver_too_old
    driver_too_old = False
    _events.clear()


def _size(value: Any) -> int:
    if not isinstance(value, int):
        raise TypeError(f"an integer is required (size_t), got {type(value).__name__}")
    if value < 0:
        raise OverflowError("can't convert negative value to size_t")
    return value


def _void_ptr(value: Any) -> int:
    """``_HelperInputVoidPtr``: an int, None (NULL) or the address of a buffer."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    try:
        return np.frombuffer(memoryview(value).cast("B"), np.uint8).ctypes.data
    except TypeError:
        raise TypeError(
            f"Provided argument is of type {type(value)} but expected Type None, int or object with "
            "Buffer Protocol"
        ) from None


def _stream(value: Any) -> gpu.Stream | cudaError_t | None:
    handle = (
        0 if value is None else int(value if isinstance(value, (cudaStream_t, int)) else cudaStream_t(value))
    )
    if handle == 0:
        return None  # the legacy default stream
    return gpu.STATE.streams.get(handle, cudaError_t.cudaErrorInvalidResourceHandle)


def _no_driver() -> cudaError_t | None:
    if driver_too_old:
        return cudaError_t.cudaErrorInsufficientDriver
    if not gpu.STATE.devices:
        return cudaError_t.cudaErrorNoDevice
    return None


# -- device management -----------------------------------------------------------------------------


def cudaGetDeviceCount():
    error = _no_driver()
    if error is not None:
        return (error, None)
    return (_SUCCESS, len(gpu.STATE.devices))


def cudaGetDeviceProperties(device: int):
    error = _no_driver()
    if error is not None:
        return (error, None)
    if not 0 <= device < len(gpu.STATE.devices):
        return (cudaError_t.cudaErrorInvalidDevice, None)
    return (_SUCCESS, cudaDeviceProp(gpu.STATE.devices[device]))


def cudaSetDevice(device: int):
    if not isinstance(device, int):
        raise TypeError(f"an integer is required, got {type(device).__name__}")
    error = _no_driver()
    if error is not None:
        return (error,)
    if not 0 <= device < len(gpu.STATE.devices):
        return (cudaError_t.cudaErrorInvalidDevice,)
    gpu.set_device(device)
    return (_SUCCESS,)


def cudaGetDevice():
    return (_SUCCESS, gpu.current_device() or 0)


def cudaGetErrorName(error: cudaError_t):
    return (_SUCCESS, cudaError_t(error).name.encode())


def cudaRuntimeGetVersion():
    return (_SUCCESS, 12090)


def cudaDriverGetVersion():
    return (_SUCCESS, 12090)


# -- streams and events ----------------------------------------------------------------------------


def cudaStreamCreate():
    stream = gpu.create_stream(gpu.runtime_device())
    return (_SUCCESS, cudaStream_t(stream.handle))


def cudaStreamSynchronize(stream):
    resolved = _stream(stream)
    if isinstance(resolved, cudaError_t):
        return (resolved,)
    if resolved is not None:
        resolved.synchronize()
    return (_SUCCESS,)


def cudaStreamDestroy(stream):
    resolved = _stream(stream)
    if isinstance(resolved, cudaError_t) or resolved is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    gpu.STATE.streams.pop(resolved.handle)
    return (_SUCCESS,)


def cudaEventCreateWithFlags(flags: int):
    handle = gpu.new_handle()
    _events[handle] = gpu.Event(gpu.runtime_device())
    return (_SUCCESS, cudaEvent_t(handle))


def _event(value: Any) -> gpu.Event | None:
    return _events.get(int(value if isinstance(value, (cudaEvent_t, int)) else cudaEvent_t(value)))


def cudaEventRecord(event, stream):
    resolved_event, resolved_stream = _event(event), _stream(stream)
    if resolved_event is None or isinstance(resolved_stream, cudaError_t):
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    if resolved_stream is None:
        return (_SUCCESS,)  # the legacy stream runs synchronously here: nothing to wait for
    if resolved_stream.device != resolved_event.device:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)  # "must be on the same CUDA context"
    resolved_event.record(resolved_stream)
    return (_SUCCESS,)


def cudaEventSynchronize(event):
    resolved = _event(event)
    if resolved is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    resolved.synchronize()
    return (_SUCCESS,)


def cudaEventQuery(event):
    resolved = _event(event)
    if resolved is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    return (_SUCCESS,) if resolved.query() else (cudaError_t.cudaErrorNotReady,)


# -- memory ----------------------------------------------------------------------------------------


def cudaMalloc(size):
    pointer = gpu.alloc(_size(size), gpu.runtime_device())
    if pointer is None:
        return (cudaError_t.cudaErrorMemoryAllocation, None)
    return (_SUCCESS, pointer)


def cudaFree(devPtr):
    pointer = _void_ptr(devPtr)
    if pointer == 0:
        return (_SUCCESS,)  # "If devPtr is 0, no operation is performed."
    gpu.runtime_device()
    return (_SUCCESS,) if gpu.free(pointer) else (cudaError_t.cudaErrorInvalidValue,)


def cudaMallocHost(size):
    nbytes = _size(size)
    gpu.runtime_device()
    block = np.zeros(max(nbytes, 1), np.uint8)
    gpu.register_pinned(block.ctypes.data, nbytes, block)
    return (_SUCCESS, block.ctypes.data)


def cudaFreeHost(ptr):
    return (_SUCCESS,) if gpu.unregister_pinned(_void_ptr(ptr)) else (cudaError_t.cudaErrorInvalidValue,)


def cudaMemcpyAsync(dst, src, count, kind, stream):
    resolved = _stream(stream)
    target, source, nbytes = _void_ptr(dst), _void_ptr(src), _size(count)
    kind_value = kind.value  # as the binding does: a plain int has no .value
    if isinstance(resolved, cudaError_t):
        return (resolved,)
    device = gpu.runtime_device()
    if resolved is not None and resolved.device != device:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)  # stricter than CUDA, see the docstring
    if kind_value == cudaMemcpyKind.cudaMemcpyHostToDevice:
        if not gpu.is_device_pointer(target, nbytes):
            return (cudaError_t.cudaErrorInvalidValue,)
        gpu.copy_to_device(target, source, nbytes, resolved)
    elif kind_value == cudaMemcpyKind.cudaMemcpyDeviceToHost:
        if not gpu.is_device_pointer(source, nbytes):
            return (cudaError_t.cudaErrorInvalidValue,)
        gpu.copy_to_host(target, source, nbytes, resolved)
    elif kind_value == cudaMemcpyKind.cudaMemcpyDeviceToDevice:
        if not (gpu.is_device_pointer(source, nbytes) and gpu.is_device_pointer(target, nbytes)):
            return (cudaError_t.cudaErrorInvalidValue,)
        gpu.copy_device_to_device(target, source, nbytes, resolved)
    else:
        return (cudaError_t.cudaErrorInvalidValue,)  # host-to-host and Default: not modelled
    return (_SUCCESS,)
