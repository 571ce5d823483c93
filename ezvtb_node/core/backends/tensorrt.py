"""TensorRT on NVIDIA GPUs: the stage graphs as TensorRT engines.

GPU memory, streams, events and copies go through :mod:`ezvtb_node.core.backends.cuda_memory`:
NVIDIA's cuda-bindings where installed (binary wheels), else pycuda (environments of older tools
have it). All stages share one CUDA stream, so the order of work on the GPU is the order of the
calls and no stage waits on the host. Stage outputs are ``DeviceTensor``s in GPU memory: the next
stage reads them in place, the intermediate cache keeps them there (``model_vram_cache``), and
only ``to_host()`` of the final frame waits for the GPU. Poses and the character image go up
through pinned host buffers. Every call makes the device's primary CUDA context current on the
calling thread first, so the core may be driven from any thread (one call at a time).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ezvtb_node.core.backends.base import BackendUnavailable, FreshOutputsRunner
from ezvtb_node.core.backends.cuda_memory import (
    CudaBinding,
    CudaBindingUnavailable,
    CudaDevice,
    CudaError,
    DeviceBuffer,
    GpuInfo,
    load_cuda_binding,
)
from ezvtb_node.core.backends.tensorrt_build import (
    DEFAULT_WORKSPACE_BYTES,
    EngineCacheKey,
    build_serialized_engine,
    engine_cache_path,
    onnx_digest,
    read_cached_engine,
    write_cached_engine,
)
from ezvtb_node.install_hints import install_extra

__all__ = ["DeviceTensor", "GpuInfo", "TensorRtBackend", "TensorRtStage", "probe_gpu"]

log = logging.getLogger(__name__)

# TensorRT 10 dropped support for GPUs older than Turing.
MIN_COMPUTE_CAPABILITY = (7, 5)


def _import_runtime(cuda_binding: str | None):
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(
            f"the tensorrt package is not installed ({install_extra('tensorrt')})"
        ) from exc
    try:
        binding = load_cuda_binding(cuda_binding)
    except (CudaBindingUnavailable, ValueError) as exc:
        # A wrong EZVTB_CUDA_BINDING is reported like a missing package: the core falls back
        # with one warning that names it, instead of not starting at all.
        raise BackendUnavailable(str(exc)) from exc
    return trt, binding


def probe_gpu(binding: CudaBinding, device_id: int) -> GpuInfo:
    """The CUDA device ``device_id``; BackendUnavailable when it is missing or too old for TensorRT."""
    try:
        count = binding.device_count()
    except CudaError as exc:
        raise BackendUnavailable(f"the CUDA driver is not usable ({exc})") from exc
    if not 0 <= device_id < count:
        raise BackendUnavailable(
            f"device_id {device_id} does not exist: this machine has {count} CUDA device(s)"
        )
    info = binding.device_info(device_id)
    if info.compute_capability < MIN_COMPUTE_CAPABILITY:
        raise BackendUnavailable(
            f"{info.name} (device {device_id}) has compute capability {info.cc}; TensorRT needs "
            f"{'.'.join(map(str, MIN_COMPUTE_CAPABILITY))} or newer (GTX 16xx / RTX 20xx and later)"
        )
    return info


class TensorRtBackend:
    name = "tensorrt"
    prefers_half = True
    device_tensors = True

    def __init__(
        self,
        device_id: int = 0,
        cache_root: Path | None = None,
        workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
        progress: bool = True,
        cuda_binding: str | None = None,
    ):
        """``cuda_binding``: ``cuda-bindings``, ``pycuda`` or ``auto`` (default: the
        ``EZVTB_CUDA_BINDING`` environment variable, else ``auto``, which prefers cuda-bindings)."""
        self._trt, self.cuda_binding = _import_runtime(cuda_binding)
        self.gpu = probe_gpu(self.cuda_binding, device_id)
        self.device_id = device_id
        binding = self.cuda_binding
        self.provider = f"TensorRT {self._trt.__version__} + {binding.name} {binding.version}"
        self.device = f"gpu:{device_id} ({self.gpu.name}, sm {self.gpu.cc})"
        self._cache_root = cache_root
        self._workspace_bytes = workspace_bytes
        self._progress = progress
        self.cuda: CudaDevice = binding.open(device_id)
        self._logger = self._trt.Logger(self._trt.Logger.WARNING)
        self._runtime = self._trt.Runtime(self._logger)
        with self.cuda.current():
            self.stream = self.cuda.stream()
        # The ONNX files whose engines this backend had to build (not found valid in the cache).
        self.built: list[Path] = []

    def synchronize(self) -> None:
        """Wait for all queued GPU work (for timing single stages; rendering never needs it)."""
        with self.cuda.current():
            self.stream.synchronize()

    def cache_key(self, onnx_path: Path) -> EngineCacheKey:
        return EngineCacheKey(self.gpu.name, self.gpu.cc, self._trt.__version__, onnx_digest(onnx_path))

    def engine_path(self, onnx_path: Path) -> Path:
        return engine_cache_path(
            onnx_path, self.gpu.name, self.gpu.cc, self._trt.__version__, self._cache_root
        )

    def load(self, path: Path) -> TensorRtStage:
        engine = self._cached_engine(path)
        if engine is None:
            engine = self._deserialize(self._build(path))
            if engine is None:
                raise RuntimeError(f"TensorRT could not load the engine it just built from {path}")
        return TensorRtStage(engine, path.stem, self)

    def _cached_engine(self, path: Path):
        data, state = read_cached_engine(self.engine_path(path), self.cache_key(path))
        if data is not None:
            engine = self._deserialize(data)
            if engine is not None:
                return engine
            state = "rejected by this TensorRT"
        log.info("TensorRT engine for %s: %s; building", path, state)
        return None

    def _build(self, path: Path) -> bytes:
        with self.cuda.current():
            data, fp16 = build_serialized_engine(self._trt, path, self._workspace_bytes, self._progress)
        write_cached_engine(self.engine_path(path), self.cache_key(path), data, fp16)
        self.built.append(path)
        return data

    def _deserialize(self, data: bytes):
        with self.cuda.current():
            return self._runtime.deserialize_cuda_engine(data)


class DeviceTensor:
    """A stage output in GPU memory. Its buffer returns to the producing stage's pool when the last
    reference goes (so the intermediate cache, not this class, decides how long it lives)."""

    def __init__(
        self,
        allocation: DeviceBuffer,
        shape: tuple[int, ...],
        dtype: np.dtype,
        stage: TensorRtStage,
        name: str,
    ):
        self.ptr = allocation.ptr
        self.shape = shape
        self.dtype = dtype
        self.nbytes = int(np.prod(shape)) * dtype.itemsize
        self._stage = stage
        self._name = name

    def to_host(self) -> np.ndarray:
        """The tensor in a pinned host array, valid until the next ``to_host`` of this output."""
        return self._stage.copy_to_host(self, self._name)


@dataclass
class _TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


class _BufferPool:
    """Device buffers of one size, reused: allocation is slow and freeing synchronizes the device.
    Reuse is safe because every stage runs on the same stream, after all earlier readers."""

    def __init__(self, cuda: CudaDevice, nbytes: int):
        self._cuda, self.nbytes = cuda, nbytes
        self.free: list[DeviceBuffer] = []
        self.allocated = 0

    def acquire(self) -> DeviceBuffer:
        """A buffer of ``nbytes``; call inside ``cuda.current()`` (a new one may be allocated)."""
        if self.free:
            return self.free.pop()
        self.allocated += 1
        return self._cuda.alloc(self.nbytes)

    def release(self, allocation: DeviceBuffer) -> None:
        self.free.append(allocation)


class TensorRtStage(FreshOutputsRunner):
    def __init__(self, engine, stage_name: str, backend: TensorRtBackend):
        trt, cuda = backend._trt, backend.cuda
        self._cuda = cuda
        self._backend = backend
        self.stage_name = stage_name
        specs = []
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            spec = _TensorSpec(name, shape, np.dtype(trt.nptype(engine.get_tensor_dtype(name))))
            specs.append((spec, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT))
        self._inputs = {spec.name: spec for spec, is_input in specs if is_input}
        self._outputs = {spec.name: spec for spec, is_input in specs if not is_input}
        self.input_names = tuple(self._inputs)
        self.output_names = tuple(self._outputs)
        with cuda.current():
            self._execution = engine.create_execution_context()
            # Host inputs: a pinned staging buffer and a device buffer per input, reused every run.
            self._pinned_in = {n: cuda.pinned_empty(s.shape, s.dtype) for n, s in self._inputs.items()}
            self._device_in = {n: cuda.alloc(s.nbytes) for n, s in self._inputs.items()}
            self._pinned_out = {n: cuda.pinned_empty(s.shape, s.dtype) for n, s in self._outputs.items()}
            # Recorded after the uploads of a run: the pinned inputs may be rewritten once it passed.
            self._uploaded = cuda.event()
        self._pools = {n: _BufferPool(cuda, s.nbytes) for n, s in self._outputs.items()}
        self._engine = engine  # the execution context needs its engine alive

    def run(self, feeds: dict) -> list[DeviceTensor]:
        cuda, stream = self._cuda, self._backend.stream
        with cuda.current():
            host_feeds = {n: v for n, v in feeds.items() if not isinstance(v, DeviceTensor)}
            if host_feeds:
                self._uploaded.synchronize()
            for name, spec in self._inputs.items():
                value = feeds[name]
                if isinstance(value, DeviceTensor):
                    _check_tensor(self.stage_name, spec, value.shape, value.dtype)
                    address = value.ptr
                else:
                    array = np.asarray(value)
                    _check_tensor(self.stage_name, spec, array.shape, None)
                    np.copyto(self._pinned_in[name], array, casting="same_kind")
                    cuda.upload(self._device_in[name].ptr, self._pinned_in[name], stream)
                    address = self._device_in[name].ptr
                self._bind(name, address)
            if host_feeds:
                self._uploaded.record(stream)
            outputs = []
            for name, spec in self._outputs.items():
                pool = self._pools[name]
                allocation = pool.acquire()
                tensor = DeviceTensor(allocation, spec.shape, spec.dtype, self, name)
                weakref.finalize(tensor, pool.release, allocation)
                self._bind(name, tensor.ptr)
                outputs.append(tensor)
            if not self._execution.execute_async_v3(stream.handle):
                raise RuntimeError(f"TensorRT failed to enqueue stage {self.stage_name!r}")
        return outputs

    def copy_to_host(self, tensor: DeviceTensor, name: str) -> np.ndarray:
        host = self._pinned_out[name]
        with self._cuda.current():
            self._cuda.download(host, tensor.ptr, self._backend.stream)
            self._backend.stream.synchronize()
        return host

    def _bind(self, name: str, address: int) -> None:
        if not self._execution.set_tensor_address(name, address):
            raise RuntimeError(f"TensorRT rejected the address of {name!r} in stage {self.stage_name!r}")

    @property
    def pools(self) -> dict[str, _BufferPool]:
        return self._pools


def _check_tensor(stage: str, spec: _TensorSpec, shape: tuple, dtype) -> None:
    if tuple(shape) != spec.shape or (dtype is not None and np.dtype(dtype) != spec.dtype):
        got = f"{np.dtype(dtype) if dtype is not None else ''} {tuple(shape)}".strip()
        raise ValueError(f"stage {stage!r} input {spec.name!r} expects {spec.dtype} {spec.shape}, got {got}")
