"""A stand-in for ``pycuda.driver`` (the part the TensorRT backend uses), for machines without a GPU.

Faithful where our code could go wrong:
- device memory is separate from host memory: ``mem_alloc`` returns an allocation whose integer
  value is a pointer into a private heap; reading or writing it needs the memcpy functions;
  out-of-bounds or freed pointers raise;
- work on a ``Stream`` is asynchronous: copies and kernels are queued and run only when the
  stream (or an event recorded on it) is synchronized, so reading a pinned output before
  synchronizing, or overwriting a pinned input before its upload ran, gives wrong data here too;
- every call that needs a CUDA context raises ``LogicError`` when none is current on the
  calling thread (contexts are per thread, as in CUDA).
``STATE`` records what happened (allocations, copies, pageable async copies, call order).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


class Error(Exception):
    pass


class LogicError(Error):
    pass


@dataclass
class FakeDevice:
    name: str = "NVIDIA GeForce RTX 3060"
    compute_capability: tuple[int, int] = (8, 6)
    total_memory: int = 12 << 30


@dataclass
class _State:
    devices: list[FakeDevice] = field(default_factory=lambda: [FakeDevice()])
    heap: dict[int, np.ndarray] = field(default_factory=dict)
    next_pointer: int = 0x7F00_0000_0000
    pinned: list[tuple[int, int]] = field(default_factory=list)
    streams: dict[int, Stream] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    allocations: int = 0
    pageable_async_copies: int = 0
    initialized: bool = False
    local: threading.local = field(default_factory=threading.local)

    def context_stack(self) -> list:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack


STATE = _State()


def reset(devices: list[FakeDevice] | None = None) -> _State:
    global STATE
    STATE = _State(devices=devices if devices is not None else [FakeDevice()])
    return STATE


def _require_context(what: str) -> Context:
    stack = STATE.context_stack()
    if not stack:
        raise LogicError(f"{what} failed: invalid device context (no context current on this thread)")
    return stack[-1]


def init(flags: int = 0) -> None:
    if not STATE.devices:
        raise Error("cuInit failed: no CUDA-capable device is detected")
    STATE.initialized = True


class Device:
    def __init__(self, index: int):
        if not STATE.initialized:
            raise LogicError("cuDeviceGet failed: not initialized")
        if not 0 <= index < len(STATE.devices):
            raise LogicError("cuDeviceGet failed: invalid device ordinal")
        self.index = index

    @staticmethod
    def count() -> int:
        if not STATE.initialized:
            raise LogicError("cuDeviceGetCount failed: not initialized")
        return len(STATE.devices)

    def name(self) -> str:
        return STATE.devices[self.index].name

    def compute_capability(self) -> tuple[int, int]:
        return STATE.devices[self.index].compute_capability

    def total_memory(self) -> int:
        return STATE.devices[self.index].total_memory

    def retain_primary_context(self) -> Context:
        return Context(self.index)

    def make_context(self) -> Context:
        context = Context(self.index)
        context.push()
        return context


class Context:
    def __init__(self, device_index: int):
        self.device_index = device_index

    def push(self) -> None:
        STATE.context_stack().append(self)
        STATE.calls.append(("push", self.device_index, threading.get_ident()))

    @staticmethod
    def pop() -> Context:
        stack = STATE.context_stack()
        if not stack:
            raise LogicError("cuCtxPopCurrent failed: invalid context")
        STATE.calls.append(("pop", stack[-1].device_index, threading.get_ident()))
        return stack.pop()

    @staticmethod
    def get_current() -> Context | None:
        stack = STATE.context_stack()
        return stack[-1] if stack else None

    @staticmethod
    def synchronize() -> None:
        _require_context("cuCtxSynchronize")
        for stream in STATE.streams.values():
            stream.synchronize()


class DeviceAllocation:
    def __init__(self, pointer: int, nbytes: int, device_index: int):
        self.pointer, self.nbytes, self.device_index = pointer, nbytes, device_index

    def __int__(self) -> int:
        return self.pointer

    __index__ = __int__

    def free(self) -> None:
        _require_context("cuMemFree")
        STATE.heap.pop(self.pointer, None)


def mem_alloc(nbytes: int) -> DeviceAllocation:
    context = _require_context("cuMemAlloc")
    pointer = STATE.next_pointer
    STATE.next_pointer += (nbytes + 255) // 256 * 256 + 256
    STATE.heap[pointer] = np.zeros(nbytes, np.uint8)
    STATE.allocations += 1
    STATE.calls.append(("mem_alloc", nbytes, context.device_index))
    return DeviceAllocation(pointer, nbytes, context.device_index)


def device_view(pointer: int, nbytes: int) -> np.ndarray:
    """The bytes at a device pointer (for the fake TensorRT and for tests)."""
    for base, buffer in STATE.heap.items():
        if base <= pointer < base + buffer.nbytes:
            offset = pointer - base
            if offset + nbytes > buffer.nbytes:
                raise LogicError(f"device access out of bounds at {pointer:#x} (+{nbytes} bytes)")
            return buffer[offset : offset + nbytes]
    raise LogicError(f"invalid device pointer {pointer:#x} (never allocated or freed)")


def pagelocked_empty(shape, dtype) -> np.ndarray:
    _require_context("cuMemHostAlloc")
    array = np.empty(shape, dtype)
    STATE.pinned.append((array.ctypes.data, array.nbytes))
    return array


def _is_pinned(array: np.ndarray) -> bool:
    address = array.ctypes.data
    return any(base <= address and address + array.nbytes <= base + size for base, size in STATE.pinned)


class Stream:
    def __init__(self, flags: int = 0):
        _require_context("cuStreamCreate")
        self.handle = 0x5000 + len(STATE.streams) + 1
        self.queue: list = []
        self.executed = 0  # ops run so far (queue index)
        STATE.streams[self.handle] = self

    def enqueue(self, label: tuple, operation) -> None:
        STATE.calls.append(("enqueue", *label))
        self.queue.append((label, operation))

    def run_until(self, index: int) -> None:
        while self.executed < min(index, len(self.queue)):
            label, operation = self.queue[self.executed]
            operation()
            STATE.calls.append(("executed", *label))
            self.executed += 1

    def synchronize(self) -> None:
        _require_context("cuStreamSynchronize")
        self.run_until(len(self.queue))

    def is_done(self) -> bool:
        return self.executed == len(self.queue)


class Event:
    def __init__(self, flags: int = 0):
        _require_context("cuEventCreate")
        self.stream: Stream | None = None
        self.position = 0

    def record(self, stream: Stream | None = None) -> Event:
        _require_context("cuEventRecord")
        self.stream, self.position = stream, len(stream.queue) if stream else 0
        return self

    def synchronize(self) -> Event:
        _require_context("cuEventSynchronize")
        if self.stream is not None:  # an event never recorded is complete
            self.stream.run_until(self.position)
        return self

    def query(self) -> bool:
        return self.stream is None or self.stream.executed >= self.position


def _submit(stream: Stream | None, label: tuple, operation) -> None:
    if stream is None:
        operation()  # the legacy default stream: synchronous here
        STATE.calls.append(("executed", *label))
    else:
        stream.enqueue(label, operation)


def memcpy_htod_async(dest, src: np.ndarray, stream: Stream | None = None) -> None:
    _require_context("cuMemcpyHtoDAsync")
    if not _is_pinned(src):
        STATE.pageable_async_copies += 1
    pointer, nbytes = int(dest), src.nbytes

    def copy():
        device_view(pointer, nbytes)[:] = np.frombuffer(np.ascontiguousarray(src).tobytes(), np.uint8)

    _submit(stream, ("htod", pointer, nbytes), copy)


def memcpy_dtoh_async(dest: np.ndarray, src, stream: Stream | None = None) -> None:
    _require_context("cuMemcpyDtoHAsync")
    if not _is_pinned(dest):
        STATE.pageable_async_copies += 1
    pointer, nbytes = int(src), dest.nbytes

    def copy():
        dest.reshape(-1).view(np.uint8)[:] = device_view(pointer, nbytes)

    _submit(stream, ("dtoh", pointer, nbytes), copy)


def memcpy_dtod_async(dest, src, size: int, stream: Stream | None = None) -> None:
    _require_context("cuMemcpyDtoDAsync")
    target, source = int(dest), int(src)

    def copy():
        device_view(target, size)[:] = device_view(source, size)

    _submit(stream, ("dtod", target, size), copy)
