"""A stand-in for ``pycuda.driver`` (the part the TensorRT backend uses), for machines without a GPU.

A facade over the simulated GPU in ``tests/gpu/fake_cuda_device.py`` (device memory apart from
host memory, asynchronous streams, per-thread contexts). What is pycuda's own, after its
documentation (documen.tician.de/pycuda/driver.html) and source (inducer/pycuda ``src/cpp/cuda.hpp``):

- every call that needs a CUDA context raises ``LogicError`` when none is current on the calling
  thread; ``Device.retain_primary_context()`` gives the primary context, ``push()``/``Context.pop()``
  make it current and not;
- ``mem_alloc`` returns a ``DeviceAllocation`` whose ``int()`` is the device pointer; the memory is
  freed by ``free()`` or when the object is garbage collected;
- ``pagelocked_empty`` returns a numpy array in page-locked memory (the stand-in keeps it
  registered until ``reset``, so its address is never mistaken for pageable memory);
- ``Stream().handle`` is the raw stream; ``Event(flags)`` with ``event_flags.DISABLE_TIMING``.

``STATE`` (the simulated GPU's state) records what happened.
"""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import numpy as np

from tests.gpu import fake_cuda_device as gpu
from tests.gpu.fake_cuda_device import FakeDevice

VERSION_TEXT = "2025.1"
event_flags = SimpleNamespace(DEFAULT=0, BLOCKING_SYNC=1, DISABLE_TIMING=2, INTERPROCESS=4)


class Error(Exception):
    pass


class LogicError(Error):
    pass


def __getattr__(name: str):
    if name == "STATE":  # always the current simulated GPU (reset() replaces it)
        return gpu.STATE
    raise AttributeError(name)


def reset(devices: list[FakeDevice] | None = None) -> gpu._State:
    return gpu.reset(devices)


def device_view(pointer: int, nbytes: int) -> np.ndarray:
    return gpu.device_view(pointer, nbytes)


def _require_context(what: str) -> int:
    device = gpu.current_device()
    if device is None:
        raise LogicError(f"{what} failed: invalid device context (no context current on this thread)")
    return device


def init(flags: int = 0) -> None:
    if not gpu.STATE.devices:
        raise Error("cuInit failed: no CUDA-capable device is detected")
    gpu.STATE.initialized = True


def _require_init(what: str) -> None:
    if not gpu.STATE.initialized:
        raise LogicError(f"{what} failed: not initialized")


class Device:
    def __init__(self, index: int):
        _require_init("cuDeviceGet")
        if not 0 <= index < len(gpu.STATE.devices):
            raise LogicError("cuDeviceGet failed: invalid device ordinal")
        self.index = index

    @staticmethod
    def count() -> int:
        _require_init("cuDeviceGetCount")
        return len(gpu.STATE.devices)

    def name(self) -> str:
        return gpu.STATE.devices[self.index].name

    def compute_capability(self) -> tuple[int, int]:
        return gpu.STATE.devices[self.index].compute_capability

    def total_memory(self) -> int:
        return gpu.STATE.devices[self.index].total_memory

    def retain_primary_context(self) -> Context:
        return Context(self.index)


class Context:
    def __init__(self, device_index: int):
        self.device_index = device_index

    def push(self) -> None:
        gpu.push(self.device_index)

    @staticmethod
    def pop() -> None:
        if gpu.pop() is None:
            raise LogicError("cuCtxPopCurrent failed: invalid context")

    @staticmethod
    def synchronize() -> None:
        device = _require_context("cuCtxSynchronize")
        for stream in gpu.STATE.streams.values():
            if stream.device == device:
                stream.synchronize()


class DeviceAllocation:
    def __init__(self, pointer: int, nbytes: int, device_index: int):
        self.pointer, self.nbytes, self.device_index = pointer, nbytes, device_index
        # pycuda frees the memory when the object is collected (in its own context).
        self._finalizer = weakref.finalize(self, gpu.free, pointer)

    def __int__(self) -> int:
        return self.pointer

    __index__ = __int__

    def free(self) -> None:
        self._finalizer()


def mem_alloc(nbytes: int) -> DeviceAllocation:
    device = _require_context("cuMemAlloc")
    pointer = gpu.alloc(nbytes, device)
    if pointer is None:
        raise Error("cuMemAlloc failed: out of memory")
    return DeviceAllocation(pointer, nbytes, device)


def pagelocked_empty(shape, dtype) -> np.ndarray:
    _require_context("cuMemHostAlloc")
    array = np.empty(shape, dtype)
    gpu.register_pinned(array.ctypes.data, array.nbytes, array)
    return array


class Stream:
    def __init__(self, flags: int = 0):
        self._stream = gpu.create_stream(_require_context("cuStreamCreate"))
        self.handle = self._stream.handle

    def synchronize(self) -> None:
        _require_context("cuStreamSynchronize")
        self._stream.synchronize()

    def is_done(self) -> bool:
        return self._stream.executed == len(self._stream.queue)


class Event:
    def __init__(self, flags: int = 0):
        self._event = gpu.Event(_require_context("cuEventCreate"))
        self.flags = flags

    def record(self, stream: Stream | None = None) -> Event:
        _require_context("cuEventRecord")
        if stream is not None:
            self._event.record(stream._stream)
        return self

    def synchronize(self) -> Event:
        _require_context("cuEventSynchronize")
        self._event.synchronize()
        return self

    def query(self) -> bool:
        return self._event.query()


def _stream_of(stream: Stream | None) -> gpu.Stream | None:
    return None if stream is None else stream._stream


def memcpy_htod_async(dest, src: np.ndarray, stream: Stream | None = None) -> None:
    _require_context("cuMemcpyHtoDAsync")
    gpu.copy_to_device(int(dest), src.ctypes.data, src.nbytes, _stream_of(stream))


def memcpy_dtoh_async(dest: np.ndarray, src, stream: Stream | None = None) -> None:
    _require_context("cuMemcpyDtoHAsync")
    gpu.copy_to_host(dest.ctypes.data, int(src), dest.nbytes, _stream_of(stream))


def memcpy_dtod_async(dest, src, size: int, stream: Stream | None = None) -> None:
    _require_context("cuMemcpyDtoDAsync")
    gpu.copy_device_to_device(int(dest), int(src), size, _stream_of(stream))
