"""GPU memory, streams, events and copies for the TensorRT backend, behind one small interface.

Two Python bindings of CUDA can provide them:

* **cuda-bindings** (NVIDIA, ``from cuda.bindings import runtime``): binary wheels for Windows and
  Linux, used by NVIDIA's own TensorRT Python samples. Preferred.
* **pycuda**: source distributions only (building needs the CUDA Toolkit and a C++ compiler), but
  environments of older tools (EasyVtuber) already have it, so it keeps working there.

:func:`load_cuda_binding` picks one from :data:`BINDINGS` (in that order, or the one named by the
``cuda_binding`` argument or the ``EZVTB_CUDA_BINDING`` environment variable) and says why when
none can be imported. Both implement :class:`CudaBinding` / :class:`CudaDevice`; the backend never
touches either library directly.

The two libraries differ in ways this module hides:

* cuda-bindings returns every result as a tuple ``(cudaError_t, value...)`` instead of raising;
  :func:`_check` turns a failed call into :class:`CudaError` naming the call and the CUDA error.
  Pointers are plain ``int``; streams and events are handle objects (``int()`` gives the handle).
* pycuda raises ``pycuda.driver.Error`` and frees memory when its objects are garbage collected;
  with cuda-bindings nothing is freed unless ``cudaFree``/``cudaFreeHost`` is called, so our
  buffers free themselves through :func:`weakref.finalize` (or ``free()``).
* pycuda needs a context pushed on the calling thread; the CUDA runtime binds a device's primary
  context to the calling thread with ``cudaSetDevice``. :meth:`CudaDevice.current` does whichever
  applies; every other method of a device must be called inside it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

import numpy as np

from ezvtb_node.install_hints import pip_install

log = logging.getLogger(__name__)

#: Environment variable that forces one binding: ``cuda-bindings``, ``pycuda`` or ``auto``.
ENV_VAR = "EZVTB_CUDA_BINDING"
#: The bindings in order of preference.
BINDINGS = ("cuda-bindings", "pycuda")
INSTALL_HINT = f"{pip_install('cuda-bindings')} (binary wheels for Windows and Linux)"


class CudaError(RuntimeError):
    """A CUDA call failed; the message names the call and CUDA's error."""


class CudaBindingUnavailable(RuntimeError):
    """No usable CUDA binding for Python is installed (or the one asked for is not)."""


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    compute_capability: tuple[int, int]
    total_memory: int

    @property
    def cc(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"


class DeviceBuffer:
    """``nbytes`` of device memory at ``ptr``. Freed by ``free()`` or when garbage collected."""

    def __init__(self, ptr: int, nbytes: int, release: Callable[[], None], owner: Any = None):
        self.ptr = int(ptr)
        self.nbytes = nbytes
        self._owner = owner  # pycuda's allocation object, kept alive as long as we are
        self._finalizer = weakref.finalize(self, release)
        # At interpreter exit the driver frees everything; a CUDA call then may fail or hang.
        self._finalizer.atexit = False

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        """Free now (idempotent); the pointer must not be used afterwards."""
        self._finalizer()


class CudaStream(Protocol):
    handle: int  # the raw cudaStream_t, as TensorRT's execute_async_v3 takes it

    def synchronize(self) -> None: ...


class CudaEvent(Protocol):
    def record(self, stream: CudaStream) -> None: ...

    def synchronize(self) -> None: ...


class CudaDevice(Protocol):
    """One GPU. Call every method except :meth:`current` inside ``with device.current():``."""

    info: GpuInfo

    def current(self) -> AbstractContextManager[None]:
        """Make this GPU's primary context current on the calling thread for the block."""
        ...

    def stream(self) -> CudaStream: ...

    def event(self) -> CudaEvent:
        """An event without timing (cheaper); never recorded, it counts as complete."""
        ...

    def alloc(self, nbytes: int) -> DeviceBuffer: ...

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A page-locked host array (asynchronous copies need one); freed with the array."""
        ...

    def upload(self, dst: int, src: np.ndarray, stream: CudaStream) -> None:
        """Queue a copy of the C-contiguous ``src`` to device address ``dst`` on ``stream``."""
        ...

    def download(self, dst: np.ndarray, src: int, stream: CudaStream) -> None:
        """Queue a copy from device address ``src`` into the C-contiguous ``dst`` on ``stream``."""
        ...

    def copy(self, dst: int, src: int, nbytes: int, stream: CudaStream) -> None:
        """Queue a copy of ``nbytes`` from device address ``src`` to device address ``dst``."""
        ...


class CudaBinding(Protocol):
    name: str
    version: str

    def device_count(self) -> int:
        """GPUs the driver reports; CudaError when the driver is missing or unusable."""
        ...

    def device_info(self, index: int) -> GpuInfo: ...

    def open(self, index: int) -> CudaDevice: ...


# -- choosing a binding ------------------------------------------------------------------------------


def load_cuda_binding(choice: str | None = None) -> CudaBinding:
    """The binding named by ``choice`` (or ``EZVTB_CUDA_BINDING``; default ``auto``: the first of
    :data:`BINDINGS` that imports). Raises CudaBindingUnavailable saying what to install, and
    ValueError for a name that is not a binding."""
    wanted = (choice or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if wanted not in ("auto", *BINDINGS):
        source = "cuda_binding" if choice else ENV_VAR
        raise ValueError(f"{source} must be one of auto, {', '.join(BINDINGS)}; got {wanted!r}")
    names = BINDINGS if wanted == "auto" else (wanted,)
    reasons = []
    for name in names:
        try:
            binding = _LOADERS[name]()
        except Exception as exc:  # a broken install raises anything from ImportError to OSError
            reasons.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if reasons:
            log.info("CUDA binding: %s is used because %s", name, "; ".join(reasons))
        return binding
    if wanted == "auto":
        raise CudaBindingUnavailable(
            f"no CUDA binding for Python is installed: {INSTALL_HINT}; pycuda also works where it is "
            f"already installed ({'; '.join(reasons)})"
        )
    raise CudaBindingUnavailable(
        f"{wanted} was asked for ({ENV_VAR} or cuda_binding) but is not importable ({reasons[0]}); "
        f"{INSTALL_HINT}, or unset {ENV_VAR}"
    )


def describe_cuda_bindings() -> list[tuple[str, str | None, str | None]]:
    """(name, version or None, why it is not usable or None) per binding, importing only: no CUDA
    call is made. For ``ezvtb-node doctor``."""
    found: list[tuple[str, str | None, str | None]] = []
    for name in BINDINGS:
        try:
            binding = _LOADERS[name]()
        except Exception as exc:
            found.append((name, None, f"{type(exc).__name__}: {exc}"))
        else:
            found.append((name, binding.version, None))
    return found


def _version(module_version: object, distribution: str) -> str:
    """The imported module's own version (what runs), else the installed distribution's."""
    if module_version:
        return str(module_version)
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "version unknown"


# -- cuda-bindings -----------------------------------------------------------------------------------


def _check(runtime: Any, call: str, result: tuple) -> Any:
    """The value(s) of a cuda-bindings result ``(cudaError_t, value...)``; CudaError on failure."""
    err, values = result[0], result[1:]
    if err != runtime.cudaError_t.cudaSuccess:
        raise CudaError(f"{call} failed: {_error_name(runtime, err)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _error_name(runtime: Any, err: Any) -> str:
    try:
        status, name = runtime.cudaGetErrorName(err)
        if status == runtime.cudaError_t.cudaSuccess and name:
            return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # naming the error must never hide it
        pass
    return getattr(err, "name", None) or f"CUDA error {int(err)}"


class _CudaBindings:
    name = "cuda-bindings"

    def __init__(self, runtime: Any, version: str):
        self.runtime = runtime
        self.version = version

    @classmethod
    def load(cls) -> _CudaBindings:
        import cuda.bindings
        from cuda.bindings import runtime

        return cls(runtime, _version(getattr(cuda.bindings, "__version__", None), "cuda-bindings"))

    def _call(self, call: str, function: str, *args: Any) -> Any:
        try:
            result = getattr(self.runtime, function)(*args)
        except RuntimeError as exc:  # cuda-bindings raises when it cannot load the driver library
            raise CudaError(f"{call} failed: {exc}") from exc
        return _check(self.runtime, call, result)

    def device_count(self) -> int:
        try:
            return int(self._call("cudaGetDeviceCount", "cudaGetDeviceCount"))
        except CudaError as exc:
            if "InsufficientDriver" in str(exc):
                raise CudaError(
                    f"{exc}: the NVIDIA driver is older than cuda-bindings {self.version} needs; update "
                    "the driver, or install the cuda-bindings matching its CUDA version "
                    f"({pip_install('cuda-bindings==12.*')} for CUDA 12 drivers)"
                ) from exc
            raise

    def device_info(self, index: int) -> GpuInfo:
        prop = self._call(f"cudaGetDeviceProperties({index})", "cudaGetDeviceProperties", index)
        name = prop.name
        if isinstance(name, bytes):
            name = name.split(b"\0", 1)[0].decode(errors="replace")
        return GpuInfo(index, str(name), (int(prop.major), int(prop.minor)), int(prop.totalGlobalMem))

    def open(self, index: int) -> _CudaBindingsDevice:
        return _CudaBindingsDevice(self, index)


class _CudaBindingsStream:
    def __init__(self, device: _CudaBindingsDevice):
        self._device = device
        self.raw = device.binding._call("cudaStreamCreate", "cudaStreamCreate")
        self.handle = int(self.raw)

    def synchronize(self) -> None:
        self._device.binding._call("cudaStreamSynchronize", "cudaStreamSynchronize", self.raw)


class _CudaBindingsEvent:
    def __init__(self, device: _CudaBindingsDevice):
        binding = self._binding = device.binding
        flags = binding.runtime.cudaEventDisableTiming
        self.raw = binding._call("cudaEventCreateWithFlags", "cudaEventCreateWithFlags", flags)

    def record(self, stream: CudaStream) -> None:
        self._binding._call("cudaEventRecord", "cudaEventRecord", self.raw, _own_stream(stream).raw)

    def synchronize(self) -> None:
        self._binding._call("cudaEventSynchronize", "cudaEventSynchronize", self.raw)


class _CudaBindingsDevice:
    def __init__(self, binding: _CudaBindings, index: int):
        self.binding = binding
        self.index = index
        self.info = binding.device_info(index)
        # One thread at a time: the backend's stream and pinned buffers are shared by its stages.
        self._lock = threading.RLock()

    @contextmanager
    def current(self) -> Iterator[None]:
        with self._lock:
            # Binds the device's primary context to this thread (CUDA runtime). It stays bound
            # afterwards: switching back to "device 0" would create a context on GPU 0 for nothing.
            self.binding._call(f"cudaSetDevice({self.index})", "cudaSetDevice", self.index)
            yield

    def stream(self) -> _CudaBindingsStream:
        return _CudaBindingsStream(self)

    def event(self) -> _CudaBindingsEvent:
        return _CudaBindingsEvent(self)

    def alloc(self, nbytes: int) -> DeviceBuffer:
        ptr = self.binding._call(f"cudaMalloc({nbytes} bytes)", "cudaMalloc", nbytes)
        return DeviceBuffer(ptr, nbytes, _Release(self, "cudaFree", int(ptr)))

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        nbytes = max(count, 1) * dtype.itemsize  # cudaMallocHost(0) gives no address to view
        ptr = int(self.binding._call(f"cudaMallocHost({nbytes} bytes)", "cudaMallocHost", nbytes))
        block = (ctypes.c_ubyte * nbytes).from_address(ptr)
        # The array keeps ``block`` alive; the page-locked memory is freed when the array goes.
        finalizer = weakref.finalize(block, _Release(self, "cudaFreeHost", ptr))
        finalizer.atexit = False
        # numpy's stub lists bytes-like types only; a ctypes array has the buffer protocol too.
        return np.frombuffer(block, np.uint8).view(dtype)[:count].reshape(shape)  # type: ignore[call-overload]

    def upload(self, dst: int, src: np.ndarray, stream: CudaStream) -> None:
        _require_contiguous(src, "upload source")
        kind = self.binding.runtime.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._copy(int(dst), src.ctypes.data, src.nbytes, kind, _own_stream(stream))

    def download(self, dst: np.ndarray, src: int, stream: CudaStream) -> None:
        _require_contiguous(dst, "download target")
        kind = self.binding.runtime.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._copy(dst.ctypes.data, int(src), dst.nbytes, kind, _own_stream(stream))

    def copy(self, dst: int, src: int, nbytes: int, stream: CudaStream) -> None:
        kind = self.binding.runtime.cudaMemcpyKind.cudaMemcpyDeviceToDevice
        self._copy(int(dst), int(src), nbytes, kind, _own_stream(stream))

    def _copy(self, dst: int, src: int, nbytes: int, kind: Any, stream: _CudaBindingsStream) -> None:
        call = f"cudaMemcpyAsync({nbytes} bytes, {getattr(kind, 'name', kind)})"
        self.binding._call(call, "cudaMemcpyAsync", dst, src, nbytes, kind, stream.raw)


def _own_stream(stream: CudaStream) -> _CudaBindingsStream:
    """The stream as this binding made it: its raw object is what the binding's calls take."""
    if not isinstance(stream, _CudaBindingsStream):
        raise TypeError(f"a cuda-bindings device takes the streams it made, got {type(stream).__name__}")
    return stream


class _Release:
    """Frees one cuda-bindings allocation with its device current (a finalizer may run anywhere)."""

    def __init__(self, device: _CudaBindingsDevice, function: str, ptr: int):
        self.device, self.function, self.ptr = device, function, ptr

    def __call__(self) -> None:
        try:
            with self.device.current():
                self.device.binding._call(f"{self.function}({self.ptr:#x})", self.function, self.ptr)
        except CudaError as exc:  # a finalizer cannot raise; a leak is better than a crash
            log.warning("%s", exc)


# -- pycuda ------------------------------------------------------------------------------------------


class _Pycuda:
    name = "pycuda"

    def __init__(self, driver: Any, version: str):
        self.driver = driver
        self.version = version

    @classmethod
    def load(cls) -> _Pycuda:
        import pycuda
        import pycuda.driver as driver

        return cls(driver, _version(getattr(pycuda, "VERSION_TEXT", None), "pycuda"))

    def device_count(self) -> int:
        try:
            self.driver.init()
            return int(self.driver.Device.count())
        except self.driver.Error as exc:
            raise CudaError(str(exc)) from exc

    def device_info(self, index: int) -> GpuInfo:
        device = self.driver.Device(index)
        return GpuInfo(index, device.name(), tuple(device.compute_capability()), int(device.total_memory()))

    def open(self, index: int) -> _PycudaDevice:
        return _PycudaDevice(self, index)


class _PycudaDevice:
    def __init__(self, binding: _Pycuda, index: int):
        self.driver = binding.driver
        self.index = index
        self.info = binding.device_info(index)
        self._context = self.driver.Device(index).retain_primary_context()
        self._lock = threading.RLock()

    @contextmanager
    def current(self) -> Iterator[None]:
        with self._lock:
            self._context.push()
            try:
                yield
            finally:
                self.driver.Context.pop()

    def stream(self) -> CudaStream:
        return self.driver.Stream()  # has .handle and .synchronize()

    def event(self) -> _PycudaEvent:
        return _PycudaEvent(self.driver.Event(self.driver.event_flags.DISABLE_TIMING))

    def alloc(self, nbytes: int) -> DeviceBuffer:
        try:
            allocation = self.driver.mem_alloc(nbytes)
        except self.driver.Error as exc:
            raise CudaError(f"mem_alloc({nbytes} bytes) failed: {exc}") from exc
        # pycuda frees the allocation when its object is collected; free() frees it now.
        return DeviceBuffer(int(allocation), nbytes, allocation.free, owner=allocation)

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.driver.pagelocked_empty(shape, dtype)

    def upload(self, dst: int, src: np.ndarray, stream: Any) -> None:
        _require_contiguous(src, "upload source")
        self.driver.memcpy_htod_async(int(dst), src, stream)

    def download(self, dst: np.ndarray, src: int, stream: Any) -> None:
        _require_contiguous(dst, "download target")
        self.driver.memcpy_dtoh_async(dst, int(src), stream)

    def copy(self, dst: int, src: int, nbytes: int, stream: Any) -> None:
        self.driver.memcpy_dtod_async(int(dst), int(src), nbytes, stream)


class _PycudaEvent:
    def __init__(self, event: Any):
        self._event = event

    def record(self, stream: Any) -> None:
        self._event.record(stream)

    def synchronize(self) -> None:
        self._event.synchronize()


def _require_contiguous(array: np.ndarray, what: str) -> None:
    if not array.flags.c_contiguous:
        raise ValueError(f"{what} must be a C-contiguous array, got strides {array.strides}")


_LOADERS: dict[str, Callable[[], CudaBinding]] = {"cuda-bindings": _CudaBindings.load, "pycuda": _Pycuda.load}
