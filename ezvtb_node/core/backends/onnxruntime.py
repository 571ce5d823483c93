"""ONNX Runtime: CPU, CUDA (onnxruntime-gpu) and DirectML (onnxruntime-directml) providers.

On a GPU provider every stage runs through one persistent IO binding: host inputs (the poses, the
character image) go into device buffers the stage owns and updates in place, stage outputs are
written into device buffers taken from a per-output pool and bound straight into the next stage,
and uint8 outputs (the frames) are written into one reused host array. IO binding works with the
CPU provider too (there the "device" is host memory), which is how the tests exercise this path.

A session that ONNX Runtime created on the CPU although a GPU provider was asked for (its CUDA or
cuDNN libraries did not load: ONNX Runtime then only logs a warning and carries on) is refused
with ``BackendUnavailable``, so the core fails over by name instead of running on the CPU as "cuda".
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import weakref
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ezvtb_node.core.backends.base import BackendUnavailable, FreshOutputsRunner
from ezvtb_node.core.backends.ort_copy import OrtCopier, make_copier
from ezvtb_node.install_hints import install_extra

log = logging.getLogger(__name__)

_NAMES = {
    "CPUExecutionProvider": ("onnxruntime-cpu", "cpu", "'onnxruntime'"),
    "CUDAExecutionProvider": ("cuda", "gpu", f"'onnxruntime-gpu' ({install_extra('nvidia')})"),
    "DmlExecutionProvider": ("directml", "gpu", "'onnxruntime-directml' (Windows)"),
}
# Device names of OrtValue / IO binding for each provider.
_ORT_DEVICE = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda", "DmlExecutionProvider": "dml"}
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int64)": np.int64,
}


def cuda_provider_options(device_id: int, tf32: bool) -> dict[str, str]:
    """Options of ONNX Runtime's CUDA provider (its docs: execution-providers/CUDA-ExecutionProvider).

    ``use_tf32`` is on by default in ONNX Runtime: TF32 convolutions moved THA3 frames up to 35/255
    away from the CPU render on an H200, 1/255 with it off (docs/gpu.md). ``cudnn_conv_algo_search``
    defaults to EXHAUSTIVE, which benchmarks every algorithm per shape: 17 s before the first frame;
    HEURISTIC asks cuDNN's heuristics instead.
    """
    return {
        "device_id": str(device_id),
        "use_tf32": "1" if tf32 else "0",
        "cudnn_conv_algo_search": "HEURISTIC",
    }


@functools.cache
def preload_nvidia_libraries() -> str:
    """Load CUDA and cuDNN from NVIDIA's pip wheels the way ONNX Runtime documents, once per process.

    ``onnxruntime.preload_dlls()`` (ONNX Runtime >= 1.21, ``onnxruntime/__init__.py``) loads the
    CUDA and cuDNN libraries of the ``nvidia`` site-packages folder with ctypes (on Windows also the
    MSVC runtime, and PyTorch's copies when a compatible torch is imported); it does nothing on other
    systems. On Windows it is what lets the CUDA provider load when neither PyTorch nor a CUDA
    install is on the PATH. Returns what was done, for the log and ``doctor``.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return f"not preloaded: onnxruntime {ort.__version__} has no preload_dlls (1.21+)"
    if importlib.util.find_spec("nvidia") is None:
        return "not preloaded: no NVIDIA CUDA/cuDNN wheels installed (libraries come from the system)"
    preload()
    return "preloaded CUDA and cuDNN from NVIDIA's wheels (onnxruntime.preload_dlls)"


class OnnxRuntimeBackend:
    def __init__(
        self,
        provider: str,
        device_id: int,
        io_binding: bool | None = None,
        threads: int = 0,
        tf32: bool = False,
        cuda_graphs: bool = True,
    ):
        name, kind, package = _NAMES[provider]
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(f"ONNX Runtime has no {provider} here (needs {package})")
        self.name = name
        self.provider = provider
        self.device_id = device_id
        self.device = "cpu" if kind == "cpu" else f"gpu:{device_id}"
        self.prefers_half = kind == "gpu"
        # GPU providers bind by default (frames stay on the device); plain run() on the CPU.
        self.io_binding = kind == "gpu" if io_binding is None else io_binding
        self.device_tensors = self.io_binding
        self.threads = threads or os.cpu_count() or 1
        self.tf32 = tf32
        self.library_note = preload_nvidia_libraries() if provider == "CUDAExecutionProvider" else None
        self._copier: OrtCopier | None = None
        self.copy_note: str | None = None
        if self.io_binding:
            self._copier, self.copy_note = make_copier(_ORT_DEVICE[provider], device_id)
        # CUDA graphs replay fixed addresses: they need the copies that keep stage outputs in place.
        self.cuda_graphs = cuda_graphs and provider == "CUDAExecutionProvider" and self._copier is not None
        # Per graph file: whether its stage replays a CUDA graph, or why not.
        self.graph_notes: dict[str, str] = {}

    def load(self, path: Path) -> OnnxRuntimeStage | OnnxRuntimeBoundStage:
        graph = False
        if self.cuda_graphs:
            try:
                session = self._session(path, enable_cuda_graph=True)
                graph = True
                self.graph_notes[path.name] = "CUDA graph"
            except BackendUnavailable:
                raise
            except Exception as exc:  # ONNX Runtime raises its own Fail/RuntimeException types
                reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                self.graph_notes[path.name] = f"no CUDA graph: {reason}"
                log.warning("ONNX Runtime refused a CUDA graph for %s (%s): runs without", path.name, reason)
        if not graph:
            try:
                session = self._session(path)
            except BackendUnavailable:
                raise
            except Exception as exc:
                if self.provider == "CPUExecutionProvider":
                    raise
                raise BackendUnavailable(f"{self.provider} could not load {path.name}: {exc}") from exc
        if self.io_binding:
            device = _ORT_DEVICE[self.provider]
            return OnnxRuntimeBoundStage(session, device, self.device_id, self._copier, graph)
        return OnnxRuntimeStage(session)

    def optimized_graph(self, path: Path, target: Path) -> None:
        """Write the graph ONNX Runtime runs for ``path`` on this provider (after its optimizations
        and the Memcpy nodes it inserts around operators the provider lacks) to ``target``."""
        self._session(path, optimized_model=target)

    def _session(
        self, path: Path, enable_cuda_graph: bool = False, optimized_model: Path | None = None
    ) -> ort.InferenceSession:
        options = ort.SessionOptions()
        if optimized_model is not None:
            options.optimized_model_filepath = str(optimized_model)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.provider == "CPUExecutionProvider":
            options.intra_op_num_threads = self.threads
            providers: list = [self.provider]
        elif self.provider == "CUDAExecutionProvider":
            cuda_options = cuda_provider_options(self.device_id, self.tf32)
            if enable_cuda_graph:
                cuda_options["enable_cuda_graph"] = "1"
            providers = [(self.provider, cuda_options), "CPUExecutionProvider"]
        else:
            providers = [(self.provider, {"device_id": self.device_id}), "CPUExecutionProvider"]
        if self.provider == "DmlExecutionProvider":
            # DirectML requires these two settings.
            options.enable_mem_pattern = False
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # enable_fallback=0: a provider that fails to start raises instead of ONNX Runtime retrying
        # on the CPU (InferenceSession.__init__ in onnxruntime_inference_collection.py).
        session = ort.InferenceSession(str(path), options, providers=providers, enable_fallback=0)
        _check_provider(session, self.provider, path)
        return session


def _check_provider(session: ort.InferenceSession, provider: str, path: Path) -> None:
    """ONNX Runtime can end up on the CPU without raising when a GPU provider cannot start: its
    pybind layer only logs a warning when the CUDA provider library fails to load (and before
    ``enable_fallback`` existed, ``InferenceSession`` retried a failed creation on the CPU,
    ``onnxruntime/python/onnxruntime_inference_collection.py``, "Falling back to ...")."""
    running = session.get_providers()
    if provider not in running:
        raise BackendUnavailable(
            f"ONNX Runtime created the session of {path.name} on {', '.join(running)} instead of "
            f"{provider}: its GPU libraries did not load (CUDA/cuDNN libraries or the driver; "
            "`ezvtb-node doctor` checks them)"
        )


class OnnxRuntimeStage(FreshOutputsRunner):
    def __init__(self, session: ort.InferenceSession):
        self.session = session
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feeds)


class OrtDeviceTensor:
    """A stage output living where the provider computes (an ``OrtValue``), with its size in bytes.

    ``host``: for outputs bound to host memory (frames), the reused array ONNX Runtime wrote into.
    """

    def __init__(self, value: ort.OrtValue, host: np.ndarray | None = None):
        self.value = value
        self.shape = tuple(value.shape())
        self.dtype = np.dtype(_NUMPY_TYPES[value.data_type()])
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self._host = host

    def to_host(self) -> np.ndarray:
        """The tensor on the host; for a frame output the stage's reused array (valid until its next run)."""
        return self._host if self._host is not None else self.value.numpy()


class OnnxRuntimeBoundStage:
    """A stage run with one persistent IO binding: device tensors in, device tensors out.

    With a copier (CPU provider, CUDA with a CUDA binding) every output has one fixed device buffer,
    rewritten by each run: results the caller keeps across runs are copied out with :meth:`keep`
    and put back with :meth:`restore`, so the addresses a CUDA graph recorded stay valid. Without one
    (DirectML) outputs come from per-output pools and ``keep``/``restore`` hand tensors through.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        device: str,
        device_id: int,
        copier: OrtCopier | None = None,
        cuda_graph: bool = False,
    ):
        self.session = session
        self.device = device
        self.device_id = device_id
        self.cuda_graph = cuda_graph
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())
        self._input_types = {i.name: np.dtype(_NUMPY_TYPES[i.type]) for i in session.get_inputs()}
        self._binding = session.io_binding()
        self._copier = copier
        # Device buffers owned by the stage for host inputs, updated in place every run.
        self._uploads: dict[str, ort.OrtValue] = {}
        # The OrtValue each input is bound to (rebinding only when it changes).
        self._bound: dict[str, ort.OrtValue] = {}
        self._outputs = {
            o.name: _OutputSlot(o, device, device_id, copier, cuda_graph) for o in session.get_outputs()
        }
        self._runs = 0

    @property
    def output_buffers(self) -> dict[str, int]:
        """Device buffers allocated so far per output (constant once the pools cover the cache's needs)."""
        return {name: slot.allocated for name, slot in self._outputs.items()}

    def run(self, feeds: dict) -> list[OrtDeviceTensor]:
        for name in self.input_names:
            value = feeds[name]
            if isinstance(value, OrtDeviceTensor):
                self._bind_input(name, value.value)
            else:
                self._bind_input(name, self._upload(name, value))
        outputs = [slot.bind(self._binding, name) for name, slot in self._outputs.items()]
        self.session.run_with_iobinding(self._binding)
        self._runs += 1
        # Outputs of dynamic shape (None) were allocated by ONNX Runtime during the run.
        ready = [
            tensor if tensor is not None else OrtDeviceTensor(self._binding.get_outputs()[index])
            for index, tensor in enumerate(outputs)
        ]
        return [slot.finish(tensor) for slot, tensor in zip(self._outputs.values(), ready, strict=True)]

    def keep(self, outputs: list[OrtDeviceTensor]) -> list[OrtDeviceTensor]:
        """Copies of this run's outputs that later runs do not overwrite (for the intermediate cache)."""
        return [slot.keep(tensor) for slot, tensor in zip(self._outputs.values(), outputs, strict=True)]

    def restore(self, kept: list) -> list[OrtDeviceTensor]:
        """Put kept results (device tensors, or host arrays) where this stage's outputs live and
        return them as its outputs, so the next stage reads them at the addresses it was bound to."""
        return [slot.restore(value) for slot, value in zip(self._outputs.values(), kept, strict=True)]

    def _upload(self, name: str, value) -> ort.OrtValue:
        host = np.ascontiguousarray(value, dtype=self._input_types[name])
        buffer = self._uploads.get(name)
        if buffer is None or tuple(buffer.shape()) != host.shape:
            buffer = ort.OrtValue.ortvalue_from_shape_and_type(
                host.shape, host.dtype, self.device, self.device_id
            )
            self._uploads[name] = buffer
        buffer.update_inplace(host)
        return buffer

    def _bind_input(self, name: str, value: ort.OrtValue) -> None:
        if self._bound.get(name) is value:
            return
        if self.cuda_graph and self._runs:
            # A replayed graph would read the old address: a wiring mistake, never silently stale.
            raise RuntimeError(
                f"input {name!r} of a CUDA-graph stage was given a new buffer after its first run; "
                "restore() kept results into the producing stage's outputs instead"
            )
        self._binding.bind_ortvalue_input(name, value)
        self._bound[name] = value


class _OutputSlot:
    """Where one stage output goes. With a copier: one fixed device buffer (a CUDA graph writes
    frames there too, downloaded into one reused host array); without a graph, frames (uint8) go
    straight into that host array. Without a copier, device buffers come from a pool and return to
    it when their last ``OrtDeviceTensor`` goes, so the intermediate cache decides how long a result
    lives. Kept copies come from a pool as well: in steady state no run allocates."""

    def __init__(self, info, device: str, device_id: int, copier: OrtCopier | None, cuda_graph: bool):
        self._device, self._device_id = device, device_id
        self._copier = copier
        self._dtype = np.dtype(_NUMPY_TYPES[info.type])
        static = all(isinstance(d, int) and d > 0 for d in info.shape)
        self._shape = tuple(info.shape) if static else None
        self._nbytes = int(np.prod(info.shape)) * self._dtype.itemsize if static else 0
        self._frame = static and self._dtype == np.uint8
        self._download = self._frame and cuda_graph
        self._fixed: OrtDeviceTensor | None = None
        self._host: np.ndarray | None = None
        self._free: list[ort.OrtValue] = []
        self.allocated = 0

    def bind(self, binding: ort.IOBinding, name: str) -> OrtDeviceTensor | None:
        """The tensor the next run writes, or None when ONNX Runtime allocates it (dynamic shape)."""
        if self._shape is None:
            binding.bind_output(name, self._device, self._device_id)
            return None
        if self._frame and self._fixed is None:
            make_host = self._copier.host_array if self._copier else np.empty
            self._host = make_host(self._shape, self._dtype)
            # A CUDA graph writes the frame on the device (downloaded after the run); otherwise
            # ONNX Runtime writes it straight into the host array.
            value = self._allocate() if self._download else ort.OrtValue.ortvalue_from_numpy(self._host)
            self._fixed = OrtDeviceTensor(value, self._host)
            binding.bind_ortvalue_output(name, value)
        if self._frame:
            return self._fixed
        if self._copier is not None:
            if self._fixed is None:
                self._fixed = OrtDeviceTensor(self._allocate())
                binding.bind_ortvalue_output(name, self._fixed.value)
            return self._fixed
        tensor = self._pooled()
        binding.bind_ortvalue_output(name, tensor.value)
        return tensor

    def finish(self, tensor: OrtDeviceTensor) -> OrtDeviceTensor:
        """After the run: a frame a CUDA graph wrote on the device comes down into the host array."""
        if self._download:
            assert self._copier is not None and self._host is not None  # set up by bind() for a download
            self._copier.download(self._host, tensor.value)
        return tensor

    def keep(self, tensor: OrtDeviceTensor) -> OrtDeviceTensor:
        if self._copier is None or self._frame or tensor is not self._fixed:
            return tensor  # pooled (or ORT-allocated) outputs are not rewritten by later runs
        kept = self._pooled()
        self._copier.copy(kept.value, tensor.value, self._nbytes)
        return kept

    def restore(self, value):
        if self._copier is None or self._fixed is None or self._frame:
            return value  # pooled outputs: the kept tensor is bound as it is
        if isinstance(value, OrtDeviceTensor):
            self._copier.copy(self._fixed.value, value.value, self._nbytes)
        else:
            self._fixed.value.update_inplace(np.ascontiguousarray(value, dtype=self._dtype))
        return self._fixed

    def _pooled(self) -> OrtDeviceTensor:
        tensor = OrtDeviceTensor(self._free.pop() if self._free else self._allocate())
        weakref.finalize(tensor, self._free.append, tensor.value)
        return tensor

    def _allocate(self) -> ort.OrtValue:
        self.allocated += 1
        return ort.OrtValue.ortvalue_from_shape_and_type(
            self._shape, self._dtype, self._device, self._device_id
        )
