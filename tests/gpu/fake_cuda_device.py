"""The simulated NVIDIA GPU and driver behind the CUDA stand-ins (``fake_pycuda``,
``fake_cuda_bindings``) and ``fake_tensorrt``: one model of CUDA that both Python bindings expose.

What it models, as CUDA documents it (the cuda-bindings docstrings in NVIDIA/cuda-python
``cuda_bindings/cuda/bindings/runtime.pyx.in`` quote the CUDA runtime reference):

* Device memory is separate from host memory: an allocation is a private buffer at a fake
  pointer; it is read or written only by copies (and by the fake engines), and a pointer outside
  every live allocation is an error. Host memory is real: copies read and write host addresses.
* Contexts are per host thread, on a stack (driver API, what pycuda pushes and pops).
  ``cudaSetDevice`` "will bind the primary context of the specified device to the calling thread"
  (it replaces the top of the stack), and a runtime call on a thread with no current context
  selects the primary context of the current device — device 0 unless ``cudaSetDevice`` said
  otherwise — "made current to the calling thread, and initialized" (``cudaStreamCreate``).
* Work on a stream is asynchronous: copies and kernels are queued and run only when the stream,
  or an event recorded on it, is synchronized; so reading a pinned output before synchronizing, or
  rewriting a pinned input before its upload ran, gives wrong data here as on a GPU. An event
  never recorded "represents an empty set of work" (``cudaEventRecord``) and is complete.
* Pageable host memory in an asynchronous copy (CUDA's "API synchronization behavior"): host to
  device is staged at once (the data is read during the call), device to host returns only once
  the copy is complete. Both are counted in ``pageable_async_copies``: our code should not do it.

``STATE.calls`` records what happened: ``("alloc", nbytes, device)``, ``("free", pointer,
device)``, ``("push"|"pop"|"set_device", device, thread id)``, ``("enqueue", kind, pointer, nbytes)``
and ``("executed", kind, ...)`` for stream work.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


class DeviceFault(Exception):
    """Device memory used out of bounds or after free (CUDA: an illegal address, sticky)."""


@dataclass
class FakeDevice:
    name: str = "NVIDIA GeForce RTX 3060"
    compute_capability: tuple[int, int] = (8, 6)
    total_memory: int = 12 << 30


@dataclass
class Stream:
    handle: int
    device: int
    queue: list = field(default_factory=list)
    executed: int = 0  # ops run so far (queue index)

    def enqueue(self, label: tuple, operation: Callable[[], None]) -> int:
        STATE.calls.append(("enqueue", *label))
        self.queue.append((label, operation))
        return len(self.queue)

    def run_until(self, index: int) -> None:
        while self.executed < min(index, len(self.queue)):
            label, operation = self.queue[self.executed]
            operation()
            STATE.calls.append(("executed", *label))
            self.executed += 1

    def synchronize(self) -> None:
        self.run_until(len(self.queue))


@dataclass
class Event:
    device: int
    stream: Stream | None = None
    position: int = 0

    def record(self, stream: Stream) -> None:
        self.stream, self.position = stream, len(stream.queue)

    def synchronize(self) -> None:
        if self.stream is not None:
            self.stream.run_until(self.position)

    def query(self) -> bool:
        return self.stream is None or self.stream.executed >= self.position


@dataclass
class _State:
    devices: list[FakeDevice] = field(default_factory=lambda: [FakeDevice()])
    heap: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)  # pointer -> (bytes, device)
    next_pointer: int = 0x7F00_0000_0000
    pinned: dict[int, tuple[int, object]] = field(default_factory=dict)  # address -> (size, owner)
    freed_pinned: list = field(default_factory=list)  # kept alive: queued copies may still read them
    streams: dict[int, Stream] = field(default_factory=dict)
    next_handle: int = 0x5000
    calls: list[tuple] = field(default_factory=list)
    allocations: int = 0
    pageable_async_copies: int = 0
    initialized: bool = False  # cuInit was called (pycuda's init())
    local: threading.local = field(default_factory=threading.local)

    def context_stack(self) -> list[int]:
        """The calling thread's context stack, as device indices (primary contexts only)."""
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack

    def used_memory(self, device: int) -> int:
        return sum(buffer.nbytes for buffer, owner in self.heap.values() if owner == device)


STATE = _State()


def reset(devices: list[FakeDevice] | None = None) -> _State:
    global STATE
    STATE = _State(devices=devices if devices is not None else [FakeDevice()])
    return STATE


def new_handle() -> int:
    STATE.next_handle += 1
    return STATE.next_handle


# -- contexts --------------------------------------------------------------------------------------


def current_device() -> int | None:
    """The device of the context current on this thread, or None (the driver API's view)."""
    stack = STATE.context_stack()
    return stack[-1] if stack else None


def runtime_device() -> int:
    """The device a CUDA runtime call works on: the current context's, else device 0's primary
    context, which the call makes current (implicit initialisation)."""
    stack = STATE.context_stack()
    if not stack:
        stack.append(0)
        STATE.calls.append(("set_device", 0, threading.get_ident()))
    return stack[-1]


def push(device: int) -> None:
    STATE.context_stack().append(device)
    STATE.calls.append(("push", device, threading.get_ident()))


def pop() -> int | None:
    stack = STATE.context_stack()
    if not stack:
        return None
    STATE.calls.append(("pop", stack[-1], threading.get_ident()))
    return stack.pop()


def set_device(device: int) -> None:
    stack = STATE.context_stack()
    if stack:
        stack[-1] = device
    else:
        stack.append(device)
    STATE.calls.append(("set_device", device, threading.get_ident()))


# -- memory ----------------------------------------------------------------------------------------


def alloc(nbytes: int, device: int) -> int | None:
    """A device pointer, or None when the device has not that much free memory."""
    if STATE.used_memory(device) + nbytes > STATE.devices[device].total_memory:
        return None
    pointer = STATE.next_pointer
    STATE.next_pointer += (nbytes + 255) // 256 * 256 + 256
    STATE.heap[pointer] = (np.zeros(nbytes, np.uint8), device)
    STATE.allocations += 1
    STATE.calls.append(("alloc", nbytes, device))
    return pointer


def free(pointer: int) -> bool:
    entry = STATE.heap.pop(pointer, None)
    if entry is None:
        return False
    STATE.calls.append(("free", pointer, entry[1]))
    return True


def device_view(pointer: int, nbytes: int) -> np.ndarray:
    """The bytes at a device pointer (for the fake engines and for tests)."""
    for base, (buffer, _device) in STATE.heap.items():
        if base <= pointer < base + buffer.nbytes:
            offset = pointer - base
            if offset + nbytes > buffer.nbytes:
                raise DeviceFault(f"device access out of bounds at {pointer:#x} (+{nbytes} bytes)")
            return buffer[offset : offset + nbytes]
    raise DeviceFault(f"invalid device pointer {pointer:#x} (never allocated or freed)")


def is_device_pointer(pointer: int, nbytes: int) -> bool:
    try:
        device_view(pointer, nbytes)
    except DeviceFault:
        return False
    return True


def register_pinned(address: int, size: int, owner: object) -> None:
    STATE.pinned[address] = (size, owner)


def unregister_pinned(address: int) -> bool:
    entry = STATE.pinned.pop(address, None)
    if entry is None:
        return False
    STATE.freed_pinned.append(entry[1])
    return True


def is_pinned(address: int, nbytes: int) -> bool:
    return any(
        base <= address and address + nbytes <= base + size for base, (size, _) in STATE.pinned.items()
    )


def read_host(address: int, nbytes: int) -> bytes:
    return ctypes.string_at(address, nbytes)


def write_host(address: int, data: np.ndarray) -> None:
    ctypes.memmove(address, data.ctypes.data, data.nbytes)


# -- streams and copies ----------------------------------------------------------------------------


def create_stream(device: int) -> Stream:
    stream = Stream(new_handle(), device)
    STATE.streams[stream.handle] = stream
    return stream


def submit(stream: Stream | None, label: tuple, operation: Callable[[], None]) -> None:
    if stream is None:  # the legacy default stream: synchronous here
        operation()
        STATE.calls.append(("executed", *label))
    else:
        stream.enqueue(label, operation)


def copy_to_device(pointer: int, host_address: int, nbytes: int, stream: Stream | None) -> None:
    """Queue a host-to-device copy (pageable memory is read at once: CUDA stages it)."""
    if is_pinned(host_address, nbytes):

        def copy() -> None:
            device_view(pointer, nbytes)[:] = np.frombuffer(read_host(host_address, nbytes), np.uint8)

    else:
        STATE.pageable_async_copies += 1
        staged = np.frombuffer(read_host(host_address, nbytes), np.uint8)

        def copy() -> None:
            device_view(pointer, nbytes)[:] = staged

    submit(stream, ("htod", pointer, nbytes), copy)


def copy_to_host(host_address: int, pointer: int, nbytes: int, stream: Stream | None) -> None:
    """Queue a device-to-host copy (to pageable memory it completes before returning)."""

    def copy() -> None:
        write_host(host_address, device_view(pointer, nbytes))

    submit(stream, ("dtoh", pointer, nbytes), copy)
    if stream is not None and not is_pinned(host_address, nbytes):
        STATE.pageable_async_copies += 1
        stream.synchronize()


def copy_device_to_device(target: int, source: int, nbytes: int, stream: Stream | None) -> None:
    def copy() -> None:
        device_view(target, nbytes)[:] = device_view(source, nbytes)

    submit(stream, ("dtod", target, nbytes), copy)
